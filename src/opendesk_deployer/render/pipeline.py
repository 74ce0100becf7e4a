"""Steps 06–10 in one call: clone → values → derived secrets → helmfile → stage chain →
Applications and waves → CRD validation → the instance folder → one git commit."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opendesk_deployer import __version__, logs, redaction
from opendesk_deployer.config import master_password
from opendesk_deployer.config.errors import ConfigError
from opendesk_deployer.config.loader import LoadedInstance
from opendesk_deployer.config.model import Instance
from opendesk_deployer.gitops import applications, crd_schema, layout, release_graph
from opendesk_deployer.gitops.repository import PublishResult, Repository, is_remote
from opendesk_deployer.render import chain, derived_secrets, document, helmfile, source, values
from opendesk_deployer.render.stage import Change, RenderContext, StageError
from opendesk_deployer.render.stages import eso
from opendesk_deployer.render.stages.inventory import Inventory
from opendesk_deployer.runner import Runner

log = logs.get("render")


class RenderError(Exception):
    """A render that failed for a reason the operator can act on."""


@dataclass
class RenderReport:
    instance: str
    opendesk_version: str
    source_sha: str
    releases: dict[str, dict[str, Any]]  # release -> documents, wave, changes
    changes: list[Change]
    stage_seconds: dict[str, float]
    seconds: dict[str, float] = field(default_factory=dict)
    publish: PublishResult | None = None
    files: dict[str, str] = field(default_factory=dict)


def repository_location(loaded: LoadedInstance, override: str | None) -> str:
    repo = override or loaded.instance.git.repository
    if is_remote(repo):
        return repo
    if override:
        return str(Path(override).expanduser().resolve())
    return str(loaded.resolve(repo))


def tool_versions(runner: Runner) -> dict[str, str]:
    from opendesk_deployer import toolchain

    return {t: toolchain.tool(t).pinned or "" for t in ("helm", "helmfile")}


def input_hash(loaded: LoadedInstance, prepared: source.PreparedSource, graph_file: Path) -> str:
    """What decides the output, minus secrets: instance config, source, graph, versions."""
    h = hashlib.sha256()
    config = loaded.instance.model_dump(mode="json", by_alias=True)
    h.update(json.dumps(config, sort_keys=True).encode())
    h.update(prepared.sha.encode())
    h.update(graph_file.read_bytes())
    h.update(__version__.encode())
    return "sha256:" + h.hexdigest()


PAYLOAD_FILE = "secrets-manager-payload.json"


def write_secrets_manager_payload(instance: Instance, payload: eso.Payload) -> Path:
    """The values the ExternalSecrets read, {remote key: {property: value}}, for the deployer's
    secrets-manager step: a 0600 file in the instance state directory, never git or the
    report. Written atomically, after the push."""
    target = master_password.instance_state_dir(instance) / PAYLOAD_FILE
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, sort_keys=True, indent=1)
    tmp.replace(target)
    return target


def render(
    loaded: LoadedInstance,
    *,
    runner: Runner | None = None,
    repo_override: str | None = None,
    dry_run: bool = False,
    graph_file: Path = release_graph.DEFAULT_FILE,
    work_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    required_patches: bool = True,
    repairs: bool = True,
) -> RenderReport:
    """`required_patches=False` lets a render of stub charts (tests) pass without the documents
    the catalog's required patches are written for. `repairs=False` switches the catalog, the
    repair stages and lint off (only the post-renderer's replacement and the inventory run): what
    the benchmark compares with a plain helmfile render; never for a real deploy."""
    runner = runner or Runner()
    instance = loaded.instance
    if loaded.runtime_state is None:
        raise RenderError(
            f"{loaded.file}: no runtime state loaded; the runtime state is the input gate"
        )
    graph = release_graph.load(graph_file)
    pw = master_password.resolve(instance).get_secret_value()
    owns_work = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="opendesk-render-")) if work_dir is None else work_dir
    work.chmod(0o700)
    seconds: dict[str, float] = {}
    paused = contextlib.ExitStack()
    try:
        import time

        t0 = time.perf_counter()
        progress("clone openDesk source")
        prepared = source.prepare(loaded, work / "opendesk", runner)
        progress("generate helmfile values and derived secrets")
        values.write(instance, prepared.root)
        derived = derived_secrets.replace_secrets_file(
            prepared.root,
            pw,
            cache_file=master_password.instance_state_dir(instance) / "derived-secrets.json",
        )
        seconds["prepare"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        progress("helmfile template")
        out = work / "rendered"
        helmfile.template(
            prepared.root, instance.environment, instance.namespace, out, runner, master_password=pw
        )
        seconds["helmfile"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        progress("stage chain")
        paused.enter_context(chain.gc_paused())  # until the layout is built
        docs = document.load_output_dir(out)
        ctx = RenderContext(instance, instance.opendesk.version, instance.namespace, work_dir=work)
        # Waves first: dedup keeps the earliest copy, eso puts the SecretStore in the earliest
        # release with an ExternalSecret. Stages add and drop documents, never releases.
        ctx.facts["release_waves"] = graph.waves({d.release for d in docs})
        stages = (
            chain.catalog_stages(ctx, enforce_required=required_patches, instance_file=loaded.file)
            if repairs
            else chain.unrepaired_stages()
        )
        result = chain.run(docs, ctx, stages)
        # The inventory stage runs at its seed position (before eso and redact turn Secrets
        # into ExternalSecrets); render-meta lists what is pushed.
        Inventory().run(result.documents, ctx)
        waves = graph.waves({d.release for d in result.documents})
        seconds["stages"] = time.perf_counter() - t0

        repo = repository_location(loaded, repo_override)
        argocd_repo = applications.repo_url(instance, repo)
        apps = {
            r: applications.release_application(instance, r, w, argocd_repo)
            for r, w in waves.items()
        }
        root_app = applications.app_of_apps(instance, argocd_repo)
        problems: list[str] = []
        for r, app in sorted(apps.items()):
            problems += crd_schema.validate(app, f"applications/{r}.yaml")
        problems += crd_schema.validate(root_app, "app-of-apps.yaml")
        if problems:
            raise RenderError(
                "Applications the API server would reject:\n  " + "\n  ".join(problems)
            )
        for d in result.documents:
            if d.api_version == eso.ESO_API and d.kind in ("ExternalSecret", "SecretStore"):
                problems += crd_schema.validate(d.body, f"releases/{d.release} {d.ref}")
        if problems:
            raise RenderError(
                "External Secrets objects the API server would reject:\n  " + "\n  ".join(problems)
            )
        payload: eso.Payload = ctx.facts.get(eso.PAYLOAD) or {}

        changes_by_release: dict[str, list[Change]] = {}
        for c in result.changes:
            changes_by_release.setdefault(c.release, []).append(c)
        meta: dict[str, Any] = {
            "apiVersion": "opendesk-deployer/v1",
            "kind": "RenderMeta",
            "instance": {
                "customerId": instance.customer_id,
                "projectId": instance.project_id,
                "instanceId": instance.instance_id,
                "environment": instance.environment,
                "namespace": instance.namespace,
            },
            "opendesk": {
                "version": instance.opendesk.version,
                "sourceRef": prepared.ref,
                "sourceSha": prepared.sha,
                "postRenderersNeutralised": prepared.neutralised,
                "derivedSecrets": derived,
            },
            "deployer": {"version": __version__},
            "tools": tool_versions(runner),
            "inputHash": input_hash(loaded, prepared, graph_file),
            "stages": list(result.seconds),
            "releases": {
                r: {
                    "wave": waves[r],
                    "inventory": ctx.facts.get("inventory", {}).get(r, []),
                    "patchesApplied": sorted(
                        {f"{c.stage}: {c.why}" for c in changes_by_release.get(r, [])}
                    ),
                }
                for r in waves
            },
        }
        if instance.secrets_manager is not None:
            # Where the values are, never the values: they go to the secrets manager.
            meta["secretsManager"] = {
                "store": eso.STORE_NAME,
                "remoteKeys": sorted(payload),
            }
        files = layout.build(meta, result.documents, apps, root_app)
        paused.close()
        progress("push rendered manifests" if not dry_run else "diff against the repository")
        t0 = time.perf_counter()
        published = Repository(repo, runner).publish(
            instance.git.branch,
            instance.git_path,
            files,
            f"render {instance.customer_id}/{instance.instance_id}: openDesk "
            f"{instance.opendesk.version} ({prepared.sha[:12]})",
            work / "gitops",
            dry_run=dry_run,
        )
        seconds["publish"] = time.perf_counter() - t0
        # A dry run's diff shows Secrets (no secrets manager): their values are registered.
        published.diff = redaction.redact(published.diff)
        if payload and not dry_run:
            write_secrets_manager_payload(instance, payload)
        releases_report = {
            r: {
                "documents": meta["releases"][r]["documents"],
                "wave": waves[r],
                "changes": len(changes_by_release.get(r, [])),
            }
            for r in waves
        }
        return RenderReport(
            f"{instance.customer_id}/{instance.instance_id}",
            instance.opendesk.version,
            prepared.sha,
            releases_report,
            result.changes,
            result.seconds,
            seconds,
            published,
            files,
        )
    except (
        ConfigError,
        StageError,
        release_graph.GraphError,
        source.SourceError,
        values.ValuesError,
        document.DocumentError,
        crd_schema.SchemaError,
        derived_secrets.DerivedSecretsError,
    ) as exc:
        raise RenderError(str(exc)) from None
    finally:
        paused.close()
        if owns_work:
            shutil.rmtree(work, ignore_errors=True)
