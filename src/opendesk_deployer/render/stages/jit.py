"""Stage jit: the Keycloak just-in-time user-sync plugin, when `externalIdp.userSync` is set.

openDesk's Keycloak (release `ums`, StatefulSet `ums-keycloak`) gets:

- an init container `keycloak-jit-user-sync` running the plugin image
  (`registries.imageRegistry` + `/` + `externalIdp.jitPlugin.image`) that copies the provider
  jar(s) from the image's `/plugin/` folder into a shared emptyDir;
- the emptyDir `keycloak-jit-providers`, mounted at `/opt/keycloak/providers` in the Keycloak
  container (and in the init container);
- the pull secret `externalIdp.jitPlugin.pullSecret` in `imagePullSecrets` (the Secret itself is
  created by the deployer, step 07 "ensure JIT pull secret": referenced by name only).

Running it twice changes nothing. userSync on but no Keycloak workload: the render fails.
"""

from __future__ import annotations

from typing import Any

from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import Change, RenderContext, StageError, StageResult
from opendesk_deployer.render.stages.k8s import pod_spec

RELEASE = "ums"
KIND = "StatefulSet"
WORKLOAD = "ums-keycloak"
CONTAINER = "keycloak"
INIT_CONTAINER = "keycloak-jit-user-sync"
VOLUME = "keycloak-jit-providers"
PROVIDERS_DIR = "/opt/keycloak/providers"
PLUGIN_DIR = "/plugin"
WHY = "externalIdp.userSync: Keycloak JIT user-sync plugin"


def plugin_image(ctx: RenderContext) -> str:
    image = ctx.instance.external_idp.jit_plugin.image
    registry = ctx.instance.registries.image_registry
    return f"{registry.rstrip('/')}/{image.lstrip('/')}" if registry else image


class JitPlugin:
    name = "jit"

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        idp = ctx.instance.external_idp
        if not idp.user_sync:
            return StageResult(docs)
        targets = [
            d for d in docs if d.release == RELEASE and d.kind == KIND and d.name == WORKLOAD
        ]
        if not targets:
            raise StageError(
                self.name,
                [
                    f"externalIdp.userSync is set but release {RELEASE} renders no {KIND} "
                    f"{WORKLOAD} (the Keycloak workload the JIT user-sync plugin goes into)"
                ],
            )
        changes: list[Change] = []
        for doc in targets:
            changes += self._inject(doc, ctx)
        return StageResult(docs, changes)

    def _inject(self, doc: Document, ctx: RenderContext) -> list[Change]:
        found = pod_spec(doc)
        if found is None:
            raise StageError(self.name, [f"{doc.ref}: no pod template to add the plugin to"])
        prefix, ps = found
        mains = [c for c in ps.get("containers") or [] if isinstance(c, dict)]
        main = next((c for c in mains if c.get("name") == CONTAINER), mains[0] if mains else None)
        if main is None:
            raise StageError(self.name, [f"{doc.ref}: {prefix}.containers: no Keycloak container"])
        changes: list[Change] = []

        def record(field: str, action: str) -> None:
            changes.append(Change(self.name, doc.release, doc.ref, field, action, WHY))

        init: dict[str, Any] = {
            "name": INIT_CONTAINER,
            "image": plugin_image(ctx),
            "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", f"cp -v {PLUGIN_DIR}/*.jar {PROVIDERS_DIR}/"],
            "volumeMounts": [{"name": VOLUME, "mountPath": PROVIDERS_DIR}],
        }
        if isinstance(main.get("securityContext"), dict):
            init["securityContext"] = dict(main["securityContext"])
        inits = ps.setdefault("initContainers", [])
        at = next((i for i, c in enumerate(inits) if c.get("name") == INIT_CONTAINER), None)
        if at is None:
            inits.append(init)
            record(f"{prefix}.initContainers[name={INIT_CONTAINER}]", "add")
        elif inits[at] != init:
            inits[at] = init
            record(f"{prefix}.initContainers[name={INIT_CONTAINER}]", "set")

        volumes = ps.setdefault("volumes", [])
        if not any(v.get("name") == VOLUME for v in volumes):
            volumes.append({"name": VOLUME, "emptyDir": {}})
            record(f"{prefix}.volumes[name={VOLUME}]", "add")

        mounts = main.setdefault("volumeMounts", [])
        if not any(m.get("name") == VOLUME for m in mounts):
            clash = [m for m in mounts if m.get("mountPath") == PROVIDERS_DIR]
            if clash:
                raise StageError(
                    self.name,
                    [
                        f"{doc.ref}: {prefix}.containers[name={main.get('name')}].volumeMounts: "
                        f"{PROVIDERS_DIR} is already mounted from volume {clash[0].get('name')!r}"
                    ],
                )
            mounts.append({"name": VOLUME, "mountPath": PROVIDERS_DIR})
            record(
                f"{prefix}.containers[name={main.get('name')}].volumeMounts[name={VOLUME}]", "add"
            )

        secret = ctx.instance.external_idp.jit_plugin.pull_secret
        pulls = ps.setdefault("imagePullSecrets", [])
        if not any(p.get("name") == secret for p in pulls):
            pulls.append({"name": secret})
            record(f"{prefix}.imagePullSecrets[name={secret}]", "add")
        return changes
