"""Stage lint: reject what the API server or Argo CD would reject, before anything is pushed.

Lint runs after the patch catalog, the JIT plugin and the overrides, so a chart bug the catalog
repairs never reaches it; what it finds is a bug no patch covers yet. Each problem names the
release, the document (`Kind/name (release/file#index)`) and the field. Checks:

- identity: `apiVersion`, `kind`, a valid `metadata.name` (RFC 1123; RBAC kinds: path segment);
- labels and annotations: label keys and values valid, values strings (a YAML `true` is not);
- pod specs (containers, initContainers, ephemeralContainers): duplicate container names,
  duplicate env names (the ComparisonError incident: SSA's merge key is `name`), duplicate
  container ports (`containerPort` + `protocol`) and port names, missing or empty `protocol`,
  unknown keys in a container port (`port:`) or a probe (`enabled:`), invalid container and port
  names, volume mounts of undeclared volumes, duplicate volume names;
- Services: missing or empty `protocol`, duplicate (`port`, `protocol`), unnamed ports when
  there are several;
- casing: in built-in kinds, a key that is a Kubernetes field name in the wrong case
  (`subpath`, `mountpath`), which server-side apply rejects as unknown;
- hooks Argo CD cannot run: `helm.sh/hook` with only hooks Argo CD never maps (test, rollback),
  an unknown `argocd.argoproj.io/hook` value, and a hook on a ConfigMap, Secret, ServiceAccount or
  PersistentVolumeClaim that a regular (non-hook) workload uses: Argo CD deletes and re-creates
  hooks around every sync (the stack-data-ums incident: the LDAP server cannot mount its config).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import RenderContext, StageError, StageResult
from opendesk_deployer.render.stages import k8s
from opendesk_deployer.render.stages.k8s_fields import BY_LOWER

# RFC 1123 subdomain: what most kinds require of metadata.name.
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# IANA_SVC_NAME: at most 15 characters, lower case, digits and '-', at least one letter.
_PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(?=.{0,63}$)(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
# Kinds whose names may contain ':' and upper case (RBAC allows path segment names).
_LENIENT_NAMES = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
_PROTOCOLS = {"TCP", "UDP", "SCTP"}
_CONTAINER_PORT_KEYS = {"containerPort", "hostIP", "hostPort", "name", "protocol"}
_PROBE_KEYS = {
    "exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "timeoutSeconds",
    "periodSeconds", "successThreshold", "failureThreshold", "terminationGracePeriodSeconds",
}  # fmt: skip
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
# API groups of built-in kinds, whose field names lint knows (for the casing check).
_BUILTIN_GROUPS = {
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "node.k8s.io",
}  # fmt: skip
# Maps whose keys are data, not field names.
_FREEFORM = {
    "data", "stringData", "binaryData", "labels", "annotations", "matchLabels", "nodeSelector",
    "limits", "requests", "parameters", "volumeAttributes", "hard", "capacity", "allocatable",
    "claims", "openAPIV3Schema", "properties", "attributes", "config", "driverConfig",
}  # fmt: skip
_SKIP_TOP = {"metadata", "data", "stringData", "binaryData"}
_NEVER_RUN_HELM_HOOKS = {"test", "test-success", "test-failure", "pre-rollback", "post-rollback"}
_HOOKABLE = {"ConfigMap", "Secret", "ServiceAccount", "PersistentVolumeClaim"}


def _name_problems(doc: Document, where: str) -> list[str]:
    problems: list[str] = []
    if not doc.api_version:
        problems.append(f"{where}: apiVersion: missing")
    if not doc.kind:
        problems.append(f"{where}: kind: missing")
    name = doc.name
    if not name:
        problems.append(f"{where} ({doc.kind or '?'}): metadata.name: missing")
    elif doc.kind in _LENIENT_NAMES:
        if "/" in name or name in (".", "..") or len(name) > 253:
            problems.append(f"{where} ({doc.kind}/{name}): metadata.name: not a valid path segment")
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        problems.append(
            f"{where} ({doc.kind}/{name}): metadata.name: {name!r} is not a valid name "
            "(lowercase RFC 1123 subdomain)"
        )
    return problems


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return False
    return bool(_LABEL_NAME.match(name))


def _meta_problems(meta: Any, path: str) -> Iterator[tuple[str, str]]:
    if not isinstance(meta, dict):
        return
    labels = meta.get("labels")
    if labels is not None and not isinstance(labels, dict):
        yield f"{path}.labels", "not a mapping"
    elif labels:
        for k, v in labels.items():
            if not isinstance(k, str) or not _label_key_ok(k):
                yield f"{path}.labels", f"{k!r} is not a valid label key"
            elif not isinstance(v, str):
                yield f"{path}.labels.{k}", f"value {v!r} is a {type(v).__name__}, not a string"
            elif not _LABEL_VALUE.match(v):
                yield f"{path}.labels.{k}", f"{v!r} is not a valid label value"
    ann = meta.get("annotations")
    if ann is not None and not isinstance(ann, dict):
        yield f"{path}.annotations", "not a mapping"
    elif ann:
        for k, v in ann.items():
            if not isinstance(v, str):
                yield (
                    f"{path}.annotations.{k}",
                    f"value {v!r} is a {type(v).__name__}, not a string",
                )


def _dupes(values: list[Any]) -> list[Any]:
    return [v for v, n in Counter(values).items() if n > 1]


def _container_problems(
    c: dict[str, Any], path: str, volumes: set[str] | None
) -> Iterator[tuple[str, str]]:
    name = c.get("name")
    if not isinstance(name, str) or not name:
        yield f"{path}.name", "missing"
    elif not _DNS_LABEL.match(name):
        yield f"{path}.name", f"{name!r} is not a valid container name (DNS label)"
    env = c.get("env")
    if isinstance(env, list):
        names = []
        for i, e in enumerate(env):
            if not isinstance(e, dict) or not e.get("name"):
                yield f"{path}.env[{i}].name", "missing"
                continue
            names.append(e["name"])
            if "value" in e and e["value"] is not None and not isinstance(e["value"], str):
                yield (
                    f"{path}.env[{i}].value",
                    f"{e['value']!r} is a {type(e['value']).__name__}, not a string",
                )
        for dup in _dupes(names):
            at = [i for i, e in enumerate(env) if isinstance(e, dict) and e.get("name") == dup]
            yield (
                f"{path}.env[name={dup}]",
                f"duplicate env name {dup!r} at indexes {at} (server-side apply: duplicate "
                "entries for key [name]; Argo CD ComparisonError)",
            )
    ports = c.get("ports")
    if isinstance(ports, list):
        keys: list[tuple[Any, str]] = []
        port_names: list[str] = []
        for i, p in enumerate(ports):
            if not isinstance(p, dict):
                yield f"{path}.ports[{i}]", "not a mapping"
                continue
            unknown = sorted(set(p) - _CONTAINER_PORT_KEYS)
            if unknown:
                yield f"{path}.ports[{i}]", f"unknown field(s) {', '.join(unknown)}"
            proto = p.get("protocol")
            if not proto:
                yield (
                    f"{path}.ports[{i}].protocol",
                    "missing or empty (server-side apply: the merge key omits protocol); set TCP",
                )
            elif proto not in _PROTOCOLS:
                yield f"{path}.ports[{i}].protocol", f"{proto!r} is not TCP, UDP or SCTP"
            keys.append((p.get("containerPort"), str(proto or "TCP")))
            pname = p.get("name")
            if pname is not None:
                port_names.append(pname)
                if not isinstance(pname, str) or not _PORT_NAME.match(pname):
                    yield f"{path}.ports[{i}].name", f"{pname!r} is not a valid port name"
        for port, proto in _dupes(keys):
            yield f"{path}.ports", f"duplicate containerPort {port}/{proto}"
        for dup in _dupes(port_names):
            yield f"{path}.ports", f"duplicate port name {dup!r}"
    for probe in _PROBES:
        pr = c.get(probe)
        if isinstance(pr, dict):
            unknown = sorted(set(pr) - _PROBE_KEYS)
            if unknown:
                yield f"{path}.{probe}", f"unknown field(s) {', '.join(unknown)}"
    mounts = c.get("volumeMounts")
    if isinstance(mounts, list) and volumes is not None:
        for i, m in enumerate(mounts):
            if isinstance(m, dict) and m.get("name") not in volumes:
                yield f"{path}.volumeMounts[{i}].name", f"volume {m.get('name')!r} is not declared"


def _pod_problems(prefix: str, ps: dict[str, Any], claims: list[Any]) -> Iterator[tuple[str, str]]:
    """`claims`: the names of a StatefulSet's volumeClaimTemplates (volumes too)."""
    vols = ps.get("volumes")
    volume_names: list[Any] = []
    if isinstance(vols, list):
        volume_names = [v.get("name") for v in vols if isinstance(v, dict)]
        for dup in _dupes(volume_names):
            yield f"{prefix}.volumes", f"duplicate volume name {dup!r}"
    names: list[Any] = []
    for key, i, c in k8s.containers(ps):
        names.append(c.get("name"))
        yield from _container_problems(c, f"{prefix}.{key}[{i}]", {*volume_names, *claims})
    for dup in _dupes([n for n in names if n]):
        yield prefix, f"duplicate container name {dup!r}"


