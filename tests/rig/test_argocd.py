"""The real Argo CD (controller and repo server of the pinned build) on the rig, driven through the
Kubernetes API alone: syncs from the rig's git server, refresh, `.operation` syncs, the resources
finalizer, app-of-apps waves with the Application health check, and a sync failure."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from opendesk_deployer import toolchain
from opendesk_deployer.rig import argocd, kube, procs
from opendesk_deployer.rig.cluster import Rig, default_crds_dir
from opendesk_deployer.runner import Runner

WAIT = 240.0  # per wait: a 2-core machine with other work running
IMAGE = "registry.invalid/app:1"  # never pulled: kwok simulates the containers
GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "applications"
IN_CLUSTER = "https://kubernetes.default.svc"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
SSA_MANAGER = "argocd-controller"  # Argo CD's field manager for server-side apply

Obj = dict[str, Any]


# -- git: releases pushed to the rig's GitOps repository -------------------------------------


class GitOpsBranch:
    """A branch of the rig's GitOps repository (the one the repository Secret names), written
    from a local work tree: `push({path: documents})` commits and pushes, returns the sha."""

    def __init__(self, rig: Rig, work: Path) -> None:
        self.url = rig.git_url(argocd.GITOPS_REPO)
        self.branch = f"t-{uuid.uuid4().hex[:8]}"
        self.work = work
        self.git = Runner()
        self.git.run("git", ["init", "--quiet", f"--initial-branch={self.branch}", str(work)])

    def push(self, files: dict[str, list[Obj]], message: str = "release") -> str:
        for rel, docs in files.items():
            path = self.work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        ident = ["-c", "user.name=Rig Test", "-c", "user.email=rig@example.test"]
        self.git.run("git", ["-C", str(self.work), "add", "--all"])
        self.git.run("git", ["-C", str(self.work), *ident, "commit", "--quiet", "-m", message])
        self.git.run(
            "git", ["-C", str(self.work), "push", "--quiet", self.url, self.branch], timeout=60
        )
        return self.git.run("git", ["-C", str(self.work), "rev-parse", "HEAD"]).stdout.strip()


@pytest.fixture
def gitops(rig: Rig, tmp_path: Path) -> GitOpsBranch:
    return GitOpsBranch(rig, tmp_path / "gitops")


# -- Applications through the Kubernetes API -------------------------------------------------


def application(
    name: str,
    branch: GitOpsBranch,
    path: str,
    namespace: str,
    *,
    automated: bool = True,
    wave: int | None = None,
    retry_limit: int | None = None,
) -> Obj:
    """An Application as the deployer writes one (opendesk-facts §5)."""
    sync_policy: Obj = {"syncOptions": ["ServerSideApply=true", "CreateNamespace=true"]}
    if automated:
        sync_policy["automated"] = {"prune": True, "selfHeal": True}
    if retry_limit is not None:
        sync_policy["retry"] = {"limit": retry_limit}
    meta: Obj = {"name": name, "namespace": argocd.NAMESPACE, "finalizers": [FINALIZER]}
    if wave is not None:
        meta["annotations"] = {"argocd.argoproj.io/sync-wave": str(wave)}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Application",
        "metadata": meta,
        "spec": {
            "project": "default",
            "source": {
                "repoURL": branch.url,
                "targetRevision": branch.branch,
                "path": path,
                "directory": {"recurse": True},
            },
            "destination": {"server": IN_CLUSTER, "namespace": namespace},
            "syncPolicy": sync_policy,
        },
    }


def summary(app: Obj | None) -> str:
    """What a failed wait shows: sync, health, operation phase and message, conditions."""
    if not app:
        return "the Application does not exist"
    st = app.get("status") or {}
    op = st.get("operationState") or {}
    conds = "; ".join(f"{c.get('type')}: {c.get('message')}" for c in st.get("conditions") or [])
    return (
        f"sync={(st.get('sync') or {}).get('status')} "
        f"revision={(st.get('sync') or {}).get('revision')} "
        f"health={(st.get('health') or {}).get('status')} "
        f"phase={op.get('phase')} message={op.get('message')!r} conditions=[{conds}]"
    )


class Apps:
    """Create, read, patch, delete and wait for Applications in the `argocd` namespace."""

    def __init__(self, api: client.ApiClient) -> None:
        self.co = client.CustomObjectsApi(api)
        self.created: list[str] = []

    def create(self, app: Obj) -> None:
        self.co.create_namespaced_custom_object(GROUP, VERSION, argocd.NAMESPACE, PLURAL, app)
        self.created.append(app["metadata"]["name"])

    def get(self, name: str) -> Obj:
        obj: Obj = self.co.get_namespaced_custom_object(
            GROUP, VERSION, argocd.NAMESPACE, PLURAL, name
        )
        return obj

    def merge_patch(self, name: str, body: Obj) -> None:
        self.co.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            argocd.NAMESPACE,
            PLURAL,
            name,
            body,
            _content_type="application/merge-patch+json",
        )

    def delete(self, name: str) -> None:
        self.co.delete_namespaced_custom_object(GROUP, VERSION, argocd.NAMESPACE, PLURAL, name)

    def _list(self, **kw: Any) -> Any:
        return self.co.list_namespaced_custom_object(GROUP, VERSION, argocd.NAMESPACE, PLURAL, **kw)

    def wait(self, name: str, done: Callable[[Obj], bool], what: str, timeout: float = WAIT) -> Obj:
        key = f"{argocd.NAMESPACE}/{name}"
        objs = kube.wait_for(
            self._list,
            lambda o: key in o and done(o[key]),
            timeout=timeout,
            what=f"Application {name}: {what}",
            missing=lambda o: summary(o.get(key)),
            field_selector=f"metadata.name={name}",
        )
        return objs[key]

    def wait_gone(self, name: str, timeout: float = WAIT) -> None:
        key = f"{argocd.NAMESPACE}/{name}"
        kube.wait_for(
            self._list,
            lambda o: key not in o,
            timeout=timeout,
            what=f"Application {name} to be deleted",
            missing=lambda o: summary(o.get(key)),
            field_selector=f"metadata.name={name}",
        )


@pytest.fixture
def apps(api: client.ApiClient) -> Iterator[Apps]:
    a = Apps(api)
    yield a
    for name in reversed(a.created):  # with the finalizer: their resources go with them
        try:
            a.delete(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


def synced_healthy_at(sha: str) -> Callable[[Obj], bool]:
    def done(app: Obj) -> bool:
        st = app.get("status") or {}
        op = st.get("operationState") or {}
        return bool(
            (st.get("sync") or {}).get("status") == "Synced"
            and (st.get("health") or {}).get("status") == "Healthy"
            and op.get("phase") == "Succeeded"
            and (op.get("syncResult") or {}).get("revision") == sha
        )

    return done


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- manifests ------------------------------------------------------------------------------


def deployment(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": IMAGE}]},
            },
            **spec,
        },
    }


def config_map(name: str, greeting: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"greeting": greeting},
    }


def release(prefix: str, greeting: str = "hello") -> dict[str, list[Obj]]:
    """A small Helm-rendered-like release: Deployment, Service, ConfigMap, post-install Job."""
    return {
        f"{prefix}/deployment.yaml": [deployment("web")],
        f"{prefix}/service.yaml": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
            }
        ],
        f"{prefix}/configmap.yaml": [config_map("web-config", greeting)],
        f"{prefix}/job.yaml": [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "name": "web-post-install",
                    "annotations": {"helm.sh/hook": "post-install"},
                },
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "job", "image": IMAGE}],
                        }
                    },
                },
            }
        ],
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# -- tests (all but the last need the rig) --------------------------------------------------


@pytest.mark.rig
def test_argocd_components_run_and_listen_on_loopback_but_the_metrics_port(
    rig: Rig, api: client.ApiClient
) -> None:
    st = rig.status()
    assert st.healthy, "\n".join(st.lines())
    by = {c.name: c for c in st.components}
    for name in argocd.COMPONENTS:
        assert by[name].state == "running" and by[name].pid, st.lines()
    assert by[argocd.REDIS].address.startswith("redis://127.0.0.1:")
    assert by[argocd.REPO_SERVER].address.startswith("grpc+tls://127.0.0.1:")
    assert by[argocd.CONTROLLER].address.startswith("http://0.0.0.0:")
    assert by[argocd.CONTROLLER].detail.startswith(toolchain.pins()["ARGOCD_VERSION"])

    listeners = procs.listeners_of([p for n in argocd.COMPONENTS if (p := by[n].pid)])
    assert len(listeners) == 4, listeners  # redis; repo server gRPC + metrics; controller metrics
    elsewhere = [(pid, port) for pid, addr, port in listeners if addr != "127.0.0.1"]
    # the one documented exception: the controller's metrics port on every interface
    assert elsewhere == rig.loopback_exceptions(), listeners
    ctrl_port = int(by[argocd.CONTROLLER].address.rsplit(":", 1)[1])
    assert elsewhere == [(by[argocd.CONTROLLER].pid, ctrl_port)]
    wildcard = {"0.0.0.0", "[0:0:0:0:0:0:0:0]"}  # noqa: S104 (what /proc shows for it)
    assert next(a for _p, a, port in listeners if port == ctrl_port) in wildcard

    core = client.CoreV1Api(api)
    cm = core.read_namespaced_config_map("argocd-cm", argocd.NAMESPACE)
    assert cm.data["resource.customizations.health.argoproj.io_Application"].startswith("hs = {}")
    assert cm.data["timeout.reconciliation"] == argocd.RECONCILIATION_TIMEOUT
    core.read_namespaced_secret("argocd-secret", argocd.NAMESPACE)
    core.read_namespaced_config_map("argocd-rbac-cm", argocd.NAMESPACE)
    repos = core.list_namespaced_secret(
        argocd.NAMESPACE, label_selector="argocd.argoproj.io/secret-type=repository"
    ).items
    urls = [base64.b64decode(s.data["url"]).decode() for s in repos]
    assert urls == [rig.git_url(argocd.GITOPS_REPO)]


@pytest.fixture
def synced_release(
    rig: Rig, apps: Apps, gitops: GitOpsBranch
) -> tuple[str, str, str, GitOpsBranch]:
    """(app name, namespace, pushed sha, branch) of a release Argo CD synced automatically."""
    name, ns = unique("rel"), unique("ns-rel")
    sha = gitops.push(release("web"))
    apps.create(application(name, gitops, "web", ns))
    apps.wait(name, synced_healthy_at(sha), f"Synced, Healthy, Succeeded at {sha[:8]}")
    return name, ns, sha, gitops


@pytest.mark.rig
def test_release_is_synced_and_healthy_at_the_pushed_commit(
    api: client.ApiClient, apps: Apps, synced_release: tuple[str, str, str, GitOpsBranch]
) -> None:
    name, ns, sha, _branch = synced_release
    app = apps.get(name)
    st = app["status"]
    assert st["sync"]["status"] == "Synced"
    assert st["sync"]["revision"] == sha
    assert st["health"]["status"] == "Healthy"
    op = st["operationState"]
    assert op["phase"] == "Succeeded"
    assert op["syncResult"]["revision"] == sha
    assert op["operation"]["initiatedBy"] == {"automated": True}
    results = {(r["kind"], r["name"]): r for r in op["syncResult"]["resources"]}
    for kind, rname in (("Deployment", "web"), ("Service", "web"), ("ConfigMap", "web-config")):
        assert results[(kind, rname)]["status"] == "Synced", results
        assert "serverside-applied" in results[(kind, rname)]["message"]
    # the Helm post-install hook ran as an Argo CD PostSync hook, after the Sync phase
    job = results[("Job", "web-post-install")]
    assert (job["hookType"], job["hookPhase"]) == ("PostSync", "Succeeded"), job

    apps_api = client.AppsV1Api(api)
    dep = apps_api.read_namespaced_deployment("web", ns)
    assert {c.type: c.status for c in dep.status.conditions}["Available"] == "True"
    managers = {(m.manager, m.operation) for m in dep.metadata.managed_fields}
    assert (SSA_MANAGER, "Apply") in managers, managers  # server-side apply
    batch = client.BatchV1Api(api)
    assert batch.read_namespaced_job("web-post-install", ns).status.succeeded == 1
    cm = client.CoreV1Api(api).read_namespaced_config_map("web-config", ns)
    assert cm.data == {"greeting": "hello"}


@pytest.mark.rig
def test_hard_refresh_annotation_is_handled_and_removed(
    apps: Apps, synced_release: tuple[str, str, str, GitOpsBranch]
) -> None:
    name = synced_release[0]
    time.sleep(1.1)  # reconciledAt has second precision
    asked = datetime.now().astimezone()
    apps.merge_patch(name, {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}})
    app = apps.wait(
        name,
        lambda a: "argocd.argoproj.io/refresh" not in (a["metadata"].get("annotations") or {}),
        "the controller to remove the refresh annotation",
    )
    assert ts(app["status"]["reconciledAt"]) >= asked.replace(microsecond=0)
    assert app["status"]["sync"]["status"] == "Synced"


@pytest.mark.rig
def test_sync_triggered_by_writing_operation(
    api: client.ApiClient, apps: Apps, gitops: GitOpsBranch
) -> None:
    name, ns = unique("op"), unique("ns-op")
    first = gitops.push({"cfg/configmap.yaml": [config_map("settings", "one")]}, "one")
    apps.create(application(name, gitops, "cfg", ns, automated=False))
    app = apps.wait(
        name,
        lambda a: ((a.get("status") or {}).get("sync") or {}).get("status") == "OutOfSync",
        "compared (OutOfSync) without syncing",
    )
    assert "operationState" not in app["status"]  # manual: nothing synced by itself

    core = client.CoreV1Api(api)

    def sync_to(sha: str) -> Obj:
        """Write `.operation` (opendesk-facts §5), wait for the controller to run and clear it."""
        apps.merge_patch(
            name,
            {
                "operation": {
                    "initiatedBy": {"username": "deployer"},
                    "info": [{"name": "reason", "value": "deploy"}],
                    "sync": {
                        "revision": sha,
                        "prune": True,
                        "syncStrategy": {"hook": {}},
                        "syncOptions": ["ServerSideApply=true", "CreateNamespace=true"],
                    },
                    "retry": {"limit": 3},
                }
            },
        )

        def done(a: Obj) -> bool:
            op = (a.get("status") or {}).get("operationState") or {}
            return bool(
                "operation" not in a
                and op.get("phase") == "Succeeded"
                and (op.get("syncResult") or {}).get("revision") == sha
            )

        app = apps.wait(name, done, f"the written operation to sync {sha[:8]}")
        op = app["status"]["operationState"]
        assert op["operation"]["initiatedBy"] == {"username": "deployer"}
        assert op["operation"]["sync"]["revision"] == sha
        return app

    sync_to(first)
    assert core.read_namespaced_config_map("settings", ns).data == {"greeting": "one"}
    second = gitops.push({"cfg/configmap.yaml": [config_map("settings", "two")]}, "two")
    app = sync_to(second)
    assert core.read_namespaced_config_map("settings", ns).data == {"greeting": "two"}
    assert [h["revision"] for h in app["status"]["history"]] == [first, second]


@pytest.mark.rig
def test_deleting_the_application_with_the_finalizer_removes_its_resources(
    api: client.ApiClient, apps: Apps, gitops: GitOpsBranch
) -> None:
    name, ns = unique("del"), unique("ns-del")
    sha = gitops.push(release("web"))
    apps.create(application(name, gitops, "web", ns))
    apps.wait(name, synced_healthy_at(sha), "Synced and Healthy")
    core, apps_api = client.CoreV1Api(api), client.AppsV1Api(api)
    assert apps_api.read_namespaced_deployment("web", ns)

    apps.delete(name)
    apps.wait_gone(name)  # the finalizer is removed once the resources are deleted
    batch = client.BatchV1Api(api)
    for what, list_fn in (
        ("Deployments", apps_api.list_namespaced_deployment),
        ("Services", core.list_namespaced_service),
        ("ConfigMaps", core.list_namespaced_config_map),
        ("Jobs (the hook)", batch.list_namespaced_job),
    ):
        kube.wait_for(
            list_fn,
            # kube-root-ca.crt is the namespace's own ConfigMap, not the release's
            lambda o: set(o) <= {f"{ns}/kube-root-ca.crt"},
            namespace=ns,
            timeout=WAIT,
            what=f"{what} of the deleted Application to be gone",
            missing=lambda o: ", ".join(o),
        )


@pytest.mark.rig
def test_app_of_apps_syncs_wave_1_only_after_wave_0_is_healthy(
    api: client.ApiClient, apps: Apps, gitops: GitOpsBranch
) -> None:
    parent = unique("parent")
    slow, fast = f"{parent}-w0", f"{parent}-w1"
    ns_slow, ns_fast = unique("ns-w0"), unique("ns-w1")
    min_ready = 15  # the wave-0 Deployment is Available (Healthy) only 15 s after its pod is Ready
    sha = gitops.push(
        {
            "slow/deployment.yaml": [deployment("slow", minReadySeconds=min_ready)],
            "fast/configmap.yaml": [config_map("fast", "after wave 0")],
            "apps/children.yaml": [
                application(slow, gitops, "slow", ns_slow, wave=0),
                application(fast, gitops, "fast", ns_fast, wave=1),
            ],
        }
    )
    apps.create(application(parent, gitops, "apps", argocd.NAMESPACE))
    # teardown deletes the parent: its finalizer deletes the children, theirs their resources
    done = apps.wait(parent, synced_healthy_at(sha), "app-of-apps Synced and Healthy")

    # the parent waits for health only (the Lua check): a child may still be finishing its sync
    w0, w1 = (apps.wait(c, synced_healthy_at(sha), "Synced and Healthy") for c in (slow, fast))
    w0_created = ts(w0["metadata"]["creationTimestamp"])
    w0_healthy = ts(w0["status"]["health"]["lastTransitionTime"])
    w1_created = ts(w1["metadata"]["creationTimestamp"])
    w1_started = ts(w1["status"]["operationState"]["startedAt"])
    dep = client.AppsV1Api(api).read_namespaced_deployment("slow", ns_slow)
    available = next(c for c in dep.status.conditions if c.type == "Available")
    timeline = (
        f"w0 created {w0_created}, w0 Deployment Available {available.last_transition_time}, "
        f"w0 Healthy {w0_healthy}, w1 created {w1_created}, w1 sync started {w1_started}"
    )
    print(timeline)  # shown with -rP
    # the parent created the wave-1 child only once the wave-0 child was Healthy ...
    assert w1_created >= w0_healthy, timeline
    assert w1_created >= available.last_transition_time, timeline
    # ... which took the Deployment's minReadySeconds (timestamps have second precision)
    assert (w1_created - w0_created).total_seconds() >= min_ready - 1, timeline
    assert w1_started >= w0_healthy, timeline
    # the parent's first sync (history[0]) spanned both waves. (Its operationState may be a
    # later partial self-heal sync of the wave-1 child, which the parent compared as OutOfSync
    # while that sync was finishing: "Partial sync operation ... succeeded" in the log.)
    first = done["status"]["history"][0]
    assert first["revision"] == sha
    assert ts(first["deployStartedAt"]) <= w0_created, (first, timeline)
    assert ts(first["deployedAt"]) >= w0_healthy, (first, timeline)
    children = {r["name"]: r["status"] for r in done["status"]["resources"]}
    assert children == {slow: "Synced", fast: "Synced"}


@pytest.mark.rig
def test_broken_manifest_gives_a_sync_failure_with_the_api_servers_message(
    apps: Apps, gitops: GitOpsBranch
) -> None:
    name, ns = unique("bad"), unique("ns-bad")
    sha = gitops.push({"bad/deployment.yaml": [deployment("bad", replicas=-1)]})
    apps.create(application(name, gitops, "bad", ns, retry_limit=0))

    def failed(a: Obj) -> bool:
        st = a.get("status") or {}
        conditions = {c.get("type") for c in st.get("conditions") or []}
        phase = (st.get("operationState") or {}).get("phase")
        # the SyncError condition comes with the next reconciliation after the failed sync
        return phase == "Error" or (phase == "Failed" and "SyncError" in conditions)

    app = apps.wait(name, failed, "the sync to fail (and a SyncError condition)")
    op = app["status"]["operationState"]
    assert op["phase"] == "Failed"
    assert op["syncResult"]["revision"] == sha
    expected = "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    assert expected in op["message"], op["message"]
    failed = [r for r in op["syncResult"]["resources"] if r.get("status") == "SyncFailed"]
    assert [(r["kind"], r["name"]) for r in failed] == [("Deployment", "bad")]
    assert expected in failed[0]["message"]
    conditions = {c["type"]: c["message"] for c in app["status"].get("conditions") or []}
    assert expected in conditions.get("SyncError", ""), conditions
    assert app["status"]["sync"]["status"] == "OutOfSync"


@pytest.mark.parametrize("crd", ["application", "appproject", "applicationset"])
def test_pinned_argocd_crds_match_the_shared_ones(crd: str) -> None:
    """The rig installs ../shared/crds/argocd (v3.2.12); the controller is v3.2.11 (v3.2.12 as
    served does not compile). Their CRDs must be the same, the Application schema above all."""
    pinned = argocd.module_dir() / "manifests" / "crds" / f"{crd}-crd.yaml"
    shared = default_crds_dir() / "argocd" / f"{crd}-crd.yaml"
    [ours], [theirs] = kube.load_documents([pinned]), kube.load_documents([shared])

    def schemas(doc: Obj) -> dict[str, Obj]:
        return {v["name"]: v["schema"]["openAPIV3Schema"] for v in doc["spec"]["versions"]}

    assert schemas(ours) == schemas(theirs)
    assert ours == theirs
