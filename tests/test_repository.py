"""The GitOps repository with real git: new bare repo, one commit, no-op rerun, identity."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from opendesk_deployer.gitops.repository import AUTHOR_EMAIL, AUTHOR_NAME, Repository


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(autouse=True)
def _no_global_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A HOME without .gitconfig: the deployer must not rely on a global identity."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)


def test_new_bare_repository_commit_and_noop(tmp_path: Path) -> None:
    bare = tmp_path / "repos" / "gitops.git"
    repo = Repository(str(bare))
    files = {"render-meta.yaml": "a: 1\n", "releases/x/configmap-x.yaml": "kind: ConfigMap\n"}
    first = repo.publish("main", "instances/i1/", files, "render 1", tmp_path / "w1")
    assert first.created_repository and first.changed and first.commit
    assert git("--git-dir", str(bare), "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git("--git-dir", str(bare), "rev-parse", "main").strip() == first.commit
    who = git("--git-dir", str(bare), "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main").strip()
    assert who == f"{AUTHOR_NAME} <{AUTHOR_EMAIL}>|{AUTHOR_NAME} <{AUTHOR_EMAIL}>"
    tree = git("--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main").split()
    assert tree == ["instances/i1/releases/x/configmap-x.yaml", "instances/i1/render-meta.yaml"]

    again = repo.publish("main", "instances/i1/", files, "render 2", tmp_path / "w2")
    assert not again.changed and again.commit is None
    assert git("--git-dir", str(bare), "rev-list", "--count", "main").strip() == "1"


def test_stale_files_removed_and_other_instances_untouched(tmp_path: Path) -> None:
    bare = tmp_path / "gitops.git"
    repo = Repository(str(bare))
    repo.publish(
        "main", "instances/a/", {"x.yaml": "1\n", "old.yaml": "0\n"}, "a1", tmp_path / "w1"
    )
    repo.publish("main", "instances/b/", {"y.yaml": "2\n"}, "b1", tmp_path / "w2")
    repo.publish("main", "instances/a/", {"x.yaml": "1\n"}, "a2", tmp_path / "w3")
    tree = git("--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main").split()
    assert tree == ["instances/a/x.yaml", "instances/b/y.yaml"]


def test_dry_run_prints_diff_and_pushes_nothing(tmp_path: Path) -> None:
    bare = tmp_path / "gitops.git"
    repo = Repository(str(bare))
    repo.publish("main", "instances/a/", {"x.yaml": "old\n"}, "a1", tmp_path / "w1")
    dry = repo.publish(
        "main", "instances/a/", {"x.yaml": "new\n"}, "a2", tmp_path / "w2", dry_run=True
    )
    assert dry.changed and dry.commit is None
    assert "-old" in dry.diff and "+new" in dry.diff
    assert git("--git-dir", str(bare), "rev-list", "--count", "main").strip() == "1"
    # a dry run against a repository that does not exist creates nothing
    missing = tmp_path / "missing.git"
    Repository(str(missing)).publish("main", "i/", {"x": "1"}, "m", tmp_path / "w3", dry_run=True)
    assert not missing.exists()


def test_other_branch(tmp_path: Path) -> None:
    bare = tmp_path / "gitops.git"
    repo = Repository(str(bare))
    repo.publish("main", "i/", {"x": "1\n"}, "m", tmp_path / "w1")
    r = repo.publish("staging", "i/", {"x": "2\n"}, "s", tmp_path / "w2")
    assert r.commit and git("--git-dir", str(bare), "rev-parse", "staging").strip() == r.commit
    assert os.path.exists(bare / "refs/heads/main") or git(
        "--git-dir", str(bare), "rev-parse", "main"
    )
