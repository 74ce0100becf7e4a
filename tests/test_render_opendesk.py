"""The real openDesk v1.13.1 tree through the whole render pipeline, its charts served as stubs
from a local OCI registry (the real charts' registries cannot be reached from here: the stubs
have the same names, versions and repository paths, and render a ConfigMap, a Deployment and a
Service per release)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import SHARED
from opendesk_deployer.config import load_instance
from opendesk_deployer.gitops import crd_schema
from opendesk_deployer.render import pipeline
from support.oci_registry import StubRegistry

DEV_DEFAULT_RELEASES = 40


def write_instance(tmp: Path, registry_host: str) -> Path:
    (tmp / "runtime-state.json").write_text(
        '{"schemaVersion": 1, "provider": "local", "project": {"id": "p"}, "cluster": {"name": "rig"}}'
    )
    f = tmp / "instance.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "opendesk-deployer/v1",
                "kind": "Instance",
                "customerId": "acme",
                "projectId": "acme-prod",
                "instanceId": "acme-1",
                "opendesk": {
                    "version": "1.13.1",
                    "source": {"path": str(SHARED / "opendesk/v1.13.1")},
                },
                "environment": "dev",
                "namespace": "opendesk",
                "domains": {"main": "acme.opendesk.test"},
                "registries": {"helmRegistry": registry_host, "verifyCharts": False},
                "git": {"repository": "gitops.git"},
                "runtimeState": "runtime-state.json",
            }
        )
    )
    return f


@pytest.mark.slow
def test_v1_13_1_renders_40_release_directories(
    stub_registry: StubRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENDESK_MASTER_PASSWORD", "render-test-master")
    # Stub charts render none of the documents the catalog's required patches are written for.
    report = pipeline.render(
        load_instance(write_instance(tmp_path, stub_registry.host)), required_patches=False
    )
    assert len(report.releases) == DEV_DEFAULT_RELEASES
    assert {
        "opendesk-migrations-pre",
        "ums",
        "open-xchange",
        "opendesk-nextcloud",
        "opendesk-synapse",
    } <= set(report.releases)
    bare = tmp_path / "gitops.git"
    files = subprocess.run(
        ["git", "--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    release_dirs = {f.split("/")[3] for f in files if "/releases/" in f}
    assert len(release_dirs) == DEV_DEFAULT_RELEASES
    apps = [f for f in files if "/applications/" in f]
    assert len(apps) == DEV_DEFAULT_RELEASES
    for path in apps:
        app = yaml.safe_load(
            subprocess.run(
                ["git", "--git-dir", str(bare), "show", f"main:{path}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        assert crd_schema.validate(app, path, SHARED / "crds") == []
    assert report.files["render-meta.yaml"].count("derivedSecrets: 111") == 1
    # openDesk's values stamp the portal with `now`; the render is stable all the same: a second
    # render of the same inputs makes no commit
    again = pipeline.render(
        load_instance(write_instance(tmp_path, stub_registry.host)), required_patches=False
    )
    assert again.publish is not None and again.publish.commit is None and not again.publish.changed
