"""Stage eso (fix-secrets-to-eso): with a secrets manager, no Secret value goes to git.

When `secretsManager` is configured, every `v1 Secret` that holds values becomes an
`external-secrets.io/v1 ExternalSecret` with the same name (opendesk-facts §4):

- `spec.secretStoreRef` → the SecretStore `stackit-sm` of the namespace; `refreshInterval: 1h`;
- `spec.target`: name = the Secret's name, `creationPolicy: Owner`, `template` with the Secret's
  `type`, labels and annotations (Helm and Argo CD hook keys removed) and `immutable`;
- `spec.data[]`: one entry per key, `remoteRef {key: <secretsManager.path>/<namespace>/<secret>,
  property: <key>}`; a value that is not UTF-8 text is stored base64-encoded and read back with
  `decodingStrategy: Base64`;
- metadata: the Secret's labels and non-hook annotations, and `argocd.argoproj.io/sync-wave` the
  Secret's own or `-1` (before the workloads of wave 0 of the same Application).

The values go to `ctx.facts["secrets_manager_payload"]` = {remote key: {property: value}} (the
redact stage registers every one with the redactor); the deployer writes them to the secrets manager, they never
reach git or the report. A Secret without values (filled in at run time, e.g. a
service-account token) stays a Secret.

One SecretStore `stackit-sm` (vault provider, `server` = `secretsManager.apiUrl`, `path` = the
secrets manager instance id (the KV v2 mount), `version: v2`, userPass auth as
`secretsManager.readOnlyUsername` with the password in the Secret `secretsManager.readOnlySecret`
key `password`, which the deployer creates: referenced by name only) is added to the release of
the earliest wave that has an ExternalSecret, at sync-wave `-2`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from opendesk_deployer.config.model import SecretsManager
from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import Change, RenderContext, StageError, StageResult
from opendesk_deployer.render.stages import k8s

ESO_API = "external-secrets.io/v1"
STORE_NAME = "stackit-sm"
STORE_FILE = "opendesk-deployer/secretstore-stackit-sm.yaml"
STORE_WAVE = "-2"
EXTERNAL_SECRET_WAVE = "-1"  # noqa: S105 (a sync wave)
REFRESH = "1h"
WHY = "fix-secrets-to-eso"
PAYLOAD = "secrets_manager_payload"
HOOK_KEYS = (
    k8s.HELM_HOOK,
    k8s.HELM_HOOK_WEIGHT,
    k8s.HELM_HOOK_DELETE,
    k8s.ARGO_HOOK,
    k8s.ARGO_HOOK_DELETE,
)

Payload = dict[str, dict[str, str]]


def remote_key(sm: SecretsManager, namespace: str, secret: str) -> str:
    return f"{sm.path.strip('/')}/{namespace}/{secret}"


def secret_values(doc: Document) -> dict[str, tuple[str, bool]]:
    """key -> (value, is_base64) of a Secret; stringData wins over data, as in the API server.
    Binary data stays base64 (is_base64=True)."""
    values: dict[str, tuple[str, bool]] = {}
    data = doc.body.get("data")
    if isinstance(data, dict):
        for k, v in data.items():
            if v is None:
                continue
            raw = str(v)
            try:
                decoded = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise StageError(
                    "eso", [f"release {doc.release}: {doc.ref}: data.{k}: not valid base64"]
                ) from None
            try:
                values[str(k)] = (decoded.decode("utf-8"), False)
            except UnicodeDecodeError:
                values[str(k)] = (raw, True)
    sdata = doc.body.get("stringData")
    if isinstance(sdata, dict):
        for k, v in sdata.items():
            if v is not None:
                values[str(k)] = (v if isinstance(v, str) else str(v), False)
    return values


def _without_hooks(annotations: Any) -> dict[str, Any]:
    if not isinstance(annotations, dict):
        return {}
    return {k: v for k, v in annotations.items() if k not in HOOK_KEYS}


def convert_secret(
    doc: Document, namespace: str, sm: SecretsManager, stage: str = "eso"
) -> tuple[Document, Payload, list[Change]] | None:
    """The ExternalSecret replacing Secret `doc`, its payload and the changes; None when the
    Secret holds no values."""
    values = secret_values(doc)
    if not values:
        return None
    md = doc.metadata
    name = doc.name
    ns = doc.namespace or namespace
    key = remote_key(sm, ns, name)
    labels = md.get("labels") if isinstance(md.get("labels"), dict) else {}
    annotations = _without_hooks(md.get("annotations"))
    wave = k8s.annotations_of(doc).get(k8s.ARGO_SYNC_WAVE)
    es_annotations = {
        **annotations,
        k8s.ARGO_SYNC_WAVE: str(wave) if wave is not None else EXTERNAL_SECRET_WAVE,
    }
    template: dict[str, Any] = {"engineVersion": "v2"}
    if doc.body.get("type"):
        template["type"] = str(doc.body["type"])
    tmeta: dict[str, Any] = {}
    if labels:
        tmeta["labels"] = dict(labels)
    if annotations:
        tmeta["annotations"] = dict(annotations)
    if tmeta:
        template["metadata"] = tmeta
    target: dict[str, Any] = {"name": name, "creationPolicy": "Owner", "template": template}
    if doc.body.get("immutable") is True:
        target["immutable"] = True
    data: list[dict[str, Any]] = []
    props: dict[str, str] = {}
    for k in sorted(values):
        value, is_b64 = values[k]
        ref: dict[str, Any] = {"key": key, "property": k}
        if is_b64:
            ref["decodingStrategy"] = "Base64"
        data.append({"secretKey": k, "remoteRef": ref})
        props[k] = value
    meta: dict[str, Any] = {"name": name}
    if md.get("namespace"):
        meta["namespace"] = md["namespace"]
    if labels:
        meta["labels"] = dict(labels)
    meta["annotations"] = es_annotations
    body = {
        "apiVersion": ESO_API,
        "kind": "ExternalSecret",
        "metadata": meta,
        "spec": {
            "refreshInterval": REFRESH,
            "secretStoreRef": {"name": STORE_NAME, "kind": "SecretStore"},
            "target": target,
            "data": data,
        },
    }
    es = Document(doc.release, doc.file, doc.index, body, list(doc.history))
    changes = [
        Change(
            stage,
            doc.release,
            doc.ref,
            "kind",
            "convert",
            f"{WHY}: Secret -> ExternalSecret, {len(props)} value(s) to the secrets manager "
            f"at {key}",
        )
    ]
    return es, {key: props}, changes


def secret_store(sm: SecretsManager, namespace: str) -> dict[str, Any]:
    if not sm.read_only_username:
        raise StageError(
            "eso",
            [
                "secretsManager.readOnlyUsername is not set: the SecretStore needs the name of "
                "the secrets manager's read-only user (created with write: false)"
            ],
        )
    return {
        "apiVersion": ESO_API,
        "kind": "SecretStore",
        "metadata": {
            "name": STORE_NAME,
            "namespace": namespace,
            "annotations": {k8s.ARGO_SYNC_WAVE: STORE_WAVE},
        },
        "spec": {
            "provider": {
                "vault": {
                    "server": sm.api_url,
                    "path": sm.instance_id,
                    "version": "v2",
                    "auth": {
                        "userPass": {
                            "path": "userpass",
                            "username": sm.read_only_username,
                            "secretRef": {"name": sm.read_only_secret, "key": "password"},
                        }
                    },
                }
            }
        },
    }


def add_payload(ctx: RenderContext, payload: Payload) -> None:
    into: Payload = ctx.facts.setdefault(PAYLOAD, {})
    for key, props in payload.items():
        into.setdefault(key, {}).update(props)


def ensure_store(
    docs: list[Document], ctx: RenderContext, releases: set[str], stage: str
) -> list[Change]:
    """Append the SecretStore to `docs` (in the earliest-wave release of `releases`) unless
    there is one already or nothing needs it."""
    sm = ctx.instance.secrets_manager
    if sm is None or not releases:
        return []
    if any(d.kind == "SecretStore" and d.name == STORE_NAME for d in docs):
        return []
    waves: dict[str, int] = ctx.facts.get("release_waves") or {}
    home = min(releases, key=lambda r: (waves.get(r, 0), r))
    store = Document(home, STORE_FILE, 0, secret_store(sm, ctx.namespace))
    docs.append(store)
    return [
        Change(
            stage,
            home,
            store.ref,
            "",
            "add",
            f"{WHY}: the SecretStore of the namespace (in the earliest release with an "
            "ExternalSecret)",
        )
    ]


class SecretsToEso:
    name = "eso"

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        sm = ctx.instance.secrets_manager
        if sm is None:
            return StageResult(docs)
        secret_store(sm, ctx.namespace)  # fails early without the read-only user
        out: list[Document] = []
        changes: list[Change] = []
        releases: set[str] = set()
        for d in docs:
            if d.kind == "Secret" and d.api_version == "v1":
                converted = convert_secret(d, ctx.namespace, sm, self.name)
                if converted is not None:
                    es, payload, chg = converted
                    add_payload(ctx, payload)
                    out.append(es)
                    changes += chg
                    releases.add(d.release)
                    continue
            out.append(d)
        ctx.facts.setdefault(PAYLOAD, {})
        changes += ensure_store(out, ctx, releases, self.name)
        return StageResult(out, changes)
