"""Shared fixtures. Every test gets its own state and cache-free environment for secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opendesk_deployer import redaction
from support.oci_registry import stub_registry  # noqa: F401  (session fixture for all modules)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__import__("os").environ.get("OPENDESK_SHARED", REPO.parent / "shared"))
EXAMPLES = REPO / "examples"
MINI_OPENDESK = REPO / "tests" / "fixtures" / "mini-opendesk"


def copy_demo(dest: Path, repository: str = "repos/demo.git") -> Path:
    """The demo instance and its runtime state in `dest`, pointing at the mini-openDesk fixture
    and at `repository` (relative to `dest`, or a URL) instead of the dev stack's repository."""
    import shutil

    for name in ("demo-instance.yaml", "runtime-state.json"):
        shutil.copy(EXAMPLES / name, dest / name)
    f = dest / "demo-instance.yaml"
    text = f.read_text().replace("../tests/fixtures/mini-opendesk", str(MINI_OPENDESK))
    f.write_text(text.replace("../.run/gitops/demo.git", repository))
    return f


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("OPENDESK_STATE_DIR", str(state))
    monkeypatch.delenv("OPENDESK_MASTER_PASSWORD", raising=False)
    yield
    redaction.forget_all()
