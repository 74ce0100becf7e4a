"""The local cluster rig, brought up once per test session and torn down at its end.

Set OPENDESK_RIG=off to skip every test that needs it (the skip says so); nothing else skips.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from opendesk_deployer.rig import kube
from opendesk_deployer.rig.cluster import Rig

RIG_DISABLED = os.environ.get("OPENDESK_RIG", "").strip().lower() in ("off", "0", "false", "no")
SKIP_REASON = "local cluster rig disabled by OPENDESK_RIG=off"


def _progress(message: str) -> None:
    sys.stderr.write(message + "\n")


@pytest.fixture(scope="session")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """A running rig in its own state dir (the per-test OPENDESK_STATE_DIR is not used)."""
    if RIG_DISABLED:
        pytest.skip(SKIP_REASON)
    state = tmp_path_factory.mktemp("rig")
    r = Rig(state, progress=_progress)
    r.up(timeout=600)
    yield r
    r.down()


@pytest.fixture(scope="session")
def api(rig: Rig) -> client.ApiClient:
    return kube.api_client(rig.kubeconfig)


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def rig_disabled_guard() -> None:
    """For tests that start their own rig instead of using the session one."""
    if RIG_DISABLED:
        pytest.skip(SKIP_REASON)
