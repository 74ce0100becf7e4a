"""`opendesk-deployer dev cluster up|down|status`: the local Kubernetes rig."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from opendesk_deployer import console

if TYPE_CHECKING:
    from opendesk_deployer.rig.cluster import Rig

DEFAULT_NAME = "opendesk-rig"  # the same as rig.cluster.DEFAULT_NAME (not imported: startup time)

dev_app = typer.Typer(help="Local development helpers.", no_args_is_help=True)
cluster_app = typer.Typer(
    help="The local Kubernetes rig: real API server, kwok nodes, CRDs, git server on loopback.",
    no_args_is_help=True,
)
dev_app.add_typer(cluster_app, name="cluster")

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="OPENDESK_RIG_DIR",
        help="Rig state directory (default: <OPENDESK_STATE_DIR>/rig).",
    ),
]
CrdsDir = Annotated[
    Path | None,
    typer.Option(
        "--crds-dir",
        envvar="OPENDESK_CRDS_DIR",
        help="CRDs to install (default: <repo>/../shared/crds).",
    ),
]
Name = Annotated[str, typer.Option("--name", help="kwok cluster name.")]


def _rig(state_dir: Path | None, crds_dir: Path | None, name: str, nodes: int = 2) -> Rig:
    from opendesk_deployer.rig.cluster import Rig

    return Rig(state_dir, crds_dir=crds_dir, name=name, nodes=nodes, progress=console.warn)


@cluster_app.command("up")
def up(
    state_dir: StateDir = None,
    crds_dir: CrdsDir = None,
    name: Name = DEFAULT_NAME,
    nodes: Annotated[int, typer.Option(min=1, help="kwok nodes.")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 300,
    keep_on_failure: Annotated[
        bool, typer.Option(help="Leave the processes running when up fails.")
    ] = False,
) -> None:
    """Build what is missing, start the rig, exit 0 once the API answers, the nodes are Ready
    and the CRDs are established. Prints `kubeconfig: <path>`."""
    from opendesk_deployer.rig.cluster import RigError

    rig = _rig(state_dir, crds_dir, name, nodes)
    try:
        status = rig.up(timeout=timeout, keep_on_failure=keep_on_failure)
    except RigError as exc:
        console.warn(f"error: {exc}")
        raise typer.Exit(1) from None
    for line in status.lines():
        console.say(line)


@cluster_app.command("status")
def status(
    state_dir: StateDir = None,
    crds_dir: CrdsDir = None,
    name: Name = DEFAULT_NAME,
) -> None:
    """`kubeconfig: <path>` and each component's state and address; exit 1 unless healthy."""
    st = _rig(state_dir, crds_dir, name).status()
    for line in st.lines():
        console.say(line)
    if not st.healthy:
        raise typer.Exit(1)


@cluster_app.command("down")
def down(
    state_dir: StateDir = None,
    crds_dir: CrdsDir = None,
    name: Name = DEFAULT_NAME,
) -> None:
    """Stop every process `up` started (safe to run twice). Logs stay in <state-dir>/logs."""
    stopped = _rig(state_dir, crds_dir, name).down()
    if stopped:
        for s in stopped:
            console.say(f"stopped {s}")
    else:
        console.say("rig: nothing was running")
