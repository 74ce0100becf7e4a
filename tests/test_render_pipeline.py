"""The render path end to end on the mini-openDesk fixture: real helmfile, real git."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, copy_demo
from opendesk_deployer import logs
from opendesk_deployer.config import load_instance
from opendesk_deployer.gitops import release_graph
from opendesk_deployer.render import pipeline

CLI = str(Path(sys.executable).parent / "opendesk-deployer")
CANARY = "canary-master-9d41c7e2b8"
FIXTURE_RELEASES = 20


def git(bare: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(bare), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo instance in a scratch folder, pointing at the fixture tree and a scratch repo."""
    return copy_demo(tmp_path)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[pipeline.RenderReport, Path, str]:
    """One real render of the demo (module-scoped: helmfile takes seconds), with a canary
    master password and the logs captured."""
    tmp = tmp_path_factory.mktemp("render")
    f = copy_demo(tmp)
    mp = pytest.MonkeyPatch()
    mp.setenv("OPENDESK_MASTER_PASSWORD", CANARY)
    mp.setenv("OPENDESK_STATE_DIR", str(tmp / "state"))
    stream = io.StringIO()
    logs.configure("DEBUG", stream=stream)
    try:
        report = pipeline.render(load_instance(f))
    finally:
        mp.undo()
    return report, tmp / "repos" / "demo.git", stream.getvalue()


def test_one_directory_and_one_application_per_release(rendered) -> None:  # type: ignore[no-untyped-def]
    report, bare, _ = rendered
    files = git(bare, "ls-tree", "-r", "--name-only", "main").split()
    releases = {f.split("/")[3] for f in files if f.startswith("instances/demo-1/releases/")}
    apps = {
        f.split("/")[3].removesuffix(".yaml")
        for f in files
        if f.startswith("instances/demo-1/applications/")
    }
    assert len(releases) == FIXTURE_RELEASES
    assert apps == releases == set(report.releases)
    assert "instances/demo-1/app-of-apps.yaml" in files
    assert "instances/demo-1/render-meta.yaml" in files
    # nothing but Applications in applications/
    for r in sorted(apps):
        app = yaml.safe_load(git(bare, "show", f"main:instances/demo-1/applications/{r}.yaml"))
        assert app["kind"] == "Application"
        assert app["spec"]["source"]["path"] == f"instances/demo-1/releases/{r}"


def test_waves_match_the_release_graph(rendered) -> None:  # type: ignore[no-untyped-def]
    report, bare, _ = rendered
    expected = release_graph.load().waves(report.releases)
    for r, wave in expected.items():
        app = yaml.safe_load(git(bare, "show", f"main:instances/demo-1/applications/{r}.yaml"))
        assert app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == str(wave)
    assert expected["opendesk-migrations-pre"] == 0
    assert expected["opendesk-migrations-post"] == max(expected.values())


def test_render_meta_is_complete_and_stable(rendered) -> None:  # type: ignore[no-untyped-def]
    _, bare, _ = rendered
    meta = yaml.safe_load(git(bare, "show", "main:instances/demo-1/render-meta.yaml"))
    assert meta["opendesk"]["version"] == "1.13.1"
    assert meta["opendesk"]["sourceRef"].startswith("path:")
    assert meta["opendesk"]["sourceSha"].startswith("tree:")
    assert meta["tools"] == {"helm": "v3.22.0", "helmfile": "v1.8.0"}
    assert meta["inputHash"].startswith("sha256:")
    ox = meta["releases"]["open-xchange"]
    assert ox["documents"] >= 1 and ox["digest"].startswith("sha256:")
    assert "Ingress/open-xchange-appsuite-http-api-routes-appsuite-api" in ox["inventory"]
    assert (
        "patch-haproxy-rewrite-target: HAProxy ingress: no regex path on the appsuite-api route"
        in ox["patchesApplied"]
    )
    text = git(bare, "show", "main:instances/demo-1/render-meta.yaml")
    assert "2026-" not in text and "Timestamp" not in text


