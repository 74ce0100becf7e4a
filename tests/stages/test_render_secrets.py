"""The whole chain on real renders of the mini-openDesk fixture (real helmfile, real git, the
CLI): canary secrets end up nowhere but in their own Secrets (no secrets manager) or nowhere at
all but the secrets-manager payload (with one); the orphan-sidecar variant fails the render."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import SHARED, copy_demo
from opendesk_deployer.config import load_instance
from opendesk_deployer.gitops import crd_schema
from opendesk_deployer.render import pipeline
from stages.helpers import SECRETS_MANAGER, merge

CLI = str(Path(sys.executable).parent / "opendesk-deployer")
CANARY_MASTER = "canary-master-7e1f0c3a95"
CANARY_DB = "canary-dbpass-2b8d41f6c0"
NAMESPACE = "opendesk-demo"
INSTANCE_DIR = "instances/demo-1"

EXTERNAL_DB = {
    "externalServices": {
        "databases": {
            "nextcloud": {
                "host": "pg.acme.example",
                "name": "nextcloud",
                "username": "nc_user",
                "password": {"env": "CANARY_DB_PASSWORD"},
            }
        }
    }
}
WITH_SM = {
    "secretsManager": SECRETS_MANAGER,
    "externalIdp": {
        "enabled": True,
        "userSync": True,
        "jitPlugin": {"image": "nubus/keycloak-jit-sync:2.1.0", "pullSecret": "jit-pull"},
    },
    "registries": {"imageRegistry": "registry.acme.example"},
    "overrides": [
        {
            "release": "opendesk-static-files",
            "kind": "Deployment",
            "name": "opendesk-static-files",
            "set": {"spec.replicas": 2},
            "why": "canary test override",
        }
    ],
}


def write_instance(tmp: Path, extra: dict[str, Any]) -> Path:
    f = copy_demo(tmp)
    data = yaml.safe_load(f.read_text())
    f.write_text(yaml.safe_dump(merge(data, extra), sort_keys=False))
    return f


@dataclass
class CliRender:
    tmp: Path
    bare: Path
    state: Path
    result: subprocess.CompletedProcess[str]

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.bare), *args], check=True, capture_output=True, text=True
        ).stdout

    def blobs(self) -> dict[str, str]:
        names = self.git("ls-tree", "-r", "--name-only", "main").split()
        return {n: self.git("show", f"main:{n}") for n in names}


def cli_render(tmp: Path, extra: dict[str, Any]) -> CliRender:
    f = write_instance(tmp, extra)
    env = {
        **os.environ,
        "OPENDESK_MASTER_PASSWORD": CANARY_MASTER,
        "CANARY_DB_PASSWORD": CANARY_DB,
        "SM_USER": "deployer-writer",
        "SM_PASSWORD": "sm-writer-password-1",
        "OPENDESK_STATE_DIR": str(tmp / "state"),
    }
    result = subprocess.run(
        [CLI, "--log-level", "DEBUG", "render", "--instance", str(f)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return CliRender(tmp, tmp / "repos" / "demo.git", tmp / "state", result)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> CliRender:
    return cli_render(tmp_path_factory.mktemp("plain"), EXTERNAL_DB)


@pytest.fixture(scope="module")
def with_sm(tmp_path_factory: pytest.TempPathFactory) -> CliRender:
    return cli_render(tmp_path_factory.mktemp("sm"), merge(EXTERNAL_DB, WITH_SM))


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


@pytest.mark.slow
def test_canaries_only_inside_their_own_secrets_without_secrets_manager(plain: CliRender) -> None:
    holders: dict[str, set[str]] = {CANARY_MASTER: set(), CANARY_DB: set()}
    for path, text in plain.blobs().items():
        for canary, found in holders.items():
            if canary in text:
                kinds = {d.get("kind") for d in documents(text)}
                assert kinds == {"Secret"}, f"{canary} in {path} ({kinds})"
                found.add(path)
    # openDesk passes the master password into secrets.nubus.masterpassword: the migrations
    # Secrets' environmentDetails carry it; the external DB password lands in its consumers.
    assert any("environment-details" in p for p in holders[CANARY_MASTER])
    assert any("opendesk-nextcloud-management" in p for p in holders[CANARY_DB])
    out = plain.result.stdout + plain.result.stderr
    assert "helmfile" in plain.result.stderr  # the logs were captured
    assert CANARY_MASTER not in out and CANARY_DB not in out


@pytest.mark.slow
def test_with_secrets_manager_no_canary_in_git_and_references_instead(with_sm: CliRender) -> None:
    blobs = with_sm.blobs()
    for path, text in blobs.items():
        assert CANARY_MASTER not in text and CANARY_DB not in text, path
        for d in documents(text):
            assert not (d.get("kind") == "Secret" and (d.get("data") or d.get("stringData"))), path
    out = with_sm.result.stdout + with_sm.result.stderr
    assert CANARY_MASTER not in out and CANARY_DB not in out
    base = f"{INSTANCE_DIR}/releases/opendesk-nextcloud-management"
    es = yaml.safe_load(blobs[f"{base}/externalsecret-opendesk-nextcloud-management.yaml"])
    assert {
        "secretKey": "NEXTCLOUD_DB_PASSWORD",
        "remoteRef": {
            "key": f"opendesk/{NAMESPACE}/opendesk-nextcloud-management",
            "property": "NEXTCLOUD_DB_PASSWORD",
        },
    } in es["spec"]["data"]
    # the values are in the payload for the secrets manager, 0600, outside git
    payload_file = with_sm.state / "instances/demo/demo-1/secrets-manager-payload.json"
    assert stat.S_IMODE(payload_file.stat().st_mode) == 0o600
    payload = json.loads(payload_file.read_text())
    assert (
        payload[f"opendesk/{NAMESPACE}/opendesk-nextcloud-management"]["NEXTCLOUD_DB_PASSWORD"]
        == CANARY_DB
    )
    assert any(CANARY_MASTER in json.dumps(props) for props in payload.values())


@pytest.mark.slow
def test_eso_objects_validate_against_the_crds(with_sm: CliRender) -> None:
    kinds: dict[str, int] = {}
    for path, text in with_sm.blobs().items():
        for d in documents(text):
            if d.get("apiVersion") == "external-secrets.io/v1":
                kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
                assert crd_schema.validate(d, path, SHARED / "crds") == []
    assert kinds["SecretStore"] == 1 and kinds["ExternalSecret"] >= 10


@pytest.mark.slow
def test_jit_override_and_provenance_in_render_meta(with_sm: CliRender) -> None:
    blobs = with_sm.blobs()
    kc = yaml.safe_load(blobs[f"{INSTANCE_DIR}/releases/ums/statefulset-ums-keycloak.yaml"])
    ps = kc["spec"]["template"]["spec"]
    assert ps["initContainers"][0]["image"] == "registry.acme.example/nubus/keycloak-jit-sync:2.1.0"
    assert {"name": "jit-pull"} in ps["imagePullSecrets"]
    static = yaml.safe_load(
        blobs[
            f"{INSTANCE_DIR}/releases/opendesk-static-files/deployment-opendesk-static-files.yaml"
        ]
    )
    assert static["spec"]["replicas"] == 2
    meta = yaml.safe_load(blobs[f"{INSTANCE_DIR}/render-meta.yaml"])
    applied = meta["releases"]["ums"]["patchesApplied"]
    assert any(p.startswith("jit: ") for p in applied)
    assert any(p.startswith("eso: fix-secrets-to-eso") for p in applied)
    assert any(p.startswith("dedup: fix-resource-dedup") for p in applied)
    assert any(p.startswith("runtime-patches: fix-dedup-env-vars") for p in applied)
    assert (
        "overrides: override: canary test override"
        in (meta["releases"]["opendesk-static-files"]["patchesApplied"])
    )
    assert f"opendesk/{NAMESPACE}/ums-keycloak-credentials" in meta["secretsManager"]["remoteKeys"]
    for entry in meta["releases"].values():
        assert any(p.startswith("guards: namespace marker") for p in entry["patchesApplied"])


@pytest.mark.slow
def test_orphan_synapse_sidecar_variant_fails_naming_it(tmp_path: Path) -> None:
    f = write_instance(tmp_path, {"apps": {"element": False}})
    with pytest.raises(pipeline.RenderError) as err:
        pipeline.render(load_instance(f))
    msg = str(err.value)
    assert "opendesk-matrix-user-verification-service" in msg
    assert "without the homeserver release opendesk-synapse" in msg
    assert not (tmp_path / "repos" / "demo.git").exists(), "nothing pushed"
