"""Validate objects against the OpenAPI v3 schemas of their CustomResourceDefinitions.

An Application or ExternalSecret that the API server would reject must fail the render, not the
sync. The CRDs are read at run time from the shared CRD folder (upstream files, unmodified). The
structural schema is JSON-Schema compatible once the Kubernetes extensions are mapped:
`x-kubernetes-int-or-string` (no `type`), `x-kubernetes-preserve-unknown-fields`; other `x-`
keys are annotations jsonschema ignores.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from opendesk_deployer.toolchain import REPO_ROOT

try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class SchemaError(Exception):
    pass


def crds_dir() -> Path:
    return Path(os.environ.get("OPENDESK_CRDS_DIR", REPO_ROOT.parent / "shared" / "crds"))


def _to_jsonschema(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
        if node.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if node.get("x-kubernetes-preserve-unknown-fields") and "properties" not in out:
            out.setdefault("type", "object")
        if out.get("nullable"):
            t = out.get("type")
            if isinstance(t, str):
                out["type"] = [t, "null"]
        out.pop("nullable", None)
        return out
    if isinstance(node, list):
        return [_to_jsonschema(v) for v in node]
    return node


@dataclass(frozen=True)
class CrdSchema:
    group: str
    kind: str
    version: str
    schema: dict[str, Any]

    def errors(self, obj: dict[str, Any]) -> list[str]:
        validator = jsonschema.Draft7Validator(self.schema)
        found = []
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            path = ".".join(str(p) for p in err.absolute_path) or "<root>"
            found.append(f"{path}: {err.message}")
        name = (obj.get("metadata") or {}).get("name") or ""
        if not name:
            found.append("metadata.name: missing")
        elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            found.append(f"metadata.name: {name!r} is not a valid name")
        return found


@cache
def _load_all(directory: Path) -> dict[tuple[str, str], CrdSchema]:
    if not directory.is_dir():
        raise SchemaError(
            f"CRD folder {directory} does not exist; set OPENDESK_CRDS_DIR to the folder with the "
            "Argo CD and External Secrets CRDs"
        )
    schemas: dict[tuple[str, str], CrdSchema] = {}
    for f in sorted(directory.rglob("*.yaml")):
        for doc in yaml.load_all(f.read_text(encoding="utf-8"), Loader=SafeLoader):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for v in spec["versions"]:
                if not v.get("served"):
                    continue
                s = _to_jsonschema(v["schema"]["openAPIV3Schema"])
                api_version = f"{spec['group']}/{v['name']}"
                schemas[(api_version, spec["names"]["kind"])] = CrdSchema(
                    spec["group"], spec["names"]["kind"], v["name"], s
                )
    return schemas


def schema_for(api_version: str, kind: str, directory: Path | None = None) -> CrdSchema | None:
    return _load_all((directory or crds_dir()).resolve()).get((api_version, kind))


def validate(obj: dict[str, Any], where: str, directory: Path | None = None) -> list[str]:
    """Problems of `obj` against its CRD; a kind without a CRD in the folder is a problem too."""
    api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
    s = schema_for(api_version, kind, directory)
    if s is None:
        return [f"{where}: no CRD serves {api_version} {kind}"]
    return [f"{where}: {e}" for e in s.errors(obj)]
