"""Stage redact: nothing secret is left in the output, the report or the logs.

Secret values may remain in exactly one place: a `v1 Secret` of an instance without a secrets
manager (with one, the eso stage has turned every Secret into an ExternalSecret). This stage:

1. **Registers** every value that stays in a Secret (no secrets manager) or goes to the secrets
   manager (the eso payload) with the redactor, so logs, errors, the report and a dry run's diff
   mask them.
2. **Env values** (workload containers, init containers): a literal `value:` is moved into a
   Secret when it contains a known secret (one the deployer registered before this stage:
   master password, derived secrets, external service credentials, or a Secret value under a
   secret-looking key), or when its name looks secret (`*PASSWORD*`, `*SECRET*`, `*TOKEN*`,
   `API_KEY`, …; not `*_FILE`, `*_URL`, `*_USER`, … — `k8s.secret_looking_name`) and the value is
   not trivial (`k8s.trivial_value`: short, boolean, numeric, a path, a URL without credentials,
   a `$(VAR)` reference). The value goes to the Secret `<workload>-redacted-env` (key
   `<container>.<ENV>`), the entry becomes `valueFrom.secretKeyRef`. A hook workload's Secret is
   a hook of the same phase, one wave earlier. A value that uses `$(VAR)` expansion cannot move
   (secretKeyRef values are not expanded): the render fails naming it.
3. **ConfigMaps holding credentials**: a ConfigMap with a value that contains a known secret, or
   a secret-looking key with a non-trivial value (openDesk's `ums-portal-listener`
   `LDAP_PASSWORD`), becomes a Secret of the same name, and every reference in the rendered pod
   specs (volumes, projected volumes, envFrom, env valueFrom) is rewritten. A Secret of that name
   already rendered: the render fails.
4. Secrets created by 2 and 3 go through the eso conversion when a secrets manager is set.
5. **Leak check**: no known secret may remain in any other document (Job args, annotations,
   custom resources, …): the render fails naming release, document and field.

openDesk passes the master password itself into `secrets.nubus.masterpassword`, and the
migrations chart's `environmentDetails` Secret carries every plaintext secret: both are Secrets,
so without a secrets manager they stay (registered), with one they go to the secrets manager.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from opendesk_deployer import redaction
from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import Change, RenderContext, StageError, StageResult
from opendesk_deployer.render.stages import eso, k8s

ENV_SECRET_SUFFIX = "-redacted-env"  # noqa: S105 (a name suffix)
_KEY_UNSAFE = re.compile(r"[^-._a-zA-Z0-9]+")
WHY_ENV = "redact: secret env value moved to a Secret"
WHY_CM = "redact: ConfigMap holding credentials turned into a Secret"


def trie_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any of `words`, factored as a trie: a search costs about the length
    of the text, not the text times the number of words."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}
    if not trie:
        return None

    def build(node: dict[str, Any]) -> str:
        # Collapse single-child chains iteratively (secrets may be long); recurse at branches.
        alts: list[str] = []
        for ch in sorted(k for k in node if k):
            prefix = [ch]
            child = node[ch]
            while len(child) == 1 and "" not in child:
                (nxt,) = child
                prefix.append(nxt)
                child = child[nxt]
            alts.append(re.escape("".join(prefix)) + build(child))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return re.compile(build(trie))


# Values this stage registered only so that output masks them (every value of a Secret: user
# names, hosts, "default"...). They are not evidence of a secret elsewhere: a later render in
# the same process must not take them for the secrets the deployer knows.
_MASK_ONLY: set[str] = set()


def _known_secrets(docs: list[Document], ctx: RenderContext) -> set[str]:
    """What counts as a secret value: everything the deployer registered as a secret (master
    password, derived secrets, external credentials), plus the values of Secrets (or of the
    secrets-manager payload) under secret-looking keys."""
    known = {v for v in redaction.registered() - _MASK_ONLY if not k8s.trivial_value(v)}
    for d in docs:
        if d.kind == "Secret" and d.api_version == "v1":
            for k, (v, b64) in eso.secret_values(d).items():
                if not b64 and k8s.secret_looking_name(k) and not k8s.trivial_value(v):
                    known.add(v)
    payload: eso.Payload = ctx.facts.get(eso.PAYLOAD) or {}
    for props in payload.values():
        for k, v in props.items():
            if k8s.secret_looking_name(k) and not k8s.trivial_value(v):
                known.add(v)
    return known


def _strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """(dotted path, value) of every string below `node` at least MIN_SECRET_LENGTH long."""
    stack: list[tuple[Any, str]] = [(node, path)]
    minimum = redaction.MIN_SECRET_LENGTH
    while stack:
        n, p = stack.pop()
        if isinstance(n, str):
            if len(n) >= minimum:
                yield p, n
        elif isinstance(n, dict):
            for k, v in n.items():
                if isinstance(v, str | dict | list):
                    stack.append((v, f"{p}.{k}" if p else str(k)))
        elif isinstance(n, list):
            for i, v in enumerate(n):
                if isinstance(v, str | dict | list):
                    stack.append((v, f"{p}[{i}]"))


def _rewrite_refs(ps: dict[str, Any], names: set[str]) -> list[str]:
    """Point every reference of the pod spec to a ConfigMap in `names` at the Secret of the
    same name; return the fields changed."""
    changed: list[str] = []
    for i, v in enumerate(ps.get("volumes") or []):
        if not isinstance(v, dict):
            continue
        cm = v.get("configMap")
        if isinstance(cm, dict) and cm.get("name") in names:
            sec = {k: val for k, val in cm.items() if k != "name"}
            sec["secretName"] = cm["name"]
            del v["configMap"]
            v["secret"] = sec
            changed.append(f"volumes[{i}].configMap")
        for j, src in enumerate((v.get("projected") or {}).get("sources") or []):
            cm = src.get("configMap") if isinstance(src, dict) else None
            if isinstance(cm, dict) and cm.get("name") in names:
                src["secret"] = src.pop("configMap")
                changed.append(f"volumes[{i}].projected.sources[{j}].configMap")
    for key, i, c in k8s.containers(ps):
        for j, ef in enumerate(c.get("envFrom") or []):
            ref = ef.get("configMapRef") if isinstance(ef, dict) else None
            if isinstance(ref, dict) and ref.get("name") in names:
                ef["secretRef"] = ef.pop("configMapRef")
                changed.append(f"{key}[{i}].envFrom[{j}].configMapRef")
        for j, e in enumerate(c.get("env") or []):
            vf = e.get("valueFrom") if isinstance(e, dict) else None
            kref = vf.get("configMapKeyRef") if isinstance(vf, dict) else None
            if isinstance(vf, dict) and isinstance(kref, dict) and kref.get("name") in names:
                vf["secretKeyRef"] = vf.pop("configMapKeyRef")
                changed.append(f"{key}[{i}].env[{j}].valueFrom.configMapKeyRef")
    return changed


def _hook_annotations(doc: Document) -> dict[str, str]:
    """Annotations that make a generated Secret exist before the hook that uses it."""
    phases = k8s.argo_hook_phases(doc)
    if not phases:
        return {}
    return {
        k8s.ARGO_HOOK: ",".join(sorted(phases)),
        k8s.ARGO_HOOK_DELETE: "BeforeHookCreation",
        k8s.ARGO_SYNC_WAVE: str(k8s.sync_wave(doc) - 1),
    }


class Redact:
    name = "redact"

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        sm = ctx.instance.secrets_manager
        scanner = _Scanner(_known_secrets(docs, ctx))
        # Fields holding a known secret, per document outside Secrets: one pass over each
        # document's JSON text (C speed), the field walk only for documents that hit.
        hits: dict[int, set[str]] = {}
        for d in docs:
            if not (d.kind == "Secret" and d.api_version == "v1"):
                found_fields = scanner.fields(d.body)
                if found_fields:
                    hits[id(d)] = found_fields
        problems: list[str] = []
        changes: list[Change] = []
        new_secrets: list[Document] = []
        taken = {(d.kind, d.name) for d in docs}

        # 2. env values
        for d in docs:
            found = k8s.pod_spec(d)
            if found is None:
                continue
            prefix, ps = found
            doc_hits = hits.get(id(d), set())
            moved: dict[str, str] = {}
            secret_name = (d.name + ENV_SECRET_SUFFIX)[:253]
            for key, i, c in k8s.containers(ps):
                for j, e in enumerate(c.get("env") or []):
                    if not isinstance(e, dict) or not isinstance(e.get("value"), str):
                        continue
                    name, value = str(e.get("name")), e["value"]
                    field = f"{prefix}.{key}[{i}].env[{j}]"
                    hit = f"{field}.value" in doc_hits
                    if not hit and not (
                        k8s.secret_looking_name(name) and not k8s.trivial_value(value)
                    ):
                        continue
                    doc_hits.discard(f"{field}.value")
                    if "$(" in value:
                        problems.append(
                            f"release {d.release}: {d.ref}: {field}.value ({name}): holds a "
                            "secret and uses $(VAR) expansion, so it cannot move to a Secret; "
                            "fix the chart values (patch or override)"
                        )
                        continue
                    skey = _KEY_UNSAFE.sub("_", f"{c.get('name')}.{name}")
                    moved[skey] = value
                    e.pop("value")
                    e["valueFrom"] = {"secretKeyRef": {"name": secret_name, "key": skey}}
                    changes.append(Change(self.name, d.release, d.ref, field, "move", WHY_ENV))
            if moved:
                if ("Secret", secret_name) in taken:
                    problems.append(
                        f"release {d.release}: {d.ref}: cannot create Secret {secret_name} for "
                        "its secret env values: the name is taken"
                    )
                    continue
                taken.add(("Secret", secret_name))
                new_secrets.append(_env_secret(d, secret_name, moved))

        # 3. ConfigMaps holding credentials
        convert: dict[str, Document] = {}
        for d in docs:
            if d.kind != "ConfigMap" or d.api_version != "v1":
                continue
            data = d.body.get("data")
            if not isinstance(data, dict):
                continue
            doc_hits = hits.get(id(d), set())
            for k, v in data.items():
                if not isinstance(v, str):
                    continue
                if f"data.{k}" in doc_hits or (
                    k8s.secret_looking_name(str(k)) and not k8s.trivial_value(v)
                ):
                    convert[d.name] = d
                    break
        for cm in convert.values():
            hits.pop(id(cm), None)
            if ("Secret", cm.name) in taken:
                problems.append(
                    f"release {cm.release}: {cm.ref}: holds credentials but cannot become a "
                    f"Secret: Secret {cm.name} is rendered too"
                )
                continue
            old_ref = cm.ref
            body = cm.body
            body["kind"] = "Secret"
            body["type"] = "Opaque"
            if "data" in body:
                body["stringData"] = body.pop("data")
            if isinstance(body.get("binaryData"), dict):
                body["data"] = body.pop("binaryData")
            changes.append(Change(self.name, cm.release, old_ref, "kind", "convert", WHY_CM))
        if convert:
            names = set(convert)
            for d in docs:
                found = k8s.pod_spec(d)
                if found is None:
                    continue
                for field in _rewrite_refs(found[1], names):
                    changes.append(
                        Change(self.name, d.release, d.ref, f"{found[0]}.{field}", "set", WHY_CM)
                    )

        # 5. what is left is a leak: a known secret in a field that cannot move
        for d in docs:
            for field in sorted(hits.get(id(d), ())):
                problems.append(
                    f"release {d.release}: {d.ref}: {field}: contains a secret value; it must "
                    "come from a Secret (patch or override)"
                )
        if problems:
            raise StageError(self.name, problems)
        out = docs + new_secrets
        for s in new_secrets:
            changes.append(Change(self.name, s.release, s.ref, "", "add", WHY_ENV))

        # 4. through ESO
        if sm is not None:
            converted_docs: list[Document] = []
            releases: set[str] = set()
            generated = {id(s) for s in new_secrets} | {id(c) for c in convert.values()}
            for d in out:
                if id(d) in generated:
                    result = eso.convert_secret(d, ctx.namespace, sm, self.name)
                    if result is not None:
                        es, payload, chg = result
                        eso.add_payload(ctx, payload)
                        converted_docs.append(es)
                        changes += chg
                        releases.add(d.release)
                        continue
                converted_docs.append(d)
            out = converted_docs
            changes += eso.ensure_store(out, ctx, releases, self.name)

        # 1. register what stays in Secrets or goes to the secrets manager
        values: list[str] = []
        for d in out:
            if d.kind == "Secret" and d.api_version == "v1":
                values.extend(v for v, _ in eso.secret_values(d).values())
        for props in (ctx.facts.get(eso.PAYLOAD) or {}).values():
            values.extend(props.values())
        _MASK_ONLY.update(set(values) - redaction.registered() - scanner.known)
        redaction.register_many(values)
        return StageResult(out, changes)


def _env_secret(d: Document, name: str, moved: dict[str, str]) -> Document:
    """The Secret holding the env values moved out of workload `d`."""
    md: dict[str, Any] = {"name": name}
    if d.metadata.get("namespace"):
        md["namespace"] = d.metadata["namespace"]
    labels = d.metadata.get("labels")
    if isinstance(labels, dict) and labels:
        md["labels"] = dict(labels)
    hooks = _hook_annotations(d)
    if hooks:
        md["annotations"] = hooks
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": md,
        "type": "Opaque",
        "stringData": dict(sorted(moved.items())),
    }
    return Document(d.release, f"{d.file}{ENV_SECRET_SUFFIX}", d.index, body)


class _Scanner:
    """Finds the known secrets in a document: a search of its JSON text first (json.dumps and
    re run in C), the walk over its fields only when that hits."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.raw = trie_pattern(sorted(known))
        # JSON escapes '"', '\\' and control characters: look for the escaped forms too.
        escaped = {json.dumps(v, ensure_ascii=False)[1:-1] for v in known}
        self.json = trie_pattern(sorted(known | escaped))

    def fields(self, body: dict[str, Any]) -> set[str]:
        if self.json is None or self.raw is None:
            return set()
        text = json.dumps(body, ensure_ascii=False, default=str)
        if not self.json.search(text):
            return set()
        raw = self.raw
        return {path for path, value in _strings(body, "") if raw.search(value)}
