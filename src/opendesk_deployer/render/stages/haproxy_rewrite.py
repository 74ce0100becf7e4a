"""Stage patch-haproxy-rewrite-target: what openDesk's `post-renderer-openxchange-HAPROXY.sh`
did with yq, done in Python so that no render depends on yq or a script's mode bits.

With the HAProxy ingress controller, OX's appsuite-api route must not use a regex path: the
upstream script rewrites `/appsuite/api(.*)` to `/appsuite/api` on that one Ingress.
"""

from __future__ import annotations

from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import Change, RenderContext, StageResult

INGRESS = "open-xchange-appsuite-http-api-routes-appsuite-api"
REGEX_PATH = "/appsuite/api(.*)"
PLAIN_PATH = "/appsuite/api"


class HaproxyRewriteTarget:
    name = "patch-haproxy-rewrite-target"

    def __init__(self, controller: str = "haproxy") -> None:
        self.controller = controller

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        changes: list[Change] = []
        if self.controller != "haproxy":
            return StageResult(docs, changes)
        for doc in docs:
            if doc.kind != "Ingress" or doc.name != INGRESS:
                continue
            for r, rule in enumerate(doc.body.get("spec", {}).get("rules") or []):
                for p, path in enumerate((rule.get("http") or {}).get("paths") or []):
                    if path.get("path") == REGEX_PATH:
                        path["path"] = PLAIN_PATH
                        changes.append(
                            Change(
                                self.name,
                                doc.release,
                                doc.ref,
                                f"spec.rules[{r}].http.paths[{p}].path",
                                "set",
                                "HAProxy ingress: no regex path on the appsuite-api route",
                            )
                        )
        return StageResult(docs, changes)
