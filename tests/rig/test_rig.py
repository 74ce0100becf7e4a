"""The local cluster rig against its real API server: workloads, leases, exec, logs, stand-ins,
CRDs and the git server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from opendesk_deployer import toolchain
from opendesk_deployer.rig import kube, procs
from opendesk_deployer.rig.cluster import POD_LOG_TEXT, Rig
from opendesk_deployer.runner import Runner

pytestmark = pytest.mark.rig

WAIT = 120.0
IMAGE = "registry.invalid/app:1"  # never pulled: kwok simulates the containers


def _labels(name: str) -> dict[str, Any]:
    return {"matchLabels": {"app": name}}


def _pod_template(name: str, restart: str = "Always") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "restartPolicy": restart,
            "containers": [{"name": "app", "image": IMAGE}],
        },
    }


def test_status_reports_every_component_on_loopback(rig: Rig) -> None:
    st = rig.status()
    assert st.healthy, "\n".join(st.lines())
    lines = st.lines()
    assert lines[0] == f"kubeconfig: {rig.kubeconfig}"
    assert rig.kubeconfig.is_absolute() and rig.kubeconfig.exists()
    by_name = {c.name: c for c in st.components}
    for name in (
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok-controller",
        "git-server",
    ):
        assert by_name[name].state == "running", lines
        assert "://127.0.0.1:" in by_name[name].address, lines
    assert by_name["kube-apiserver"].detail == toolchain.pins()["KUBERNETES_VERSION"]
    assert by_name["nodes"].state == "ready"
    assert by_name["crds"].state == "established"


def test_every_listener_binds_loopback(rig: Rig) -> None:
    listeners = procs.listeners_of(rig.status().pids())
    assert listeners, "the rig's processes hold no listening socket?"
    elsewhere = [(pid, port) for pid, addr, port in listeners if addr != "127.0.0.1"]
    # the one documented exception (README, docs/rig.md): the Argo CD controller's metrics
    # listener, hard-coded to 0.0.0.0 upstream
    assert len(rig.loopback_exceptions()) == 1
    assert elsewhere == rig.loopback_exceptions(), f"listeners not on 127.0.0.1: {listeners}"


def test_kubectl_with_printed_kubeconfig_shows_ready_nodes_and_crds(
    rig: Rig, tmp_path: Path
) -> None:
    kc = ["--kubeconfig", str(rig.kubeconfig), "--cache-dir", str(tmp_path / "kube-cache")]
    nodes = Runner().run("kubectl", [*kc, "get", "nodes", "--no-headers"]).stdout.splitlines()
    assert len(nodes) >= 2
    assert all(line.split()[1] == "Ready" for line in nodes), nodes
    crds = Runner().run("kubectl", [*kc, "get", "crd", "-o", "name"]).stdout
    for name in (
        "applications.argoproj.io",
        "applicationsets.argoproj.io",
        "appprojects.argoproj.io",
        "externalsecrets.external-secrets.io",
        "clustersecretstores.external-secrets.io",
        "certificates.cert-manager.io",
        "clusterissuers.cert-manager.io",
    ):
        assert f"customresourcedefinition.apiextensions.k8s.io/{name}" in crds


def test_deployment_statefulset_with_pvc_and_job_become_ready(
    api: client.ApiClient, namespace: str
) -> None:
    apps = client.AppsV1Api(api)
    batch = client.BatchV1Api(api)
    core = client.CoreV1Api(api)
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": _labels("web"), "template": _pod_template("web")},
        },
    )
    apps.create_namespaced_stateful_set(
        namespace,
        {
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": _labels("db"),
                "template": {
                    **_pod_template("db"),
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": IMAGE,
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            }
                        ]
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
            },
        },
    )
    batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "migrate"},
            "spec": {"backoffLimit": 0, "template": _pod_template("migrate", "Never")},
        },
    )

    kube.wait_for(
        apps.list_namespaced_deployment,
        lambda o: kube.condition(o.get(f"{namespace}/web", {}), "Available") == "True",
        namespace=namespace,
        timeout=WAIT,
        what="Deployment web Available",
    )
    kube.wait_for(
        apps.list_namespaced_stateful_set,
        lambda o: (o.get(f"{namespace}/db", {}).get("status") or {}).get("readyReplicas") == 2,
        namespace=namespace,
        timeout=WAIT,
        what="StatefulSet db ready",
    )
    kube.wait_for(
        batch.list_namespaced_job,
        lambda o: kube.condition(o.get(f"{namespace}/migrate", {}), "Complete") == "True",
        namespace=namespace,
        timeout=WAIT,
        what="Job migrate Complete",
    )
    pvcs = core.list_namespaced_persistent_volume_claim(namespace).items
    assert sorted(p.metadata.name for p in pvcs) == ["data-db-0", "data-db-1"]
    assert all(p.status.phase == "Bound" and p.spec.volume_name for p in pvcs)
    for p in pvcs:  # provisioned by the volume provisioner stand-in (kwok stages)
        pv = core.read_persistent_volume(p.spec.volume_name)
        assert pv.spec.claim_ref.name == p.metadata.name
        assert pv.spec.storage_class_name == "kwok-volume"


def test_loadbalancer_service_gets_loopback_ingress(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "edge"},
            "spec": {"type": "LoadBalancer", "selector": {"app": "edge"}, "ports": [{"port": 443}]},
        },
    )
    objs = kube.wait_for(
        core.list_namespaced_service,
        lambda o: bool(
            ((o.get(f"{namespace}/edge", {}).get("status") or {}).get("loadBalancer") or {}).get(
                "ingress"
            )
        ),
        namespace=namespace,
        timeout=WAIT,
        what="a load-balancer ingress",
    )
    assert objs[f"{namespace}/edge"]["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.0.0.1"


def test_ingress_gets_an_address_from_the_ingress_controller_standin(
    api: client.ApiClient, namespace: str
) -> None:
    """No ingress controller runs here: a kwok stage (stand-in) publishes 127.0.0.1 in the
    Ingress status, which Argo CD needs to call the Ingress Healthy."""
    net = client.NetworkingV1Api(api)
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    net.create_namespaced_ingress(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "rules": [
                    {
                        "host": "web.test",
                        "http": {
                            "paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]
                        },
                    }
                ]
            },
        },
    )
    objs = kube.wait_for(
        net.list_namespaced_ingress,
        lambda o: bool(
            ((o.get(f"{namespace}/web", {}).get("status") or {}).get("loadBalancer") or {}).get(
                "ingress"
            )
        ),
        namespace=namespace,
        timeout=WAIT,
        what="an ingress address",
    )
    assert objs[f"{namespace}/web"]["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.0.0.1"


def test_certificate_marked_ready_by_cert_manager_standin(
    api: client.ApiClient, namespace: str
) -> None:
    # cert-manager's controller does not run on the rig: the kwok stage
    # standin-cert-manager-certificate-ready marks Certificates Ready in its place.
    co = client.CustomObjectsApi(api)
    co.create_namespaced_custom_object(
        "cert-manager.io",
        "v1",
        namespace,
        "certificates",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "web-tls"},
            "spec": {
                "secretName": "web-tls",
                "dnsNames": ["web.example.test"],
                "issuerRef": {"name": "none", "kind": "ClusterIssuer"},
            },
        },
    )

    def list_certs(**kw: Any) -> Any:
        return co.list_namespaced_custom_object(
            "cert-manager.io", "v1", namespace, "certificates", **kw
        )

    kube.wait_for(
        list_certs,
        lambda o: kube.condition(o.get(f"{namespace}/web-tls", {}), "Ready") == "True",
        timeout=WAIT,
        what="Certificate Ready (stand-in)",
    )


def test_lease_contested_by_second_writer_loses_on_conflict(
    api: client.ApiClient, namespace: str
) -> None:
    coord = client.CoordinationV1Api(api)
    coord.create_namespaced_lease(
        namespace,
        {
            "metadata": {"name": "deployer-lock"},
            "spec": {"holderIdentity": "writer-a", "leaseDurationSeconds": 30},
        },
    )
    seen_by_a = coord.read_namespaced_lease("deployer-lock", namespace)
    seen_by_b = coord.read_namespaced_lease("deployer-lock", namespace)
    # writer A renews first: the resourceVersion moves on
    seen_by_a.spec.lease_transitions = 0
    renewed = coord.replace_namespaced_lease("deployer-lock", namespace, seen_by_a)
    assert renewed.metadata.resource_version != seen_by_b.metadata.resource_version
    # writer B tries to take it over with what it read before: 409 Conflict
    seen_by_b.spec.holder_identity = "writer-b"
    with pytest.raises(ApiException) as exc:
        coord.replace_namespaced_lease("deployer-lock", namespace, seen_by_b)
    assert exc.value.status == 409
    assert (
        coord.read_namespaced_lease("deployer-lock", namespace).spec.holder_identity == "writer-a"
    )


def _running_pod(api: client.ApiClient, namespace: str, name: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(
        namespace,
        {"metadata": {"name": name}, "spec": {"containers": [{"name": "app", "image": IMAGE}]}},
    )
    kube.wait_for(
        core.list_namespaced_pod,
        lambda o: kube.condition(o.get(f"{namespace}/{name}", {}), "Ready") == "True",
        namespace=namespace,
        timeout=WAIT,
        what=f"pod {name} Ready",
    )


def _wait_service_account(api: client.ApiClient, namespace: str) -> None:
    kube.wait_for(
        client.CoreV1Api(api).list_namespaced_service_account,
        lambda o: f"{namespace}/default" in o,
        namespace=namespace,
        timeout=WAIT,
        what="the default ServiceAccount",
    )


def test_exec_through_the_api_runs_the_host_command(
    rig: Rig, api: client.ApiClient, namespace: str
) -> None:
    _wait_service_account(api, namespace)
    _running_pod(api, namespace, "shell")
    token = uuid.uuid4().hex
    (rig.exec_dir / "marker").write_text(token + "\n")
    out = stream(
        client.CoreV1Api(api).connect_get_namespaced_pod_exec,
        "shell",
        namespace,
        command=["sh", "-c", 'cat marker; echo "pid=$$ rig=$OPENDESK_RIG"; pwd'],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )
    lines = out.splitlines()
    assert lines[0] == token  # read from the host file system
    assert lines[1].startswith("pid=") and lines[1].endswith("rig=1")
    assert Path(lines[2]).resolve() == rig.exec_dir.resolve()


def test_pod_logs_are_served_from_a_host_file(
    rig: Rig, api: client.ApiClient, namespace: str
) -> None:
    _wait_service_account(api, namespace)
    _running_pod(api, namespace, "talker")
    text = client.CoreV1Api(api).read_namespaced_pod_log("talker", namespace)
    assert text == POD_LOG_TEXT + "\n"


def test_push_to_and_clone_from_the_git_server(rig: Rig, tmp_path: Path) -> None:
    git = Runner()
    ident = ["-c", "user.name=Rig Test", "-c", "user.email=rig@example.test"]
    work = tmp_path / "work"
    git.run("git", ["init", "--quiet", "--initial-branch=main", str(work)])
    (work / "README.md").write_text("hello rig\n")
    (work / "blob.bin").write_bytes(os.urandom(2 * 1024 * 1024))  # > http.postBuffer: chunked
    git.run("git", ["-C", str(work), "add", "."])
    git.run("git", ["-C", str(work), *ident, "commit", "--quiet", "-m", "first"])
    url = rig.git_url(f"push-{uuid.uuid4().hex[:6]}.git")
    git.run("git", ["-C", str(work), "push", "--quiet", url, "main"], timeout=60)
    clone = tmp_path / "clone"
    git.run("git", ["clone", "--quiet", url, str(clone)], timeout=60)
    assert (clone / "README.md").read_text() == "hello rig\n"
    assert (clone / "blob.bin").read_bytes() == (work / "blob.bin").read_bytes()
    head = git.run("git", ["-C", str(work), "rev-parse", "HEAD"]).stdout
    assert git.run("git", ["-C", str(clone), "rev-parse", "HEAD"]).stdout == head
    # a second push (fast-forward) to the now existing repository
    (work / "README.md").write_text("hello again\n")
    git.run("git", ["-C", str(work), *ident, "commit", "--quiet", "-am", "second"])
    git.run("git", ["-C", str(work), "push", "--quiet", url, "main"], timeout=60)
    git.run("git", ["-C", str(clone), "pull", "--quiet", "--ff-only"], timeout=60)
    assert (clone / "README.md").read_text() == "hello again\n"
