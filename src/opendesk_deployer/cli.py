"""The `opendesk-deployer` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from opendesk_deployer import __version__, console, logs, redaction
from opendesk_deployer.config import ConfigError, Instance, load_instance
from opendesk_deployer.rig.cli import dev_app
from opendesk_deployer.runner import CommandError

app = typer.Typer(
    help="Render, push and operate openDesk instances on Kubernetes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(
    help="Instance configuration: schema and validation.", no_args_is_help=True
)
app.add_typer(config_app, name="config")
app.add_typer(dev_app, name="dev")


class UserError(Exception):
    """A failure the user can act on; printed as one message, exit code 1."""


@app.callback()
def _root(
    log_level: Annotated[
        str, typer.Option(envvar="OPENDESK_LOG_LEVEL", help="Log level.")
    ] = "WARNING",
    log_json: Annotated[bool, typer.Option(help="Logs as JSON lines on stderr.")] = True,
) -> None:
    logs.configure(log_level, json=log_json)


@app.command()
def version() -> None:
    """Print the deployer's version."""
    console.say(__version__)


@app.command()
def doctor() -> None:
    """Check each external tool: path, version, supported range. Exit 1 when one is not fine."""
    from opendesk_deployer import doctor as doctor_mod

    findings = doctor_mod.run()
    width = max(len(f.tool) for f in findings)
    for f in findings:
        status = "ok" if f.problem is None else "FAIL"
        console.say(f"{f.tool:<{width}}  {status:<4}  {f.version or '-':<9}  {f.path or '-'}")
    bad = [f for f in findings if f.problem]
    for f in bad:
        console.warn(f"doctor: {f.problem}")
    if bad:
        raise typer.Exit(1)


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the instance file."""
    schema = Instance.model_json_schema(by_alias=True)
    sys.stdout.write(json.dumps(schema, indent=2, sort_keys=True) + "\n")


@config_app.command("validate")
def config_validate(
    file: Annotated[Path, typer.Argument(help="Instance file (YAML).")],
    runtime_state: Annotated[
        bool, typer.Option(help="Also require a valid runtime-state file (the input gate).")
    ] = True,
) -> None:
    """Validate an instance file and the runtime-state file it names."""
    loaded = load_instance(file, require_runtime_state=runtime_state)
    i = loaded.instance
    console.say(
        f"{loaded.file}: valid (instance {i.customer_id}/{i.project_id}/{i.instance_id}, "
        f"openDesk {i.opendesk.version}, namespace {i.namespace})"
    )
    if loaded.runtime_state is not None:
        console.say(
            f"{loaded.runtime_state_file}: valid (provider {loaded.runtime_state.provider})"
        )


@app.command()
def render(
    instance: Annotated[Path, typer.Option("--instance", "-i", help="Instance file (YAML).")],
    repo: Annotated[
        str | None,
        typer.Option(help="Repository path or URL; overrides the instance's git.repository."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the diff instead of pushing.")
    ] = False,
    report_file: Annotated[
        Path | None,
        typer.Option("--report", help="Write the render report (every change, by stage) as JSON."),
    ] = None,
) -> None:
    """Render openDesk for an instance and push one directory and one Application per release."""
    from opendesk_deployer.render import pipeline

    loaded = load_instance(instance)
    with console.err.status("rendering", spinner="dots") as status:
        try:
            report = pipeline.render(
                loaded,
                repo_override=repo,
                dry_run=dry_run,
                progress=lambda msg: status.update(f"render: {msg}"),
            )
        except pipeline.RenderError as exc:
            raise UserError(f"render failed: {exc}") from None
    if report_file is not None:
        payload = {
            "instance": report.instance,
            "opendeskVersion": report.opendesk_version,
            "sourceSha": report.source_sha,
            "releases": report.releases,
            "changes": [c.as_dict() for c in report.changes],
            "stageSeconds": report.stage_seconds,
            "seconds": report.seconds,
            "commit": report.publish.commit if report.publish else None,
        }
        report_file.write_text(
            redaction.redact(json.dumps(payload, indent=2, sort_keys=True)) + "\n"
        )
    width = max((len(r) for r in report.releases), default=7)
    console.say(f"{'release':<{width}}  wave  documents  patches")
    for name, r in sorted(report.releases.items(), key=lambda kv: (kv[1]["wave"], kv[0])):
        console.say(f"{name:<{width}}  {r['wave']:>4}  {r['documents']:>9}  {r['changes']:>7}")
    total = sum(r["documents"] for r in report.releases.values())
    console.say(
        f"{len(report.releases)} releases, {total} documents, {len(report.changes)} changes by "
        f"stages; openDesk {report.opendesk_version} ({report.source_sha[:19]})"
    )
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
    console.say(f"timing: {timing}")
    pub = report.publish
    assert pub is not None
    if dry_run:
        if pub.changed:
            sys.stdout.write(redaction.redact(pub.diff))
        console.say(
            f"dry run: {'changes' if pub.changed else 'no changes'} for {pub.repository} ({pub.branch})"
        )
    elif pub.commit:
        created = " (new bare repository)" if pub.created_repository else ""
        console.say(f"pushed {pub.commit[:12]} to {pub.repository}{created} branch {pub.branch}")
    else:
        console.say(f"no changes: {pub.repository} branch {pub.branch} is up to date")


def main() -> None:
    """Entry point: no traceback reaches the user; known errors print one clear message.
    Usage errors are typer's own (exit 2)."""
    try:
        app()
    except (ConfigError, CommandError, UserError) as exc:
        console.warn(f"error: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        console.warn("interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("OPENDESK_DEBUG"):
            raise
        console.warn(f"internal error: {type(exc).__name__}: {redaction.redact(str(exc))}")
        console.warn("set OPENDESK_DEBUG=1 to see the traceback")
        sys.exit(70)


if __name__ == "__main__":
    main()
