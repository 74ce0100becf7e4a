"""Step 06 (clone openDesk): fetch the instance's openDesk tree into a work directory, resolve
`__NAMESPACE__` and neutralise the upstream post-renderer scripts.

openDesk wires yq-based shell post-renderers into some releases (`postRenderer:` in a child
helmfile). In the v1.13.1 tree they are not even executable, and they make a render depend on yq
and on mode bits. We remove the `postRenderer:` lines and do their work as render stages instead
(see `stages/haproxy_rewrite.py`). A post-renderer we do not know fails the render, naming file and
line: silently dropping an unknown upstream fix would be worse than stopping.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from opendesk_deployer.config.loader import LoadedInstance
from opendesk_deployer.gitops.repository import register_url_credentials
from opendesk_deployer.runner import Runner


class SourceError(Exception):
    pass


# Upstream post-renderers and what replaces each. The PVC-migration ones only run when
# OPENDESK_1_12_0_SKIP_PVC_MIGRATION is set, which the deployer never sets (fresh installs).
KNOWN_POST_RENDERERS = {
    "post-renderer-openxchange-HAPROXY.sh": "stage haproxy-rewrite-target",
    "post-renderer-oxconnector-OPENDESK_1_12_0_SKIP_PVC_MIGRATION.sh": "not needed (env unset)",
    "post-renderer-nubus-OPENDESK_1_12_0_SKIP_PVC_MIGRATION.sh": "not needed (env unset)",
}
_POST_RENDERER = re.compile(r"""^[ \t]*postRenderer:[ \t]*["']?\./([^"'\s]+)["']?[ \t]*\n""", re.M)
NAMESPACE_PLACEHOLDER = "__NAMESPACE__"
# openDesk stamps the portal with `{{ now | date "…" }}` (values-nubus: deployDate): every render
# would differ, make a commit and roll the portal. The stamp becomes the source version instead.
_NOW = re.compile(r"\{\{-?\s*now\s*\|\s*date\s+\"[^\"]*\"\s*-?\}\}")
_ANY_NOW = re.compile(r"\{\{[^}]*\bnow\b[^}]*\}\}")
_TEXT_SUFFIXES = {".gotmpl", ".yaml", ".yml", ".tpl", ".txt", ".json"}


@dataclass
class PreparedSource:
    root: Path
    ref: str  # git ref or "path:<dir>"
    sha: str  # commit sha, or "tree:<sha256>" for a plain directory
    neutralised: list[str] = field(default_factory=list)  # "<file>: <script> -> replacement"
    namespace_files: int = 0


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".git" not in p.relative_to(root).parts:
            h.update(p.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return "tree:" + h.hexdigest()


def fetch(loaded: LoadedInstance, dest: Path, runner: Runner) -> tuple[str, str]:
    """Copy or clone the openDesk source into `dest`; return (ref, sha)."""
    src = loaded.instance.opendesk.source
    if src.path is not None:
        origin = loaded.resolve(src.path)
        if not (origin / "helmfile.yaml.gotmpl").is_file():
            raise SourceError(
                f"{loaded.file}: opendesk.source.path: {origin} is not an openDesk tree "
                "(no helmfile.yaml.gotmpl)"
            )
        shutil.copytree(origin, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        # the path as written in the instance file: stable across checkouts of the same config
        ref = f"path:{src.path}"
        if (origin / ".git").exists():
            sha = runner.run("git", ["-C", str(origin), "rev-parse", "HEAD"]).stdout.strip()
            return ref, sha
        return ref, _tree_digest(dest)
    assert src.git is not None
    register_url_credentials(src.git.url)
    runner.run("git", ["init", "-q", str(dest)])
    runner.run("git", ["-C", str(dest), "fetch", "-q", "--depth", "1", src.git.url, src.git.ref])
    runner.run("git", ["-C", str(dest), "checkout", "-q", "FETCH_HEAD"])
    sha = runner.run("git", ["-C", str(dest), "rev-parse", "HEAD"]).stdout.strip()
    shutil.rmtree(dest / ".git")
    return src.git.ref, sha


def resolve_namespace(root: Path, namespace: str) -> int:
    """Replace `__NAMESPACE__` in the tree's text files; return how many files changed."""
    changed = 0
    for p in (root / "helmfile").rglob("*"):
        if p.is_file() and p.suffix in _TEXT_SUFFIXES:
            text = p.read_text(encoding="utf-8", errors="surrogateescape")
            if NAMESPACE_PLACEHOLDER in text:
                p.write_text(
                    text.replace(NAMESPACE_PLACEHOLDER, namespace), "utf-8", "surrogateescape"
                )
                changed += 1
    return changed


def stabilise_timestamps(root: Path, stamp: str) -> list[str]:
    """Replace `{{ now | date "…" }}` in the tree's templates by `stamp`; any other use of `now`
    fails, naming file and line, since it would make renders differ run to run."""
    done: list[str] = []
    for p in sorted((root / "helmfile").rglob("*.gotmpl")):
        text = p.read_text(encoding="utf-8")
        if "now" not in text:
            continue
        rel = p.relative_to(root).as_posix()
        new, n = _NOW.subn(stamp, text)
        for m in _ANY_NOW.finditer(new):
            line = new.count("\n", 0, m.start()) + 1
            raise SourceError(
                f"{rel}:{line}: template uses `now`; a render must not depend on the clock"
            )
        if n:
            p.write_text(new, encoding="utf-8")
            done.append(f"{rel}: {n} `now` timestamp(s) -> {stamp!r}")
    return done


def neutralise_post_renderers(root: Path) -> list[str]:
    """Remove `postRenderer:` lines from the child helmfiles; fail on an unknown script."""
    done: list[str] = []
    for child in sorted((root / "helmfile" / "apps").glob("*/*.yaml.gotmpl")):
        text = child.read_text(encoding="utf-8")
        matches = list(_POST_RENDERER.finditer(text))
        if not matches:
            continue
        rel = child.relative_to(root).as_posix()
        for m in matches:
            script = m.group(1)
            if script not in KNOWN_POST_RENDERERS:
                line = text.count("\n", 0, m.start()) + 1
                raise SourceError(
                    f"{rel}:{line}: unknown post-renderer {script}; add a render stage that does "
                    "its work and list it in render/source.py KNOWN_POST_RENDERERS"
                )
            done.append(f"{rel}: {script} -> {KNOWN_POST_RENDERERS[script]}")
        child.write_text(_POST_RENDERER.sub("", text), encoding="utf-8")
    return done


def prepare(loaded: LoadedInstance, dest: Path, runner: Runner) -> PreparedSource:
    ref, sha = fetch(loaded, dest, runner)
    files = resolve_namespace(dest, loaded.instance.namespace)
    neutralised = neutralise_post_renderers(dest)
    version = loaded.instance.opendesk.version
    neutralised += stabilise_timestamps(
        dest, f"openDesk {version} ({sha.removeprefix('tree:')[:12]})"
    )
    return PreparedSource(dest, ref, sha, neutralised, files)
