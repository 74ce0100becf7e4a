"""Steps 06–10 in one call: clone → values → derived secrets → helmfile → stage chain →
Applications and waves → CRD validation → the instance folder → one git commit."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opendesk_deployer import __version__, logs
from opendesk_deployer.config import master_password
from opendesk_deployer.config.loader import LoadedInstance
from opendesk_deployer.gitops import applications, crd_schema, layout, release_graph
from opendesk_deployer.gitops.repository import PublishResult, Repository, is_remote
from opendesk_deployer.render import chain, derived_secrets, document, helmfile, source, values
from opendesk_deployer.render.stage import Change, RenderContext, StageError
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


def render(
    loaded: LoadedInstance,
    *,
    runner: Runner | None = None,
    repo_override: str | None = None,
    dry_run: bool = False,
    graph_file: Path = release_graph.DEFAULT_FILE,
    work_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> RenderReport:
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
        docs = document.load_output_dir(out)
        ctx = RenderContext(instance, instance.opendesk.version, instance.namespace, work_dir=work)
        result = chain.run(docs, ctx)
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
        files = layout.build(meta, result.documents, apps, root_app)
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
        if owns_work:
            shutil.rmtree(work, ignore_errors=True)
