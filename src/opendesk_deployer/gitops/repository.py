"""The GitOps repository: one commit per render on the instance's branch, under its folder.

All git commands run through the runner with the deployer's own identity and no system or global
git configuration, so a render behaves the same on a developer laptop, in CI and in production.
A local path that does not exist becomes a new bare repository whose HEAD is `main`. Nothing is
committed when the tree is unchanged.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from opendesk_deployer import redaction
from opendesk_deployer.runner import CommandFailedError, Runner

AUTHOR_NAME = "opendesk-deployer"
AUTHOR_EMAIL = "opendesk-deployer@localhost"
GIT_ENV = {
    "GIT_AUTHOR_NAME": AUTHOR_NAME,
    "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
    "GIT_COMMITTER_NAME": AUTHOR_NAME,
    "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
}
_MISSING_REPO = re.compile(
    r"(?i)\b404\b|repository (?:'[^']*' )?not found|does not appear to be a git repository"
)
_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://|^[^/\s]+@[^/\s]+:")


def is_remote(repository: str) -> bool:
    return bool(_REMOTE.match(repository))


def register_url_credentials(url: str) -> None:
    """A token in `https://user:token@host/…` is a secret like any other."""
    if is_remote(url) and "://" in url:
        parts = urlsplit(url)
        redaction.register(parts.password)


@dataclass
class PublishResult:
    repository: str
    branch: str
    commit: str | None  # new commit sha; None when nothing changed (or dry run)
    changed: bool
    created_repository: bool
    diff: str  # `git diff --cached` of the change (dry run), else the --stat summary


class Repository:
    def __init__(self, location: str, runner: Runner | None = None) -> None:
        self.location = location
        self.runner = runner or Runner()
        register_url_credentials(location)

    def git(self, *args: str, cwd: Path | None = None, check: bool = True) -> str:
        return self.runner.run("git", list(args), cwd=cwd, env=GIT_ENV, check=check).stdout

    def ensure(self) -> bool:
        """Create a missing local repository (bare, HEAD main); True when created."""
        if is_remote(self.location):
            return False
        path = Path(self.location)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "--bare", "--initial-branch=main", str(path))
        return True

    def branch_exists(self, branch: str) -> bool:
        try:
            out = self.git("ls-remote", "--heads", self.location, f"refs/heads/{branch}")
        except CommandFailedError as exc:
            # A git server that creates repositories on the first push (the rig's; GitLab with
            # push-to-create) answers 404 before it: nothing to fetch, the push creates it.
            # Any other failure (authentication, network) stays an error.
            if is_remote(self.location) and _MISSING_REPO.search(exc.stderr):
                return False
            raise
        return bool(out.strip())

    def publish(
        self,
        branch: str,
        subdir: str,
        files: dict[str, str],
        message: str,
        work: Path,
        *,
        dry_run: bool = False,
    ) -> PublishResult:
        """Make `subdir` of `branch` hold exactly `files` (paths relative to subdir); commit and
        push when anything changed, unless `dry_run`."""
        created = False if dry_run else self.ensure()
        exists = (not created) and (
            (not dry_run or is_remote(self.location) or Path(self.location).exists())
            and self.branch_exists(branch)
        )
        if work.exists():
            shutil.rmtree(work)
        self.git("init", "-q", "--initial-branch", branch, str(work))
        if exists:
            self.git("fetch", "-q", "--depth", "1", self.location, f"refs/heads/{branch}", cwd=work)
            self.git("checkout", "-q", "-B", branch, "FETCH_HEAD", cwd=work)
        target = work / subdir
        if target.exists():
            shutil.rmtree(target)
        for rel, text in sorted(files.items()):
            p = target / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
        self.git("add", "-A", "--", subdir.rstrip("/") or ".", cwd=work)
        status = self.runner.run(
            "git", ["diff", "--cached", "--quiet"], cwd=work, env=GIT_ENV, check=False
        ).exit_code
        changed = status != 0
        if dry_run:
            diff = self.git("diff", "--cached", "--no-color", cwd=work) if changed else ""
            return PublishResult(self.location, branch, None, changed, False, diff)
        if not changed:
            return PublishResult(self.location, branch, None, False, created, "")
        stat = self.git("diff", "--cached", "--stat", "--no-color", cwd=work)
        self.git("commit", "-q", "-m", message, cwd=work)
        sha = self.git("rev-parse", "HEAD", cwd=work).strip()
        self.git("push", "-q", self.location, f"HEAD:refs/heads/{branch}", cwd=work)
        return PublishResult(self.location, branch, sha, True, created, stat)
