"""Step 06/07 on the real v1.13.1 tree (copied): post-renderers neutralised, namespace
resolved, values files written; and the stages that replace the post-renderer and lint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, SHARED
from opendesk_deployer.config import load_instance
from opendesk_deployer.render import source, values
from opendesk_deployer.render.document import Document, load_output_dir
from opendesk_deployer.render.stage import RenderContext, StageError
from opendesk_deployer.render.stages.haproxy_rewrite import HaproxyRewriteTarget
from opendesk_deployer.render.stages.lint import Lint

TREE = SHARED / "opendesk" / "v1.13.1"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    dest = tmp_path / "opendesk"
    shutil.copytree(TREE, dest, ignore=shutil.ignore_patterns("theme", "docs"))
    return dest


@pytest.fixture
def ctx() -> RenderContext:
    inst = load_instance(EXAMPLES / "demo-instance.yaml").instance
    return RenderContext(inst, "1.13.1", inst.namespace)


def test_post_renderers_neutralised_in_real_tree(tree: Path) -> None:
    done = source.neutralise_post_renderers(tree)
    assert [d.split(": ")[1] for d in done] == [
        "post-renderer-nubus-OPENDESK_1_12_0_SKIP_PVC_MIGRATION.sh -> not needed (env unset)",
        "post-renderer-openxchange-HAPROXY.sh -> stage haproxy-rewrite-target",
        "post-renderer-oxconnector-OPENDESK_1_12_0_SKIP_PVC_MIGRATION.sh -> not needed (env unset)",
    ]
    for child in (tree / "helmfile/apps").glob("*/helmfile-child.yaml.gotmpl"):
        assert "postRenderer:" not in child.read_text()


def test_unknown_post_renderer_fails_with_file_and_line(tree: Path) -> None:
    child = tree / "helmfile/apps/xwiki/helmfile-child.yaml.gotmpl"
    lines = child.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if 'name: "xwiki"' in line)
    lines.insert(at + 1, '    postRenderer: "./post-renderer-new.sh"\n')
    child.write_text("".join(lines))
    with pytest.raises(source.SourceError) as exc:
        source.neutralise_post_renderers(tree)
    assert str(exc.value).startswith(
        f"helmfile/apps/xwiki/helmfile-child.yaml.gotmpl:{at + 2}: unknown post-renderer post-renderer-new.sh"
    )


def test_namespace_placeholder_resolved(tree: Path) -> None:
    f = tree / "helmfile/apps/jitsi/values.yaml.gotmpl"
    f.write_text(f.read_text() + "\nextra: 'svc.__NAMESPACE__.svc'\n")
    assert source.resolve_namespace(tree, "opendesk-x") == 1
    assert "svc.opendesk-x.svc" in f.read_text()


def test_values_files_written(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_instance(EXAMPLES / "demo-instance.yaml")
    inst = loaded.instance.model_copy(
        update={
            "registries": loaded.instance.registries.model_copy(
                update={"helm_registry": "127.0.0.1:5999/mirror", "verify_charts": False}
            )
        }
    )
    written = values.write(inst, tree)
    names = sorted(p.name for p in written)
    assert names == [
        "cluster.yaml.gotmpl",
        "policy.yaml.gotmpl",
        "secrets.yaml.gotmpl",
        "sizing.yaml.gotmpl",
    ]
    cluster = yaml.safe_load((tree / "helmfile/environments/dev/cluster.yaml.gotmpl").read_text())
    assert cluster["global"]["domain"] == "demo.opendesk.test"
    assert cluster["repositories"]["helm"]["registryOpencodeDe"] == "127.0.0.1:5999/mirror"
    assert cluster["apps"]["notes"] == {"enabled": False}
    # every chart of the tree gets verify: false (the mirror serves no provenance files)
    assert len(cluster["charts"]) == len(values.chart_keys(tree)) > 40
    assert all(c == {"verify": False} for c in cluster["charts"].values())
    sizing = yaml.safe_load((tree / "helmfile/environments/dev/sizing.yaml.gotmpl").read_text())
    assert sizing["replicas"]["nextcloud"] == 1
    for p in written:
        assert p.stat().st_mode & 0o077 == 0


def test_value_with_template_braces_rejected(tree: Path) -> None:
    loaded = load_instance(EXAMPLES / "demo-instance.yaml")
    inst = loaded.instance.model_copy(
        update={
            "registries": loaded.instance.registries.model_copy(
                update={"image_registry": "x{{ env }}"}
            )
        }
    )
    with pytest.raises(values.ValuesError, match=r"global\.imageRegistry: value contains '\{\{'"):
        values.write(inst, tree)


def _ingress(path: str) -> Document:
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "open-xchange-appsuite-http-api-routes-appsuite-api"},
        "spec": {
            "rules": [{"http": {"paths": [{"path": path, "pathType": "ImplementationSpecific"}]}}]
        },
    }
    return Document("open-xchange", "appsuite/templates/ingress.yaml", 0, body)


def test_haproxy_rewrite_target_replaces_the_post_renderer(ctx: RenderContext) -> None:
    doc = _ingress("/appsuite/api(.*)")
    result = HaproxyRewriteTarget().run([doc], ctx)
    assert doc.body["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/appsuite/api"
    [change] = result.changes
    assert change.field == "spec.rules[0].http.paths[0].path" and change.release == "open-xchange"
    # other controllers and other paths are left alone
    other = _ingress("/appsuite/api(.*)")
    assert HaproxyRewriteTarget("nginx").run([other], ctx).changes == []
    assert HaproxyRewriteTarget().run([_ingress("/x")], ctx).changes == []


def test_lint_rejects_documents_without_kind_or_name(ctx: RenderContext) -> None:
    docs = [
        Document("r1", "t/a.yaml", 0, {"apiVersion": "v1", "metadata": {"name": "a"}}),
        Document("r1", "t/a.yaml", 1, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
        Document(
            "r2",
            "t/b.yaml",
            0,
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "Web_1"}},
        ),
        Document(
            "r2",
            "t/c.yaml",
            0,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "system:ok"},
            },
        ),
    ]
    with pytest.raises(StageError) as exc:
        Lint().run(docs, ctx)
    assert exc.value.problems == [
        "release r1, r1/t/a.yaml#0: kind: missing",
        "release r1, r1/t/a.yaml#1 (ConfigMap): metadata.name: missing",
        "release r2, r2/t/b.yaml#0 (Service/Web_1): metadata.name: 'Web_1' is not a valid name (lowercase RFC 1123 subdomain)",
    ]


def test_output_dir_loads_in_stable_order(tmp_path: Path) -> None:
    (tmp_path / "b/chart/templates").mkdir(parents=True)
    (tmp_path / "a/chart/templates").mkdir(parents=True)
    (tmp_path / "b/chart/templates/x.yaml").write_text("---\nkind: A\n---\n\n---\nkind: B\n")
    (tmp_path / "a/chart/templates/z.yaml").write_text("kind: C\n")
    (tmp_path / "a/chart/templates/y.yaml").write_text("kind: D\n")
    docs = load_output_dir(tmp_path)
    assert [(d.release, d.file, d.index, d.kind) for d in docs] == [
        ("a", "chart/templates/y.yaml", 0, "D"),
        ("a", "chart/templates/z.yaml", 0, "C"),
        ("b", "chart/templates/x.yaml", 0, "A"),
        ("b", "chart/templates/x.yaml", 2, "B"),
    ]


def test_now_timestamp_made_stable_and_other_now_rejected(tree: Path) -> None:
    done = source.stabilise_timestamps(tree, "openDesk 1.13.1 (abc)")
    assert done == [
        "helmfile/apps/nubus/values-nubus.yaml.gotmpl: 1 `now` timestamp(s) -> 'openDesk 1.13.1 (abc)'"
    ]
    text = (tree / "helmfile/apps/nubus/values-nubus.yaml.gotmpl").read_text()
    assert 'deployDate: "Deployed: openDesk 1.13.1 (abc)"' in text
    f = tree / "helmfile/apps/jitsi/values.yaml.gotmpl"
    f.write_text(f.read_text() + "\nstamp: {{ now | unixEpoch }}\n")
    with pytest.raises(
        source.SourceError, match=r"jitsi/values.yaml.gotmpl:\d+: template uses `now`"
    ):
        source.stabilise_timestamps(tree, "x")
