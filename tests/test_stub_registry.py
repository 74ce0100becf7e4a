"""The local OCI registry with stub charts, and the real openDesk v1.13.1 tree rendered on it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from opendesk_deployer import toolchain
from opendesk_deployer.runner import Completed, Runner
from support import stub_charts
from support.oci_registry import OciRegistry, StubRegistry

# The 40 releases of openDesk v1.13.1's `dev` environment with the default apps (Enterprise off;
# notes, otterize, dkimpy, distributed clamav, cassandra, element admin/groupsync, monitoring
# alerts/dashboards off).
EXPECTED_RELEASES = [
    "clamav-simple",
    "collabora-online",
    "cryptpad",
    "dovecot",
    "intercom-service",
    "jitsi",
    "mariadb",
    "matrix-neoboard-widget",
    "matrix-neochoice-widget",
    "matrix-neodatefix-bot",
    "matrix-neodatefix-bot-bootstrap",
    "matrix-neodatefix-widget",
    "memcached",
    "minio",
    "open-xchange",
    "opendesk-certificates",
    "opendesk-element",
    "opendesk-home",
    "opendesk-keycloak-bootstrap",
    "opendesk-matrix-user-verification-service",
    "opendesk-matrix-user-verification-service-bootstrap",
    "opendesk-migrations-post",
    "opendesk-migrations-pre",
    "opendesk-nextcloud",
    "opendesk-nextcloud-management",
    "opendesk-nextcloud-notifypush",
    "opendesk-open-xchange-bootstrap",
    "opendesk-openproject-bootstrap",
    "opendesk-static-files",
    "opendesk-synapse",
    "opendesk-synapse-web",
    "opendesk-well-known",
    "openproject",
    "ox-connector",
    "postfix",
    "postfix-ox",
    "postgresql",
    "redis",
    "ums",
    "xwiki",
]


def test_registry_answers_v2_on_loopback(tmp_path: Path) -> None:
    with OciRegistry(workdir=tmp_path) as reg:
        assert reg.host.startswith("127.0.0.1:")
        assert reg.url == f"oci://{reg.host}"
        assert not reg.host.endswith(":5000")
        assert reg.v2_status() == 200
        config = (tmp_path / "config.yml").read_text()
        assert f"addr: 127.0.0.1:{reg.port}" in config
        assert str(tmp_path / "storage") in config
    assert not reg.running
    assert reg.v2_status() is None


def test_charts_file_parses_all_entries(stub_registry: StubRegistry) -> None:
    charts = {c.key: c for c in stub_registry.charts}
    assert len(charts) == 51
    assert charts["postfix"].ref == (
        "bmi/opendesk/components/platform-development/charts/opendesk-postfix/postfix:5.3.2"
    )
    assert charts["oxAppSuite"].verify is False
    assert len(stub_charts.unique_artifacts(stub_registry.charts)) == len(charts)


def test_fast_secrets_replaces_every_derivation() -> None:
    src = (stub_charts.opendesk_tree() / stub_charts.SECRETS_FILE).read_text()
    text, n = stub_charts.fast_secrets(src)
    assert n == src.count("derivePassword") == 111
    assert "derivePassword" not in text
    assert '    rootPassword: "stub-secret-1"\n' in text
    assert '{{ env "MASTER_PASSWORD" | default "sovereign-workplace" | quote }}' in text


def test_pushed_stub_can_be_pulled_and_rendered(
    stub_registry: StubRegistry, tmp_path: Path
) -> None:
    chart = next(c for c in stub_registry.charts if c.key == "postfix")
    runner = Runner()
    runner.run(
        "helm",
        [
            "pull",
            f"{stub_registry.url}/{chart.repository}/{chart.name}",
            "--version",
            chart.version,
            "--destination",
            str(tmp_path),
            "--untar",
        ],
    )
    meta = yaml.safe_load((tmp_path / "postfix" / "Chart.yaml").read_text())
    assert (meta["apiVersion"], meta["name"], meta["version"]) == ("v2", "postfix", "5.3.2")
    values = tmp_path / "any-values.yaml"
    values.write_text("replicaCount: {nested: [1, 2]}\nimage: 7\n")
    out = [
        runner.run(
            "helm",
            ["template", "postfix-ox", str(tmp_path / "postfix"), "-n", "ns", "-f", str(values)],
        ).stdout
        for _ in range(2)
    ]
    assert out[0] == out[1]
    docs = [d for d in yaml.safe_load_all(out[0]) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("ConfigMap", "postfix-ox-stub"),
        ("Service", "postfix-ox"),
        ("Deployment", "postfix-ox"),
    ]
    assert docs[0]["data"]["RELEASE_NAME"] == "postfix-ox"
    assert docs[0]["data"]["VALUES_KEYS"] == "image,replicaCount"


class _CountingRunner(Runner):
    calls: list[list[str]]

    def run(self, tool: str, args: Sequence[str], **kwargs: Any) -> Completed:
        self.calls = [*getattr(self, "calls", []), [tool, *args]]
        return super().run(tool, args, **kwargs)


def test_packaged_stubs_are_cached_by_charts_file(stub_registry: StubRegistry) -> None:
    # The fixture packaged them already: this must not run helm at all.
    runner = _CountingRunner()
    tgzs = stub_charts.package_stubs(stub_registry.charts, stub_registry.charts_file, runner=runner)
    assert getattr(runner, "calls", []) == []
    assert len(tgzs) == 51
    assert all(
        p.parent == stub_charts.stub_cache_dir(stub_registry.charts_file) for p in tgzs.values()
    )
    assert all(p.is_file() for p in tgzs.values())


def test_stub_values_point_every_chart_at_the_registry(
    stub_registry: StubRegistry, tmp_path: Path
) -> None:
    values = stub_charts.stub_values(stub_registry.registry, stub_registry.charts)
    assert values["repositories"]["helm"]["registryOpencodeDe"] == stub_registry.host
    assert values["global"]["helmRegistry"] == stub_registry.host
    assert {k: v["verify"] for k, v in values["charts"].items()} == {
        c.key: False for c in stub_registry.charts
    }
    path = stub_charts.write_stub_values(tmp_path, stub_registry.registry, stub_registry.charts)
    assert path == tmp_path / "helmfile/environments/dev/stub-registry.yaml.gotmpl"
    assert yaml.safe_load(path.read_text()) == values


@pytest.mark.slow
def test_real_tree_renders_against_stubs(stub_registry: StubRegistry, tmp_path: Path) -> None:
    try:
        toolchain.find("helmfile")
        toolchain.find("yq")  # open-xchange's post-renderer needs mikefarah yq v4
    except toolchain.ToolchainError as exc:  # both are built by `make setup`
        pytest.fail(str(exc))
    tree = stub_charts.copy_tree(stub_registry.tree, tmp_path / "opendesk")
    stub_charts.write_stub_values(tree, stub_registry.registry, stub_registry.charts)
    out = tmp_path / "out"
    started = time.monotonic()
    stub_charts.render_tree(tree, out, timeout=600)
    seconds = time.monotonic() - started
    releases = stub_charts.release_dirs(out)
    assert releases == EXPECTED_RELEASES, seconds
    assert len(releases) == 40
    cm = yaml.safe_load((out / "ums" / "nubus" / "templates" / "configmap.yaml").read_text())
    assert cm["metadata"] == {**cm["metadata"], "name": "ums-stub", "namespace": "opendesk"}
    assert cm["data"]["CHART"] == "nubus-1.18.1"
    # Two releases of one chart (postfix@5.3.2) render separately.
    assert (out / "postfix-ox" / "postfix" / "templates" / "service.yaml").is_file()
    # open-xchange went through its post-renderer (yq): helm then writes one file per release.
    ox = (out / "open-xchange" / "templates" / "open-xchange.yaml").read_text()
    assert "name: open-xchange-stub" in ox
