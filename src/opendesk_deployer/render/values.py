"""Step 07 (generate helmfile values): write `cluster`, `secrets`, `policy` and `sizing`
`.yaml.gotmpl` files into `helmfile/environments/<env>/` from the instance configuration.

helmfile passes environment values to every child after `environments/default/*`, so these files
override openDesk's defaults. They are plain YAML (valid gotmpl); a value that contains `{{` would
be evaluated as a template by helmfile, so it is rejected rather than written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from opendesk_deployer import redaction
from opendesk_deployer.config import sizing
from opendesk_deployer.config.model import Instance, SecretRef


class ValuesError(Exception):
    pass


_CHART_KEY = re.compile(r"^  ([A-Za-z0-9]+):\s*$", re.M)


def chart_keys(root: Path) -> list[str]:
    """The `charts.<key>` entries of the tree's charts.yaml.gotmpl."""
    text = (root / "helmfile/environments/default/charts.yaml.gotmpl").read_text(encoding="utf-8")
    return _CHART_KEY.findall(text)


def _secret(ref: SecretRef, field: str) -> str:
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            raise ValuesError(f"{field}: environment variable {ref.env} is not set")
        redaction.register(value)
        return value
    raise ValuesError(
        f"{field}: secretsManagerKey references need the secrets manager provider, which is not "
        "part of this build; use an env reference"
    )


def cluster_values(instance: Instance, root: Path) -> dict[str, Any]:
    d = instance.domains
    values: dict[str, Any] = {
        "global": {
            "domain": d.main,
            "mailDomain": d.mail or d.main,
            "matrixDomain": d.matrix or d.main,
        },
        "apps": {app: {"enabled": on} for app, on in sorted(instance.apps.items())},
    }
    reg = instance.registries
    charts: dict[str, dict[str, Any]] = {}
    if reg.helm_registry:
        values["global"]["helmRegistry"] = reg.helm_registry
        values["repositories"] = {"helm": {"registryOpencodeDe": reg.helm_registry}}
    if reg.image_registry:
        values["global"]["imageRegistry"] = reg.image_registry
    if not reg.verify_charts:
        for key in chart_keys(root):
            charts.setdefault(key, {})["verify"] = False
    for key, override in reg.charts.items():
        charts.setdefault(key, {}).update(override.model_dump(exclude_none=True))
    if charts:
        values["charts"] = charts
    if reg.image_pull_secret:
        values["global"]["imagePullSecrets"] = [reg.image_pull_secret]
    # External services: an entry turns the bundled service off for that consumer's data.
    ext = instance.external_services
    if ext.databases:
        values["databases"] = {
            name: {
                "type": db.type,
                "host": db.host,
                "port": db.port,
                "name": db.name,
                "username": db.username,
                **({"connectionLimit": db.connection_limit} if db.connection_limit else {}),
            }
            for name, db in sorted(ext.databases.items())
        }
    if ext.object_stores:
        values["objectstores"] = {
            name: {
                "endpoint": s.endpoint,
                "bucket": s.bucket,
                "region": s.region,
                "username": s.username,
                "useSSL": s.use_ssl,
                "pathStyle": s.path_style,
                "port": s.port,
            }
            for name, s in sorted(ext.object_stores.items())
        }
    if ext.caches:
        values["cache"] = {
            name: {
                "host": c.host,
                "port": c.port,
                **({"username": c.username} if c.username else {}),
                "tls": c.tls,
            }
            for name, c in sorted(ext.caches.items())
        }
    return values


def secrets_values(instance: Instance) -> dict[str, Any]:
    """Passwords of external services, read from their references (never from the file)."""
    ext = instance.external_services
    values: dict[str, Any] = {}
    for name, db in sorted(ext.databases.items()):
        values.setdefault("databases", {})[name] = {
            "password": _secret(db.password, f"externalServices.databases.{name}.password")
        }
    for name, s in sorted(ext.object_stores.items()):
        values.setdefault("objectstores", {})[name] = {
            "secretKey": _secret(s.secret_key, f"externalServices.objectStores.{name}.secretKey")
        }
    for name, c in sorted(ext.caches.items()):
        if c.password is not None:
            values.setdefault("cache", {})[name] = {
                "password": _secret(c.password, f"externalServices.caches.{name}.password")
            }
    return values


def policy_values(instance: Instance) -> dict[str, Any]:
    return {
        "functional": {
            "authentication": {"ssoFederation": {"enabled": instance.external_idp.enabled}},
        },
    }


def sizing_values(instance: Instance) -> dict[str, Any]:
    return {"replicas": sizing.replicas(instance.platform_sizing)}


def _check_no_template(data: Any, file: str, path: str = "") -> None:
    if isinstance(data, dict):
        for k, v in data.items():
            _check_no_template(v, file, f"{path}.{k}" if path else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _check_no_template(v, file, f"{path}[{i}]")
    elif isinstance(data, str) and "{{" in data:
        raise ValuesError(f"{file}: {path}: value contains '{{{{', which helmfile would evaluate")


def write(instance: Instance, root: Path) -> list[Path]:
    """Write the four environment value files; return their paths."""
    env_dir = root / "helmfile" / "environments" / instance.environment
    env_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "cluster": cluster_values(instance, root),
        "secrets": secrets_values(instance),
        "policy": policy_values(instance),
        "sizing": sizing_values(instance),
    }
    written = []
    for name, data in files.items():
        target = env_dir / f"{name}.yaml.gotmpl"
        _check_no_template(data, target.name)
        header = "# generated by opendesk-deployer from the instance configuration\n"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(header + "---\n" + yaml.safe_dump(data, sort_keys=True))
        written.append(target)
    return written
