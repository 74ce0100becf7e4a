"""The document model: one Kubernetes manifest rendered for one helmfile release.

Helmfile writes `<out>/<release>/<chart>/templates/<file>.yaml`; each file may hold several YAML
documents. A Document remembers where it came from (release, file, index) so that every error and
every provenance record can name its source, and the list is kept in a stable order (release,
file, index) so that output and digests do not depend on the file system's listing order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:  # libyaml when available: an order of magnitude faster than the pure-Python parser
    from yaml import CSafeDumper as SafeDumper
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeDumper, SafeLoader  # type: ignore[assignment]


class DocumentError(Exception):
    """A rendered file that cannot be parsed; names the file."""


@dataclass
class Document:
    release: str
    file: str  # path below the release directory, '/'-separated
    index: int  # position of the document within its file
    body: dict[str, Any]
    # Filled by stages that change the document: (stage, field, what) records.
    history: list[tuple[str, str, str]] = field(default_factory=list, compare=False)

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion") or "")

    @property
    def kind(self) -> str:
        return str(self.body.get("kind") or "")

    @property
    def metadata(self) -> dict[str, Any]:
        md = self.body.get("metadata")
        return md if isinstance(md, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def namespace(self) -> str | None:
        ns = self.metadata.get("namespace")
        return str(ns) if ns else None

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What the API server considers the same object: group, kind, namespace, name."""
        return (self.group, self.kind, self.namespace or "", self.name)

    @property
    def source(self) -> str:
        """Where it was rendered: `<release>/<file>#<index>`."""
        return f"{self.release}/{self.file}#{self.index}"

    @property
    def ref(self) -> str:
        """Short human reference: `Kind/name (release/file#index)`."""
        return f"{self.kind or '?'}/{self.name or '?'} ({self.source})"

    def sort_key(self) -> tuple[str, str, int]:
        return (self.release, self.file, self.index)

    def dump(self) -> str:
        return dump_yaml(self.body)

    def digest(self) -> str:
        return hashlib.sha256(self.dump().encode()).hexdigest()


def dump_yaml(data: Any) -> str:
    return str(
        yaml.dump(
            data, Dumper=SafeDumper, sort_keys=True, default_flow_style=False, width=1_000_000
        )
    )


def load_release_dir(release: str, directory: Path) -> list[Document]:
    """All documents of one release directory, in stable order; empty documents skipped."""
    docs: list[Document] = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.suffix not in (".yaml", ".yml"):
            continue
        rel = path.relative_to(directory).as_posix()
        try:
            loaded = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=SafeLoader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise DocumentError(
                f"release {release}: {rel}{where}: rendered YAML does not parse: {exc}"
            ) from None
        for index, body in enumerate(loaded):
            if body is None:
                continue
            if not isinstance(body, dict):
                raise DocumentError(
                    f"release {release}: {rel}: document {index} is a "
                    f"{type(body).__name__}, not a mapping"
                )
            docs.append(Document(release, rel, index, body))
    return docs


def load_output_dir(out: Path) -> list[Document]:
    """Documents of every `<out>/<release>/` directory helmfile wrote, stable order."""
    docs: list[Document] = []
    for release_dir in sorted(p for p in out.iterdir() if p.is_dir()):
        docs.extend(load_release_dir(release_dir.name, release_dir))
    return docs


def by_release(docs: Iterable[Document]) -> dict[str, list[Document]]:
    result: dict[str, list[Document]] = {}
    for d in docs:
        result.setdefault(d.release, []).append(d)
    return result


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (dotted path, value) for every node below `node` (mappings and lists)."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")
