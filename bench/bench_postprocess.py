"""Post-processing (everything after helmfile) against a bare libyaml load + dump of the same YAML.

`python -m bench postprocess [--runs 3] [--releases 65] [--profile]`

A synthetic corpus shaped like helmfile's `--output-dir` output (`<release>/<chart>/templates/
*.yaml`, several documents per file) is written to a temp dir: 65 releases by default, each with
Deployments and StatefulSets (two containers and an init container, 40-odd env entries, ports,
probes, volumes) with PodDisruptionBudgets, NetworkPolicies and autoscalers, Services, ConfigMaps holding config files, Secrets (stringData and base64
data), hook Jobs (Helm and Argo CD hooks, some with ttlSecondsAfterFinished), RBAC, Ingresses,
and a few of the chart bugs the catalog repairs (empty protocol, lowercase subpath, duplicate
env names). Then, in one process, alternating:

(a) bare: read every file, `yaml.load_all(CSafeLoader)`, `yaml.dump(CSafeDumper)` every document
    with the options the layout uses;
(b) ours: `document.load_output_dir` + the whole chain as a render runs it (catalog-selected
    stages: runtime patches, JIT, overrides, dedup, lint, inventory, ESO (a secrets manager is
    configured), redact, guards) + the layout's per-release YAML dump.

Prints the medians over `--runs` runs, the ratio b/a (target ≤ 1.5) and per-stage medians;
`--profile` adds a cProfile of one (b) run.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import pstats
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from opendesk_deployer import redaction
from opendesk_deployer.config.model import Instance
from opendesk_deployer.gitops import layout
from opendesk_deployer.render import chain, document
from opendesk_deployer.render.document import SafeDumper, SafeLoader
from opendesk_deployer.render.stage import RenderContext
from opendesk_deployer.render.stages import redact

NAMESPACE = "opendesk-bench"
CMD = "python -m bench postprocess"

INSTANCE: dict[str, Any] = {
    "apiVersion": "opendesk-deployer/v1",
    "kind": "Instance",
    "customerId": "bench",
    "projectId": "bench",
    "instanceId": "bench-1",
    "opendesk": {"version": "1.13.1", "source": {"path": "opendesk"}},
    "namespace": NAMESPACE,
    "domains": {"main": "bench.example"},
    "secretsManager": {
        "instanceId": "bench-sm",
        "apiUrl": "https://prod.sm.eu01.stackit.cloud",
        "username": {"env": "SM_USER"},
        "password": {"env": "SM_PASSWORD"},
        "readOnlyUsername": "bench-reader",
    },
    "git": {"repository": "gitops.git"},
    "runtimeState": "runtime-state.json",
}

_WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]


# --------------------------------------------------------------------------- corpus


class Corpus:
    def __init__(self, releases: int, seed: int = 1) -> None:
        self.rnd = random.Random(seed)
        self.releases = releases
        # "derived" secrets: registered before each run, as the render's derived secrets are
        self.derived = [hashlib.sha1(f"bench-secret-{i}".encode()).hexdigest() for i in range(111)]

    def word(self) -> str:
        return self.rnd.choice(_WORDS)

    def labels(self, release: str, chart: str, component: str) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": chart,
            "app.kubernetes.io/instance": release,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/managed-by": "Helm",
            "app.kubernetes.io/version": "1.2.3",
            "helm.sh/chart": f"{chart}-1.2.3",
        }

    def container(self, name: str, n_env: int, cm: str, sec: str, bug: int) -> dict[str, Any]:
        r = self.rnd
        env: list[dict[str, Any]] = []
        for i in range(n_env):
            k = f"{self.word().upper()}_{self.word().upper()}_{i}"
            kind = r.random()
            if kind < 0.6:
                env.append({"name": k, "value": f"{self.word()}-{r.randint(1, 10_000)}"})
            elif kind < 0.75:
                env.append(
                    {"name": k, "valueFrom": {"secretKeyRef": {"name": sec, "key": "password"}}}
                )
            elif kind < 0.9:
                env.append(
                    {"name": k, "valueFrom": {"configMapKeyRef": {"name": cm, "key": "LOG"}}}
                )
            else:
                env.append(
                    {"name": k, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
                )
        if bug == 1:
            env.append(dict(env[0]))  # duplicate env name: fix-dedup-env-vars
        if bug == 4:
            env.append({"name": "API_TOKEN", "value": f"tok-{r.getrandbits(64):x}"})  # redact
        port: dict[str, Any] = {"name": "http", "containerPort": 8080, "protocol": "TCP"}
        if bug == 2:
            port["protocol"] = ""  # fix-empty-protocol
        mount: dict[str, Any] = {"name": "config", "mountPath": f"/etc/{name}/app.conf"}
        mount["subpath" if bug == 3 else "subPath"] = "app.conf"  # fix-subpath-casing
        return {
            "name": name,
            "image": f"registry.example/{name}:{r.randint(1, 9)}.{r.randint(0, 30)}.0",
            "imagePullPolicy": "IfNotPresent",
            "args": ["--config", f"/etc/{name}/app.conf", "--log-level", "info"],
            "env": env,
            "envFrom": [{"configMapRef": {"name": cm}}],
            "ports": [port, {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": "http"},
                "initialDelaySeconds": 10,
                "periodSeconds": 10,
                "failureThreshold": 3,
            },
            "readinessProbe": {
                "httpGet": {"path": "/ready", "port": "http"},
                "periodSeconds": 5,
            },
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "2", "memory": "1Gi"},
            },
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "capabilities": {"drop": ["ALL"]},
            },
            "volumeMounts": [mount, {"name": "data", "mountPath": "/var/lib/data"}],
        }

    def workload(
        self, release: str, chart: str, name: str, kind: str, cm: str, sec: str, bug: int
    ) -> dict[str, Any]:
        labels = self.labels(release, chart, name)
        selector = {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
        pod = {
            "serviceAccountName": release,
            "securityContext": {"fsGroup": 1000},
            "initContainers": [self.container("init", 8, cm, sec, 0)],
            "containers": [
                self.container(name[:50], 40, cm, sec, bug),
                self.container("sidecar", 12, cm, sec, 0),
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": cm}},
                {"name": "data", "emptyDir": {}},
            ],
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "labelSelector": {"matchLabels": selector},
                                "topologyKey": "kubernetes.io/hostname",
                            },
                        }
                    ]
                }
            },
        }
        spec: dict[str, Any] = {
            "replicas": 2,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels, "annotations": {"checksum/config": "0" * 64}},
                "spec": pod,
            },
        }
        if kind == "StatefulSet":
            spec["serviceName"] = name
        return {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": name, "labels": labels},
            "spec": spec,
        }

    def config_file(self, size: int) -> str:
        lines = []
        while sum(len(x) for x in lines) < size:
            lines.append(
                f"{self.word()}.{self.word()}.{self.word()} = {self.word()}-{self.rnd.randint(0, 99999)}"
            )
        return "\n".join(lines) + "\n"

    def release(self, n: int) -> tuple[str, str, dict[str, list[dict[str, Any]]]]:
        r = self.rnd
        release = f"release-{n:03d}-{self.word()}"
        chart = f"chart-{n:03d}"
        files: dict[str, list[dict[str, Any]]] = {}
        cms = [f"{release}-config-{i}" for i in range(14)]
        secs = [f"{release}-secret-{i}" for i in range(10)]
        for i, cm in enumerate(cms):
            data = {"LOG": "info", "app.conf": self.config_file(r.randint(2_500, 16_000))}
            if i == 0:
                data["extra.properties"] = self.config_file(3_000)
            files[f"configmap-{i}.yaml"] = [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": cm, "labels": self.labels(release, chart, "config")},
                    "data": data,
                }
            ]
        for i, sec in enumerate(secs):
            derived = self.derived[(n * 10 + i) % len(self.derived)]
            files[f"secret-{i}.yaml"] = [
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": sec, "labels": self.labels(release, chart, "secret")},
                    "type": "Opaque",
                    "stringData": {
                        "password": derived,
                        "username": f"user_{n}_{i}",
                        "config.yaml": f"db:\n  user: u{n}\n  password: {derived}\n",
                    },
                    "data": {"tls.key": base64.b64encode(r.randbytes(600)).decode()},
                }
            ]
        workloads: list[dict[str, Any]] = []
        for i in range(9):
            kind = "StatefulSet" if i % 3 == 0 else "Deployment"
            name = f"{release}-{self.word()}-{i}"
            bug = i % 5 if n % 3 == 0 else 0
            workloads.append(self.workload(release, chart, name, kind, cms[i], secs[i], bug))
            files[f"service-{i}.yaml"] = [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": name, "labels": self.labels(release, chart, name)},
                    "spec": {
                        "selector": {"app.kubernetes.io/instance": release},
                        "ports": [
                            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                            {"name": "metrics", "port": 9090, "protocol": "TCP"},
                        ],
                    },
                }
            ]
        files["workloads.yaml"] = workloads
        extras: list[dict[str, Any]] = []
        for w in workloads:
            name = w["metadata"]["name"]
            selector = w["spec"]["selector"]
            wl = self.labels(release, chart, name)
            extras.append(
                {
                    "apiVersion": "policy/v1",
                    "kind": "PodDisruptionBudget",
                    "metadata": {"name": name, "labels": wl},
                    "spec": {"maxUnavailable": 1, "selector": selector},
                }
            )
            extras.append(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": {"name": name, "labels": wl},
                    "spec": {
                        "podSelector": selector,
                        "policyTypes": ["Ingress"],
                        "ingress": [{"ports": [{"port": 8080, "protocol": "TCP"}]}],
                    },
                }
            )
            if w["kind"] == "Deployment":
                extras.append(
                    {
                        "apiVersion": "autoscaling/v2",
                        "kind": "HorizontalPodAutoscaler",
                        "metadata": {"name": name, "labels": wl},
                        "spec": {
                            "scaleTargetRef": {
                                "apiVersion": "apps/v1",
                                "kind": "Deployment",
                                "name": name,
                            },
                            "minReplicas": 2,
                            "maxReplicas": 6,
                            "metrics": [
                                {
                                    "type": "Resource",
                                    "resource": {
                                        "name": "cpu",
                                        "target": {"type": "Utilization", "averageUtilization": 80},
                                    },
                                }
                            ],
                        },
                    }
                )
        files["policies.yaml"] = extras
        jobs = []
        for i in range(5):
            ann = (
                {"helm.sh/hook": "post-install,post-upgrade", "helm.sh/hook-weight": str(i)}
                if i % 2
                else {
                    "argocd.argoproj.io/hook": "Sync",
                    "argocd.argoproj.io/hook-delete-policy": "HookSucceeded",
                }
            )
            job = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "name": f"{release}-job-{i}",
                    "labels": self.labels(release, chart, "job"),
                    "annotations": ann,
                },
                "spec": {
                    "backoffLimit": 6,
                    "template": {
                        "metadata": {"labels": self.labels(release, chart, "job")},
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "containers": [self.container("job", 20, cms[0], secs[0], 0)],
                            "volumes": [
                                {"name": "config", "configMap": {"name": cms[0]}},
                                {"name": "data", "emptyDir": {}},
                            ],
                        },
                    },
                },
            }
            if i == 1:
                job["spec"]["ttlSecondsAfterFinished"] = 1800
            jobs.append(job)
        files["jobs.yaml"] = jobs
        meta = {"labels": self.labels(release, chart, "rbac")}
        files["rbac.yaml"] = [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": release, **meta}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": release, **meta},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": release, **meta},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": release,
                },
                "subjects": [{"kind": "ServiceAccount", "name": release}],
            },
        ]
        files["ingress.yaml"] = [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": f"{release}-{i}",
                    "labels": self.labels(release, chart, "ingress"),
                    "annotations": {"haproxy.org/path-rewrite": "/"},
                },
                "spec": {
                    "ingressClassName": "haproxy",
                    "tls": [{"hosts": [f"{release}.bench.example"], "secretName": "tls"}],
                    "rules": [
                        {
                            "host": f"{release}.bench.example",
                            "http": {
                                "paths": [
                                    {
                                        "path": f"/{i}",
                                        "pathType": "Prefix",
                                        "backend": {
                                            "service": {
                                                "name": workloads[i]["metadata"]["name"],
                                                "port": {"name": "http"},
                                            }
                                        },
                                    }
                                ]
                            },
                        }
                    ],
                },
            }
            for i in range(4)
        ]
        return release, chart, files

    def write(self, out: Path) -> tuple[int, int, int]:
        """(releases, documents, bytes) written below `out`."""
        docs = size = 0
        for n in range(self.releases):
            release, chart, files = self.release(n)
            base = out / release / chart / "templates"
            base.mkdir(parents=True)
            for name, bodies in files.items():
                text = yaml.dump_all(bodies, Dumper=SafeDumper, sort_keys=False)
                (base / name).write_text(text)
                docs += len(bodies)
                size += len(text.encode())
        return self.releases, docs, size


# --------------------------------------------------------------------------- the two sides


def bare(out: Path) -> int:
    n = 0
    for path in sorted(out.rglob("*.yaml")):
        for body in yaml.load_all(path.read_text(encoding="utf-8"), Loader=SafeLoader):
            if body is None:
                continue
            document.dump_yaml(body)
            n += 1
    return n


def ours(out: Path, corpus: Corpus) -> tuple[int, dict[str, float]]:
    """What the pipeline does between helmfile and git, with the GC paused as it does."""
    redaction.forget_all()
    redact._MASK_ONLY.clear()
    redaction.register_many(corpus.derived)  # the render's derived secrets are known
    instance = Instance.model_validate(INSTANCE)
    ctx = RenderContext(instance, instance.opendesk.version, instance.namespace)
    with chain.gc_paused():
        docs = document.load_output_dir(out)
        result = chain.run(docs, ctx, chain.catalog_stages(ctx))
        files = layout.release_files(result.documents)
        written = sum(len(f) for f in files.values())
        del docs, result, files
    return written, {}


def ours_stages(out: Path, corpus: Corpus) -> dict[str, float]:
    redaction.forget_all()
    redact._MASK_ONLY.clear()
    redaction.register_many(corpus.derived)
    instance = Instance.model_validate(INSTANCE)
    ctx = RenderContext(instance, instance.opendesk.version, instance.namespace)
    with chain.gc_paused():
        docs = document.load_output_dir(out)
        return chain.run(docs, ctx, chain.catalog_stages(ctx)).seconds


def _timed(fn: Any, *args: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, value


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench_postprocess")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--releases", type=int, default=65)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-postprocess-"))
    try:
        corpus = Corpus(args.releases)
        releases, ndocs, size = corpus.write(tmp / "out")
        print(
            f"corpus: {releases} releases, {ndocs} documents, {size / 1e6:.1f} MB of YAML "
            f"in {tmp / 'out'}",
            flush=True,
        )
        wall: dict[str, list[float]] = {"bare": [], "ours": []}
        cpu: dict[str, list[float]] = {"bare": [], "ours": []}
        for run in range(args.runs):
            w, c, _ = _timed(bare, tmp / "out")
            wall["bare"].append(w)
            cpu["bare"].append(c)
            w, c, (written, _) = _timed(ours, tmp / "out", corpus)
            wall["ours"].append(w)
            cpu["ours"].append(c)
            print(
                f"  run {run + 1}: bare wall {wall['bare'][-1]:6.2f} s cpu {cpu['bare'][-1]:6.2f} s"
                f"   ours wall {wall['ours'][-1]:6.2f} s cpu {cpu['ours'][-1]:6.2f} s"
                f"   ({written} files)",
                flush=True,
            )
        for label, series in (("wall", wall), ("cpu", cpu)):
            a = statistics.median(series["bare"])
            b = statistics.median(series["ours"])
            print(
                f"{label:4} medians: bare libyaml load+dump (a) {a:6.2f} s   "
                f"post-processing (b) {b:6.2f} s   ratio b/a {b / a:.2f}  (target <= 1.5)"
            )
        stages = ours_stages(tmp / "out", corpus)
        print("one chain run by stage: " + ", ".join(f"{k} {v:.2f}s" for k, v in stages.items()))
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            ours(tmp / "out", corpus)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        print(f"reproduce: {CMD} --runs {args.runs} --releases {args.releases}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        redaction.forget_all()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
