"""Small Kubernetes helpers shared by the stages: where a workload keeps its pod spec, which
kinds are cluster-scoped, how Argo CD reads hook annotations, and which names look secret."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from opendesk_deployer.render.document import Document

# Kinds that carry a pod template at spec.template.spec.
_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# Built-in and common cluster-scoped kinds: everything else is treated as namespaced.
CLUSTER_SCOPED = frozenset(
    {
        "APIService", "CSIDriver", "CSINode", "CertificateSigningRequest", "ClusterIssuer",
        "ClusterExternalSecret", "ClusterRole", "ClusterRoleBinding", "ClusterSecretStore",
        "ComponentStatus", "CustomResourceDefinition", "FlowSchema", "IngressClass",
        "MutatingWebhookConfiguration", "Namespace", "Node", "PersistentVolume",
        "PodSecurityPolicy", "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass",
        "StorageClass", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration", "VolumeAttachment", "VolumeSnapshotClass",
    }
)  # fmt: skip

ARGO_HOOK = "argocd.argoproj.io/hook"
ARGO_HOOK_DELETE = "argocd.argoproj.io/hook-delete-policy"
ARGO_SYNC_WAVE = "argocd.argoproj.io/sync-wave"
HELM_HOOK = "helm.sh/hook"
HELM_HOOK_WEIGHT = "helm.sh/hook-weight"
HELM_HOOK_DELETE = "helm.sh/hook-delete-policy"
# Argo CD's hook phases (argocd.argoproj.io/hook); `Skip` is not a phase but a valid value.
ARGO_PHASES = frozenset({"PreSync", "Sync", "PostSync", "SyncFail", "PreDelete", "PostDelete"})
# gitops-engine pkg/sync/hook/helm: the Helm hooks Argo CD maps, the rest it never runs.
HELM_TO_ARGO = {
    "pre-install": "PreSync",
    "pre-upgrade": "PreSync",
    "post-install": "PostSync",
    "post-upgrade": "PostSync",
    "pre-delete": "PreDelete",
    "post-delete": "PostDelete",
}


def is_namespaced(kind: str) -> bool:
    return kind not in CLUSTER_SCOPED


def pod_spec(doc: Document) -> tuple[str, dict[str, Any]] | None:
    """(dotted path, pod spec) of a workload, or None for other kinds."""
    kind = doc.kind
    spec = doc.body.get("spec")
    if not isinstance(spec, dict):
        return None
    if kind in _TEMPLATE_KINDS:
        tmpl = spec.get("template")
        if isinstance(tmpl, dict) and isinstance(tmpl.get("spec"), dict):
            return "spec.template.spec", tmpl["spec"]
        return None
    if kind == "CronJob":
        jt = spec.get("jobTemplate")
        tmpl = ((jt or {}).get("spec") or {}).get("template") if isinstance(jt, dict) else None
        if isinstance(tmpl, dict) and isinstance(tmpl.get("spec"), dict):
            return "spec.jobTemplate.spec.template.spec", tmpl["spec"]
        return None
    if kind == "Pod":
        return "spec", spec
    return None


def containers(ps: dict[str, Any]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(list name, index, container) of every container of a pod spec."""
    for key in CONTAINER_LISTS:
        items = ps.get(key)
        if isinstance(items, list):
            for i, c in enumerate(items):
                if isinstance(c, dict):
                    yield key, i, c


def annotations_of(doc: Document) -> dict[str, Any]:
    a = doc.metadata.get("annotations")
    return a if isinstance(a, dict) else {}


def argo_hook_phases(doc: Document) -> set[str]:
    """The Argo CD hook phases a document runs in (empty: a regular resource). An Argo CD
    annotation wins over a Helm one, as in gitops-engine."""
    ann = annotations_of(doc)
    argo = ann.get(ARGO_HOOK)
    if argo is not None:
        return {p.strip() for p in str(argo).split(",") if p.strip() and p.strip() != "Skip"}
    helm = ann.get(HELM_HOOK)
    if helm is not None:
        return {HELM_TO_ARGO[h] for h in _split(helm) if h in HELM_TO_ARGO}
    return set()


def is_hook(doc: Document) -> bool:
    """Whether Argo CD treats the document as a hook (created and deleted around syncs)."""
    ann = annotations_of(doc)
    if ARGO_HOOK in ann:
        return str(ann[ARGO_HOOK]).strip() != "Skip"
    helm = ann.get(HELM_HOOK)
    return helm is not None and _split(helm) != ["crd-install"]


def _split(value: Any) -> list[str]:
    return [p.strip() for p in str(value).split(",") if p.strip()]


def sync_wave(doc: Document) -> int:
    """Argo CD's wave of a document: sync-wave, else (for a Helm hook) hook-weight, else 0."""
    ann = annotations_of(doc)
    for key in (ARGO_SYNC_WAVE, HELM_HOOK_WEIGHT):
        if key in ann:
            try:
                return int(str(ann[key]).strip())
            except ValueError:
                return 0
    return 0


# Secret-looking names (env vars, ConfigMap keys): one of these words as a name part ...
_SECRET_WORDS = frozenset(
    {"PASSWORD", "PASSWD", "PASSWORDS", "PASS", "PWD", "SECRET", "SECRETS", "TOKEN", "TOKENS",
     "APIKEY", "CREDENTIALS", "CREDENTIAL", "PRIVATEKEY"}
)  # fmt: skip
# ... or `<qualifier>_KEY` ...
_KEY_QUALIFIERS = frozenset(
    {"SECRET", "PRIVATE", "API", "ACCESS", "SIGNING", "ENCRYPTION", "MASTER", "LICENSE", "HMAC"}
)
# ... unless the last part says the value is about the secret, not the secret itself.
_NOT_SECRET_SUFFIXES = frozenset(
    {"FILE", "PATH", "URL", "URI", "NAME", "ENDPOINT", "HOST", "PORT", "USER", "USERNAME", "ID",
     "LENGTH", "ENABLED", "TYPE", "POLICY", "EXPIRY", "TTL", "HEADER", "REF", "DIR", "MODE",
     "FORMAT", "ALGORITHM", "LIFETIME", "TIMEOUT", "KEY_ID", "FIELD", "PARAM", "METHOD"}
)  # fmt: skip
_PARTS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def secret_looking_name(name: str) -> bool:
    """`DB_PASSWORD`, `ldapPassword`, `AWS_SECRET_ACCESS_KEY`, `API_KEY`: yes;
    `PASSWORD_FILE`, `KEYCLOAK_URL`, `TOKEN_ENDPOINT`, `ACCESS_KEY_ID`: no."""
    parts = [p.upper() for p in _PARTS.split(name) if p]
    if not parts or parts[-1] in _NOT_SECRET_SUFFIXES:
        return False
    if any(p in _SECRET_WORDS for p in parts):
        return True
    return parts[-1] == "KEY" and len(parts) > 1 and parts[-2] in _KEY_QUALIFIERS


_TRIVIAL = re.compile(
    r"^(?:|true|false|yes|no|on|off|null|none|-?\d+(?:\.\d+)?|\$\(\w+\)|\$\{\w+\})$", re.I
)


def trivial_value(value: str) -> bool:
    """Values that cannot be a secret: short, boolean, numeric, a path, a credential-free URL,
    or a reference to another variable."""
    v = value.strip()
    if len(v) < 6 or _TRIVIAL.match(v) or v.startswith("/"):
        return True
    if "://" in v:
        return "@" not in v.split("://", 1)[1].split("/", 1)[0]
    return False
