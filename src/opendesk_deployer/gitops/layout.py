"""The instance folder in the GitOps repository.

    <path>/render-meta.yaml          versions, input hash, per-release counts and digests, patches
    <path>/releases/<release>/*.yaml one file per document
    <path>/applications/<release>.yaml   one Argo CD Application per release, nothing else
    <path>/app-of-apps.yaml          the root Application pointing at applications/

Nothing in it changes when the inputs do not: no timestamps, stable order, stable file names.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Any

from opendesk_deployer.render.document import Document, by_release, dump_yaml

_UNSAFE = re.compile(r"[^a-z0-9.-]+")


def document_file_names(docs: list[Document]) -> list[str]:
    """`<kind>-<name>.yaml`, lower case; a clash (same kind and name twice in one release, e.g.
    different API groups) gets `-2`, `-3`… in document order."""
    names: list[str] = []
    seen: Counter[str] = Counter()
    for d in docs:
        base = _UNSAFE.sub("-", f"{d.kind}-{d.name}".lower()).strip("-") or "document"
        seen[base] += 1
        names.append(f"{base}.yaml" if seen[base] == 1 else f"{base}-{seen[base]}.yaml")
    return names


def release_files(docs: list[Document]) -> dict[str, dict[str, str]]:
    """release -> {file name: YAML text}."""
    out: dict[str, dict[str, str]] = {}
    for release, items in by_release(docs).items():
        out[release] = {
            name: d.dump() for name, d in zip(document_file_names(items), items, strict=True)
        }
    return out


def release_digest(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return "sha256:" + h.hexdigest()


def build(
    meta: dict[str, Any],
    docs: list[Document],
    applications: dict[str, dict[str, Any]],
    root_application: dict[str, Any],
) -> dict[str, str]:
    """All files of the instance folder, keyed by path relative to it."""
    files: dict[str, str] = {}
    per_release = release_files(docs)
    releases_meta = meta.setdefault("releases", {})
    for release, rfiles in sorted(per_release.items()):
        for name, text in rfiles.items():
            files[f"releases/{release}/{name}"] = text
        entry = releases_meta.setdefault(release, {})
        entry["documents"] = len(rfiles)
        entry["digest"] = release_digest(rfiles)
    for release, app in sorted(applications.items()):
        files[f"applications/{release}.yaml"] = dump_yaml(app)
    files["app-of-apps.yaml"] = dump_yaml(root_application)
    files["render-meta.yaml"] = dump_yaml(meta)
    return files
