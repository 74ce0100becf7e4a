"""The render path's output synced by the real Argo CD on the rig: the demo instance (the
mini-openDesk fixture, with every chart bug the catalog repairs) is rendered with the repairs,
pushed to the rig's git server, and its app-of-apps is created through the Kubernetes API. Every
release Application must become Synced and Healthy at the pushed commit, which proves the
repaired manifests pass the real API server's server-side apply and the waves are honoured.
Simulated: kubelets and containers (kwok), volumes, load balancers and cert-manager (named
stand-ins, see docs/rig.md)."""

from __future__ import annotations

import itertools
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from opendesk_deployer.config import load_instance
from opendesk_deployer.render import pipeline
from opendesk_deployer.rig import argocd
from opendesk_deployer.rig.cluster import Rig

from .test_argocd import Apps, apps, ts  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def _synced_healthy(sha: str):  # type: ignore[no-untyped-def]
    def done(app: dict) -> bool:  # type: ignore[type-arg]
        st = app.get("status") or {}
        return bool(
            (st.get("sync") or {}).get("status") == "Synced"
            and (st.get("health") or {}).get("status") == "Healthy"
            and (st.get("sync") or {}).get("revision") == sha
        )

    return done


@pytest.mark.slow
def test_rendered_demo_syncs_wave_by_wave_in_argocd(
    rig: Rig,
    apps: Apps,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    for name in ("demo-instance.yaml", "runtime-state.json"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    f = tmp_path / "demo-instance.yaml"
    data = yaml.safe_load(f.read_text())
    data["opendesk"]["source"]["path"] = str(REPO / "tests/fixtures/mini-opendesk")
    data["instanceId"] = f"e2e-{suffix}"
    data["namespace"] = f"od-{suffix}"
    data["git"] = {"repository": rig.git_url(argocd.GITOPS_REPO), "branch": f"e2e-{suffix}"}
    f.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("OPENDESK_MASTER_PASSWORD", "e2e-master-password")

    report = pipeline.render(load_instance(f))
    assert report.publish is not None and report.publish.commit
    sha = report.publish.commit

    root = yaml.safe_load(report.files["app-of-apps.yaml"])
    apps.create(root)
    children = {
        yaml.safe_load(text)["metadata"]["name"]: int(
            yaml.safe_load(text)["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        )
        for path, text in report.files.items()
        if path.startswith("applications/")
    }
    assert len(children) == 20
    apps.created.extend(
        sorted(children, key=children.get, reverse=True)
    )  # cleanup: last wave first
    finished = {}
    for name in sorted(children, key=lambda n: (children[n], n)):
        app = apps.wait(
            name, _synced_healthy(sha), f"Synced and Healthy at {sha[:12]}", timeout=600
        )
        created = app["metadata"]["creationTimestamp"]
        finished[name] = (children[name], ts(created))
    # a child of wave N+1 was created by the parent only after every child of wave N existed
    by_wave: dict[int, list] = {}  # type: ignore[type-arg]
    for wave, created in finished.values():
        by_wave.setdefault(wave, []).append(created)
    waves = sorted(by_wave)
    for lower, upper in itertools.pairwise(waves):
        assert max(by_wave[lower]) <= min(by_wave[upper]), (lower, upper)
    apps.wait(
        root["metadata"]["name"], _synced_healthy(sha), "root Synced and Healthy", timeout=300
    )