def test_post_renderer_work_done_by_stage(rendered) -> None:  # type: ignore[no-untyped-def]
    _, bare, _ = rendered
    files = git(
        bare, "ls-tree", "-r", "--name-only", "main", "instances/demo-1/releases/open-xchange"
    ).split()
    [ingress] = [
        f for f in files if "ingress-open-xchange-appsuite-http-api-routes-appsuite-api" in f
    ]
    doc = yaml.safe_load(git(bare, "show", f"main:{ingress}"))
    assert doc["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/appsuite/api"


def test_master_password_never_in_logs_or_report(rendered) -> None:  # type: ignore[no-untyped-def]
    report, _, logged = rendered
    assert "helmfile" in logged  # the runner logged the helmfile command
    assert CANARY not in logged
    assert CANARY not in repr(report.changes) and CANARY not in repr(report.releases)


def test_second_render_makes_no_commit(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = pipeline.render(load_instance(demo))
    assert first.publish and first.publish.commit and first.publish.created_repository
    second = pipeline.render(load_instance(demo))
    assert second.publish and second.publish.commit is None and not second.publish.changed
    bare = demo.parent / "repos" / "demo.git"
    assert git(bare, "rev-list", "--count", "main").strip() == "1"


def test_release_missing_from_graph_fails_naming_it(demo: Path, tmp_path: Path) -> None:
    graph = yaml.safe_load((REPO / "release-graph.yaml").read_text())
    del graph["releases"]["matrix-neoboard-widget"]
    g = tmp_path / "graph.yaml"
    g.write_text(yaml.safe_dump(graph))
    with pytest.raises(
        pipeline.RenderError, match="missing from the release graph: matrix-neoboard-widget"
    ):
        pipeline.render(load_instance(demo), graph_file=g)
    assert not (demo.parent / "repos" / "demo.git").exists(), "nothing pushed on failure"


def test_cli_dry_run_prints_diff_and_summary(demo: Path) -> None:
    report_file = demo.parent / "report.json"
    result = subprocess.run(
        [CLI, "render", "--instance", str(demo), "--dry-run", "--report", str(report_file)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(report_file.read_text())
    assert {
        "stage": "patch-haproxy-rewrite-target",
        "release": "open-xchange",
        "document": "Ingress/open-xchange-appsuite-http-api-routes-appsuite-api "
        "(open-xchange/appsuite-public-sector/templates/ingress.yaml#1)",
        "field": "spec.rules[0].http.paths[0].path",
        "action": "set",
        "why": "HAProxy ingress: no regex path on the appsuite-api route",
    } in report["changes"]
    assert report["commit"] is None
    out = result.stdout
    assert "+++ b/instances/demo-1/render-meta.yaml" in out
    assert "opendesk-migrations-pre" in out.splitlines()[1]
    assert f"{FIXTURE_RELEASES} releases" in out
    assert "dry run: changes" in out
    assert not (demo.parent / "repos" / "demo.git").exists()


def test_cli_repo_override_and_missing_runtime_state(demo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.git"
    result = subprocess.run(
        [CLI, "render", "--instance", str(demo), "--repo", str(other)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert f"to {other} (new bare repository) branch main" in result.stdout
    (demo.parent / "runtime-state.json").unlink()
    result = subprocess.run(
        [CLI, "render", "--instance", str(demo)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "runtimeState: runtime state file" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_parallel_children_render_equals_one_helmfile_run(demo: Path, tmp_path: Path) -> None:
    """The per-child split renders exactly what one plain `helmfile template` of the tree does."""
    from opendesk_deployer.render import derived_secrets, document, helmfile, source, values
    from opendesk_deployer.runner import Runner

    loaded = load_instance(demo)
    runner = Runner()
    prepared = source.prepare(loaded, tmp_path / "tree", runner)
    values.write(loaded.instance, prepared.root)
    derived_secrets.replace_secrets_file(prepared.root, "pw-parallel-test")
    outs = {}
    for parallel in (False, True):
        out = tmp_path / f"out-{parallel}" / "rendered"
        runs = helmfile.template(
            prepared.root,
            "dev",
            "opendesk-demo",
            out,
            runner,
            master_password="pw-parallel-test",
            parallel_children=parallel,
        )
        assert runs == (10 if parallel else 1)  # the fixture has 10 child helmfiles
        outs[parallel] = sorted(
            (d.release, document.dump_yaml(d.body)) for d in document.load_output_dir(out)
        )
    assert len({r for r, _ in outs[True]}) == FIXTURE_RELEASES
    assert outs[True] == outs[False]


@pytest.mark.slow
def test_unrepaired_render_equals_plain_helmfile_with_upstream_post_renderer(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Derived secrets in Python, parallel children, the neutralised post-renderer and its stage:
    together they give exactly what plain helmfile (secrets derived by sprig, the upstream yq
    post-renderer executable) renders from the same tree and values."""
    import os
    import stat

    from opendesk_deployer import toolchain
    from opendesk_deployer.render import document, source, values
    from opendesk_deployer.runner import Runner

    monkeypatch.setenv("OPENDESK_MASTER_PASSWORD", "plain-vs-ours")
    loaded = load_instance(demo)
    ours = pipeline.render(loaded, repairs=False, dry_run=True)
    got = sorted(
        (path.split("/")[1], document.dump_yaml(yaml.safe_load(text)))
        for path, text in ours.files.items()
        if path.startswith("releases/")
    )
    plain = tmp_path / "plain"
    shutil.copytree(REPO / "tests/fixtures/mini-opendesk", plain)
    (plain / "helmfile/apps/open-xchange/post-renderer-openxchange-HAPROXY.sh").chmod(
        0o755 | stat.S_IRUSR
    )
    values.write(loaded.instance, plain)  # the same instance values
    source.resolve_namespace(plain, "opendesk-demo")  # the fork's placeholder, as step 06 does
    out = tmp_path / "out"
    path = os.pathsep.join(
        [str(toolchain.find("helm").parent), str(toolchain.find("yq").parent), os.environ["PATH"]]
    )
    Runner().run(
        "helmfile",
        [
            "-e",
            "dev",
            "-n",
            "opendesk-demo",
            "template",
            "--output-dir",
            str(out),
            "--output-dir-template",
            "{{ .OutputDir }}/{{ .Release.Name }}",
        ],
        cwd=plain,
        env={
            "PATH": path,
            "MASTER_PASSWORD": "plain-vs-ours",
            "HELMFILE_CACHE_HOME": str(tmp_path / "hc"),
        },
    )
    want = sorted((d.release, document.dump_yaml(d.body)) for d in document.load_output_dir(out))
    # the unrepaired chain fills in nothing: compare documents as helmfile wrote them
    assert len(want) == len(got) > 60
    assert got == want


def test_opendesk_source_from_git_url_and_ref(demo: Path, tmp_path: Path) -> None:
    """Step 06 from a git repository (URL + ref): the tree of that commit, its sha in render-meta."""
    src = tmp_path / "opendesk-fork"
    shutil.copytree(REPO / "tests/fixtures/mini-opendesk", src)
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}  # fmt: skip
    for args in (["init", "-q", "-b", "stable/v1.13.1"], ["add", "-A"], ["commit", "-qm", "fork"]):
        subprocess.run(["git", "-C", str(src), *args], check=True, env=env)
    sha = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    text = demo.read_text().replace(
        f"    path: {REPO / 'tests/fixtures/mini-opendesk'}",
        f"    git: {{url: 'file://{src}', ref: stable/v1.13.1}}",
    )
    assert "git: {url:" in text
    demo.write_text(text)
    report = pipeline.render(load_instance(demo), dry_run=True)
    assert report.source_sha == sha
    meta = yaml.safe_load(report.files["render-meta.yaml"])
    assert meta["opendesk"]["sourceRef"] == "stable/v1.13.1"
    assert meta["opendesk"]["sourceSha"] == sha
    assert len(report.releases) == FIXTURE_RELEASES