def _service_problems(spec: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(spec, dict) or not isinstance(spec.get("ports"), list):
        return
    ports = spec["ports"]
    keys: list[tuple[Any, str]] = []
    for i, p in enumerate(ports):
        if not isinstance(p, dict):
            continue
        proto = p.get("protocol")
        if not proto:
            yield f"spec.ports[{i}].protocol", "missing or empty (server-side apply); set TCP"
        elif proto not in _PROTOCOLS:
            yield f"spec.ports[{i}].protocol", f"{proto!r} is not TCP, UDP or SCTP"
        keys.append((p.get("port"), str(proto or "TCP")))
        if len(ports) > 1 and not p.get("name"):
            yield f"spec.ports[{i}].name", "missing (required when a Service has several ports)"
    for port, proto in _dupes(keys):
        yield "spec.ports", f"duplicate port {port}/{proto}"


def _casing_problems(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(k, str):
                continue
            if k.islower():
                real = BY_LOWER.get(k)
                if real is not None and real != k:
                    yield f"{path}.{k}" if path else k, f"unknown field; did you mean {real!r}?"
            if k in _FREEFORM or not isinstance(v, dict | list):
                continue
            yield from _casing_problems(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, dict | list):
                yield from _casing_problems(v, f"{path}[{i}]")


def _hook_problems(doc: Document) -> Iterator[tuple[str, str]]:
    ann = k8s.annotations_of(doc)
    if not ann:
        return
    argo = ann.get(k8s.ARGO_HOOK)
    if argo is not None:
        bad = [
            p.strip()
            for p in str(argo).split(",")
            if p.strip() not in k8s.ARGO_PHASES and p.strip() != "Skip"
        ]
        if bad or not str(argo).strip():
            yield (
                f"metadata.annotations.{k8s.ARGO_HOOK}",
                f"{argo!r}: Argo CD knows {', '.join(sorted(k8s.ARGO_PHASES))} and Skip",
            )
        return
    helm = ann.get(k8s.HELM_HOOK)
    if helm is None:
        return
    hooks = [h.strip() for h in str(helm).split(",") if h.strip()]
    if hooks and all(h in _NEVER_RUN_HELM_HOOKS for h in hooks):
        yield (
            f"metadata.annotations.{k8s.HELM_HOOK}",
            f"{helm!r}: Argo CD never runs Helm {'/'.join(hooks)} hooks; drop the document "
            "(patch or override) or give it an argocd.argoproj.io/hook",
        )


def _pod_refs(ps: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, name) of the ConfigMaps, Secrets, ServiceAccount and claims a pod spec uses."""
    sa = ps.get("serviceAccountName") or ps.get("serviceAccount")
    if sa:
        yield "ServiceAccount", str(sa)
    for s in ps.get("imagePullSecrets") or []:
        if isinstance(s, dict) and s.get("name"):
            yield "Secret", str(s["name"])
    for v in ps.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        if isinstance(v.get("configMap"), dict):
            yield "ConfigMap", str(v["configMap"].get("name"))
        if isinstance(v.get("secret"), dict):
            yield "Secret", str(v["secret"].get("secretName"))
        if isinstance(v.get("persistentVolumeClaim"), dict):
            yield "PersistentVolumeClaim", str(v["persistentVolumeClaim"].get("claimName"))
        for src in (v.get("projected") or {}).get("sources") or []:
            if isinstance(src, dict):
                if isinstance(src.get("configMap"), dict):
                    yield "ConfigMap", str(src["configMap"].get("name"))
                if isinstance(src.get("secret"), dict):
                    yield "Secret", str(src["secret"].get("name"))
    for _, _, c in k8s.containers(ps):
        for ef in c.get("envFrom") or []:
            if isinstance(ef, dict):
                if isinstance(ef.get("configMapRef"), dict):
                    yield "ConfigMap", str(ef["configMapRef"].get("name"))
                if isinstance(ef.get("secretRef"), dict):
                    yield "Secret", str(ef["secretRef"].get("name"))
        for e in c.get("env") or []:
            vf = e.get("valueFrom") if isinstance(e, dict) else None
            if isinstance(vf, dict):
                if isinstance(vf.get("configMapKeyRef"), dict):
                    yield "ConfigMap", str(vf["configMapKeyRef"].get("name"))
                if isinstance(vf.get("secretKeyRef"), dict):
                    yield "Secret", str(vf["secretKeyRef"].get("name"))


def document_problems(doc: Document) -> list[str]:
    """Problems of one document on its own (no cross-document checks)."""
    where = f"release {doc.release}, {doc.source}"
    problems = _name_problems(doc, where)
    ref = f"release {doc.release}: {doc.ref}"
    found: list[tuple[str, str]] = list(_meta_problems(doc.body.get("metadata"), "metadata"))
    ps = k8s.pod_spec(doc)
    if ps is not None:
        prefix, spec = ps
        tmpl_meta = prefix.removesuffix(".spec") + ".metadata" if prefix != "spec" else None
        if tmpl_meta:
            node: Any = doc.body
            for part in tmpl_meta.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            found += _meta_problems(node, tmpl_meta)
        claims: list[Any] = []
        if doc.kind == "StatefulSet":
            for t in (doc.body.get("spec") or {}).get("volumeClaimTemplates") or []:
                if isinstance(t, dict):
                    claims.append((t.get("metadata") or {}).get("name"))
        found += _pod_problems(prefix, spec, claims)
    if doc.kind == "Service":
        found += _service_problems(doc.body.get("spec"))
    if doc.group in _BUILTIN_GROUPS:
        top = {k: v for k, v in doc.body.items() if k not in _SKIP_TOP}
        if doc.kind == "Service" and isinstance(top.get("spec"), dict):
            top["spec"] = {k: v for k, v in top["spec"].items() if k != "selector"}
        found += _casing_problems(top, "")
    found += _hook_problems(doc)
    problems += [f"{ref}: {field}: {msg}" for field, msg in found]
    return problems


def hook_consumer_problems(docs: list[Document]) -> list[str]:
    """Hook-annotated ConfigMaps/Secrets/ServiceAccounts/claims that regular workloads use."""
    used: dict[tuple[str, str], Document] = {}
    for d in docs:
        ps = k8s.pod_spec(d)
        if ps is None or k8s.is_hook(d):
            continue
        for ref in _pod_refs(ps[1]):
            used.setdefault(ref, d)
    problems = []
    for d in docs:
        if d.kind in _HOOKABLE and (d.kind, d.name) in used and k8s.is_hook(d):
            user = used[(d.kind, d.name)]
            problems.append(
                f"release {d.release}: {d.ref}: metadata.annotations: a hook on a {d.kind} that "
                f"the regular workload {user.ref} uses: Argo CD deletes and re-creates hooks on "
                "every sync, so the workload loses it; remove the hook annotations from it"
            )
    return problems


class Lint:
    name = "lint"

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        problems = [p for d in docs for p in document_problems(d)]
        problems += hook_consumer_problems(docs)
        if problems:
            raise StageError(self.name, problems)
        return StageResult(docs)
