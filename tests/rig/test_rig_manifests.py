"""What the rig applies, checked without a cluster: stages, stand-ins, CRD discovery, git server
request handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendesk_deployer.rig import manifests
from opendesk_deployer.rig.cluster import Rig, default_crds_dir


def test_stages_are_unique_and_standins_are_named() -> None:
    stages = manifests.stages()
    names = [s["metadata"]["name"] for s in stages]
    assert len(names) == len(set(names))
    assert {"node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-complete"} <= set(
        names
    )
    kinds = {s["spec"]["resourceRef"]["kind"] for s in stages}
    assert {"Node", "Pod", "PersistentVolumeClaim", "Service", "Ingress", "Certificate"} <= kinds
    standins = [s for s in stages if s["metadata"]["name"].startswith("standin-")]
    # volume provisioner (4), load balancer, ingress controller, cert-manager
    assert len(standins) == 7
    for s in standins:
        assert s["metadata"]["labels"] == {"opendesk-deployer.io/stand-in": "true"}
        assert s["metadata"]["annotations"]["opendesk-deployer.io/stand-in-for"]


def test_crds_are_read_from_the_shared_folder_at_run_time() -> None:
    crds_dir = default_crds_dir()
    if not crds_dir.is_dir():
        pytest.fail(f"{crds_dir} missing (set OPENDESK_CRDS_DIR or OPENDESK_SHARED)")
    docs = Rig(Path("/nonexistent"), crds_dir=crds_dir)._crd_documents()
    names = {d["metadata"]["name"] for d in docs}
    assert len(docs) == 13
    assert "applicationsets.argoproj.io" in names
    assert "externalsecrets.external-secrets.io" in names
    assert "certificates.cert-manager.io" in names


def test_kwokctl_configuration_binds_loopback() -> None:
    assert "bindAddress: 127.0.0.1" in manifests.kwokctl_configuration("127.0.0.1")


def test_kwokctl_configuration_pins_distinct_kernel_chosen_ports() -> None:
    import yaml

    options = yaml.safe_load(manifests.kwokctl_configuration("127.0.0.1"))["options"]
    ports = [options[k] for k in manifests.PORT_OPTIONS]
    assert len(set(ports)) == len(ports) == 6
    assert all(1024 < p < 65536 for p in ports)
