"""The mini-openDesk fixture rendered by the real helmfile (a copy, prepared as the pipeline
does), then the chain with the runtime patches: each field-level fix is applied where the
fixture's README says the chart bug is, every change names its patch, release, document and
field, and the patched documents pass lint.

One render, module-scoped. The chain is `[snapshot, haproxy rewrite, RuntimePatches, lint,
inventory]`; `snapshot` keeps a copy of each document as helmfile rendered it, so that every
"after" is checked against its "before".
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from conftest import copy_demo
from opendesk_deployer.config import load_instance, master_password
from opendesk_deployer.render import chain, derived_secrets, document, helmfile, source, values
from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import Change, RenderContext, StageResult
from opendesk_deployer.render.stages.haproxy_rewrite import HaproxyRewriteTarget
from opendesk_deployer.render.stages.inventory import Inventory
from opendesk_deployer.render.stages.lint import Lint
from opendesk_deployer.render.stages.runtime_patches import RuntimePatches
from opendesk_deployer.runner import Runner

pytestmark = pytest.mark.slow

Key = tuple[str, str, str]  # release, kind, name


@dataclass
class Snapshot:
    """A stage that changes nothing and remembers the documents and the context."""

    name: str = "snapshot"
    before: dict[Key, list[dict[str, Any]]] = field(default_factory=dict)
    ctx: RenderContext | None = None

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        for d in docs:
            self.before.setdefault((d.release, d.kind, d.name), []).append(copy.deepcopy(d.body))
        self.ctx = ctx
        return StageResult(docs)


@dataclass
class Rendered:
    result: chain.ChainResult
    snapshot: Snapshot
    ctx: RenderContext

    def after(self, release: str, kind: str, name: str) -> dict[str, Any]:
        [d] = [
            d for d in self.result.documents if (d.release, d.kind, d.name) == (release, kind, name)
        ]
        # through YAML, as it is pushed
        return dict(yaml.safe_load(d.dump()))

    def before(self, release: str, kind: str, name: str) -> dict[str, Any]:
        [body] = self.snapshot.before[(release, kind, name)]
        return body

    def changes(self, patch_id: str) -> list[Change]:
        return [c for c in self.result.changes if c.why.startswith(f"{patch_id}: ")]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    tmp = tmp_path_factory.mktemp("patched-render")
    f = copy_demo(tmp)
    mp = pytest.MonkeyPatch()
    mp.setenv("OPENDESK_MASTER_PASSWORD", "patched-render-master")
    mp.setenv("OPENDESK_STATE_DIR", str(tmp / "state"))
    try:
        loaded = load_instance(f)
        instance = loaded.instance
        runner = Runner()
        work = tmp / "work"
        work.mkdir(mode=0o700)
        prepared = source.prepare(loaded, work / "opendesk", runner)
        values.write(instance, prepared.root)
        password = master_password.resolve(instance).get_secret_value()
        derived_secrets.replace_secrets_file(
            prepared.root, password, cache_file=tmp / "derived-secrets.json"
        )
        out = work / "rendered"
        helmfile.template(
            prepared.root,
            instance.environment,
            instance.namespace,
            out,
            runner,
            master_password=password,
        )
        docs = document.load_output_dir(out)
        ctx = RenderContext(instance, instance.opendesk.version, instance.namespace)
        snapshot = Snapshot()
        stages = [snapshot, HaproxyRewriteTarget(), RuntimePatches(), Lint(), Inventory()]
        result = chain.run(docs, ctx, stages=stages)
    finally:
        mp.undo()
    yield Rendered(result, snapshot, ctx)


def containers(body: dict[str, Any], which: str = "containers") -> list[dict[str, Any]]:
    spec = body["spec"]["template"]["spec"]
    return list(spec.get(which, []))


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# (patch id, release, document, field) of at least one Change per field-level fix
EXPECTED_CHANGES = [
    (
        "fix-subpath-casing",
        "opendesk-nextcloud",
        "Deployment/opendesk-nextcloud-php",
        "spec.template.spec.containers[0].volumeMounts[0].subPath",
    ),
    (
        "fix-spurious-port",
        "opendesk-static-files",
        "Deployment/opendesk-static-files",
        "spec.template.spec.containers[0].ports[0].port",
    ),
    (
        "fix-probe-enabled",
        "ox-connector",
        "StatefulSet/ox-connector",
        "spec.template.spec.containers[0].livenessProbe.enabled",
    ),
    ("fix-empty-protocol", "mariadb", "Service/mariadb", "spec.ports[0].protocol"),
    (
        "fix-empty-protocol",
        "mariadb",
        "StatefulSet/mariadb",
        "spec.template.spec.containers[0].ports[0].protocol",
    ),
    (
        "fix-nginx-mountpath",
        "matrix-neoboard-widget",
        "ConfigMap/matrix-neoboard-widget-nginx",
        'data["default.conf"]',
    ),
    (
        "fix-ox-initconfigdb-root-pwd",
        "opendesk-open-xchange-bootstrap",
        "Job/opendesk-open-xchange-bootstrap",
        "spec.template.spec.containers[0].args[0]",
    ),
    (
        "fix-mysql-root-pwd-injection",
        "opendesk-open-xchange-bootstrap",
        "Job/opendesk-open-xchange-bootstrap",
        "spec.template.spec.containers[0].env[6]",
    ),
    (
        "fix-bootstrap-ssl-certs",
        "opendesk-keycloak-bootstrap",
        "Job/opendesk-keycloak-bootstrap-bootstrap-2-7-1",
        "spec.template.spec.volumes[0]",
    ),
    (
        "fix-hook-deletion-policy",
        "openproject",
        "Job/openproject-seeder-1",
        'metadata.annotations["argocd.argoproj.io/hook-delete-policy"]',
    ),
    (
        "fix-helm-hook-to-argo-hook",
        "opendesk-nextcloud-management",
        "Job/opendesk-nextcloud-management",
        'metadata.annotations["argocd.argoproj.io/hook"]',
    ),
    (
        "fix-jgroups-timeout",
        "ums",
        "StatefulSet/ums-keycloak",
        "spec.template.spec.containers[0].env[6].value",
    ),
    (
        "fix-openproject-bootstrap-backoff",
        "opendesk-openproject-bootstrap",
        "Job/opendesk-openproject-bootstrap",
        "spec.backoffLimit",
    ),
    (
        "fix-ums-stack-data-hook-configmaps",
        "ums",
        "ConfigMap/ums-stack-data-ums-data",
        'metadata.annotations["argocd.argoproj.io/hook"]',
    ),
    (
        "fix-ums-probes",
        "ums",
        "Deployment/ums-udm-rest-api",
        "spec.template.spec.containers[0].readinessProbe",
    ),
    (
        "fix-intercom-redis-username",
        "intercom-service",
        "Secret/intercom-service-redis",
        "stringData.username",
    ),
    (
        "fix-synapse-federation-whitelist",
        "opendesk-synapse",
        "ConfigMap/opendesk-synapse",
        'data["homeserver.yaml"].federation_domain_whitelist',
    ),
    (
        "fix-dedup-env-vars",
        "ums",
        "Deployment/ums-portal-server",
        "spec.template.spec.initContainers[0].env[name=AWS_DEFAULT_REGION]",
    ),
    (
        "fix-jobs-remove-hook-ttl",
        "opendesk-migrations-pre",
        "Job/opendesk-migrations-pre-6",
        "spec.ttlSecondsAfterFinished",
    ),
]


@pytest.mark.parametrize(("patch_id", "release", "document", "field"), EXPECTED_CHANGES)
def test_change_names_patch_release_document_and_field(
    rendered: Rendered, patch_id: str, release: str, document: str, field: str
) -> None:
    found = [
        (c.release, c.document.split(" ")[0], c.field, c.stage) for c in rendered.changes(patch_id)
    ]
    assert (release, document, field, "runtime-patches") in found


def test_every_field_level_fix_changed_something_and_nothing_else(rendered: Rendered) -> None:
    ids = {c.why.split(":")[0] for c in rendered.result.changes if c.stage == "runtime-patches"}
    stage_entries = {
        "fix-resource-dedup",
        "fix-secrets-to-eso",
        "fix-inventory-guard-orphan-sidecars",
    }
    # appsuite-public-sector 2.28.18 is not legacy: fix-ox-appsuite-ingress does not apply
    not_applicable = {"fix-ox-appsuite-ingress"}
    catalog_ids = set(RuntimePatches().catalog.ids)
    assert ids == catalog_ids - stage_entries - not_applicable
    assert rendered.changes("fix-ox-appsuite-ingress") == []
    ctx = rendered.ctx
    facts = ctx.facts["runtime_patches"]
    assert facts["patches"]["fix-ox-appsuite-ingress"]["applies"] is False
    assert facts["stages"] == ["dedup", "eso", "orphan-sidecars-guard"]
    assert ctx.facts["charts"]["open-xchange"] == {
        "name": "appsuite-public-sector",
        "version": "2.28.18",
    }


def test_field_fixes_where_the_fixture_readme_puts_the_bugs(rendered: Rendered) -> None:
    r = rendered
    # fix-subpath-casing
    before = containers(r.before("opendesk-nextcloud", "Deployment", "opendesk-nextcloud-php"))
    after = containers(r.after("opendesk-nextcloud", "Deployment", "opendesk-nextcloud-php"))
    assert before[0]["volumeMounts"][0]["subpath"] == "custom.config.php"
    assert after[0]["volumeMounts"][0] == {
        "name": "php-config",
        "mountPath": "/var/www/html/config/custom.config.php",
        "subPath": "custom.config.php",
    }
    # fix-spurious-port
    before = containers(r.before("opendesk-static-files", "Deployment", "opendesk-static-files"))
    after = containers(r.after("opendesk-static-files", "Deployment", "opendesk-static-files"))
    assert before[0]["ports"][0]["port"] == 8080
    assert after[0]["ports"][0] == {"name": "http", "containerPort": 8080, "protocol": "TCP"}
    # fix-probe-enabled
    sts = containers(r.after("ox-connector", "StatefulSet", "ox-connector"))[0]
    assert "enabled" not in sts["livenessProbe"] and "enabled" not in sts["readinessProbe"]
    assert sts["livenessProbe"]["periodSeconds"] == 20
    # fix-empty-protocol, container and Service
    assert (
        containers(r.before("mariadb", "StatefulSet", "mariadb"))[0]["ports"][0]["protocol"] == ""
    )
    assert (
        containers(r.after("mariadb", "StatefulSet", "mariadb"))[0]["ports"][0]["protocol"] == "TCP"
    )
    assert r.after("mariadb", "Service", "mariadb")["spec"]["ports"][0]["protocol"] == "TCP"
    # fix-nginx-mountpath
    cm = r.after("matrix-neoboard-widget", "ConfigMap", "matrix-neoboard-widget-nginx")
    assert list(cm["data"]) == ["default.conf"] and "listen 8080;" in cm["data"]["default.conf"]
    [mount] = containers(r.after("matrix-neoboard-widget", "Deployment", "matrix-neoboard-widget"))[
        0
    ]["volumeMounts"]
    assert mount == {
        "name": "nginx-config",
        "mountPath": "/etc/nginx/conf.d/default.conf",
        "subPath": "default.conf",
    }


def test_ox_bootstrap_fixes(rendered: Rendered) -> None:
    key = ("opendesk-open-xchange-bootstrap", "Job", "opendesk-open-xchange-bootstrap")
    before, after = rendered.before(*key), rendered.after(*key)
    [c_before], [c_after] = containers(before), containers(after)
    assert "--skip-ssl-verify-server-cert" not in c_before["args"][0]
    assert "MYSQL_ROOT_PASSWD" not in env(c_before)
    # fix-ox-initconfigdb-root-pwd
    script = c_after["args"][0]
    assert "/opt/open-xchange/sbin/initconfigdb --skip-ssl-verify-server-cert \\\n" in script
    assert '--mysql-root-passwd="${MYSQL_ROOT_PASSWD}"' in script
    assert script.count("--skip-ssl-verify-server-cert") == 1
    # fix-mysql-root-pwd-injection: a reference by name, never the value
    assert env(c_after)["MYSQL_ROOT_PASSWD"] == {
        "secretKeyRef": {"name": "mariadb", "key": "mariadb-root-password"}
    }
    # fix-hook-deletion-policy (Argo-only HookSucceeded)
    annotations = after["metadata"]["annotations"]
    assert (
        annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation,HookSucceeded"
    )


@pytest.mark.parametrize(
    ("release", "name"),
    [
        ("opendesk-keycloak-bootstrap", "opendesk-keycloak-bootstrap-bootstrap-2-7-1"),
        ("opendesk-openproject-bootstrap", "opendesk-openproject-bootstrap"),
        ("opendesk-nextcloud-management", "opendesk-nextcloud-management"),
    ],
)
def test_bootstrap_jobs_get_the_ca_bundle(rendered: Rendered, release: str, name: str) -> None:
    before = rendered.before(release, "Job", name)
    after = rendered.after(release, "Job", name)
    assert "volumes" not in before["spec"]["template"]["spec"]
    [volume] = after["spec"]["template"]["spec"]["volumes"]
    assert volume["configMap"]["name"] == "opendesk-ca-bundle"
    for c in containers(after):
        assert {
            "name": "opendesk-ca-bundle",
            "mountPath": "/etc/ssl/certs/ca-certificates.crt",
            "subPath": "ca-certificates.crt",
            "readOnly": True,
        } in c["volumeMounts"]


def test_hook_fixes(rendered: Rendered) -> None:
    r = rendered
    seeder = r.after("openproject", "Job", "openproject-seeder-1")["metadata"]["annotations"]
    assert seeder["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation,HookSucceeded"
    assert seeder["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    nc_key = ("opendesk-nextcloud-management", "Job", "opendesk-nextcloud-management")
    nc_before, nc = r.before(*nc_key), r.after(*nc_key)
    assert "argocd.argoproj.io/hook" not in nc_before["metadata"]["annotations"]
    assert nc["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PostSync"
    assert nc_before["spec"]["ttlSecondsAfterFinished"] == 1800
    assert "ttlSecondsAfterFinished" not in nc["spec"]
    for release in ("opendesk-migrations-pre", "opendesk-migrations-post"):
        job = r.after(release, "Job", f"{release}-6")
        assert "ttlSecondsAfterFinished" not in job["spec"]


def test_ums_fixes(rendered: Rendered) -> None:
    r = rendered
    # fix-jgroups-timeout
    kc = env(containers(r.after("ums", "StatefulSet", "ums-keycloak"))[0])
    assert kc["JAVA_OPTS_APPEND"].endswith(
        "-Djava.net.preferIPv4Stack=true -Djgroups.tcp.sock_conn_timeout=1000"
    )
    # fix-ums-probes
    [udm] = containers(r.after("ums", "Deployment", "ums-udm-rest-api"))
    assert udm["readinessProbe"]["tcpSocket"] == {"port": 9979}
    assert udm["livenessProbe"]["tcpSocket"] == {"port": 9979}
    # fix-dedup-env-vars, in the container and the initContainer
    portal = r.after("ums", "Deployment", "ums-portal-server")
    for c in containers(portal) + containers(portal, "initContainers"):
        names = [e["name"] for e in c["env"]]
        assert names.count("AWS_DEFAULT_REGION") == 1
        assert env(c)["AWS_DEFAULT_REGION"] == "eu-west-1"
    before = r.before("ums", "Deployment", "ums-portal-server")
    assert [e["name"] for e in containers(before)[0]["env"]].count("AWS_DEFAULT_REGION") == 2


def test_other_releases(rendered: Rendered) -> None:
    r = rendered
    # fix-openproject-bootstrap-backoff
    key = ("opendesk-openproject-bootstrap", "Job", "opendesk-openproject-bootstrap")
    assert r.before(*key)["spec"]["backoffLimit"] == 6
    assert r.after(*key)["spec"]["backoffLimit"] == 20
    # fix-intercom-redis-username
    secret = r.after("intercom-service", "Secret", "intercom-service-redis")
    assert secret["stringData"]["username"] == "default"
    [ics] = containers(r.after("intercom-service", "Deployment", "intercom-service"))
    assert env(ics)["REDIS_USER"] == {
        "secretKeyRef": {"name": "intercom-service-redis", "key": "username"}
    }
    # fix-synapse-federation-whitelist
    home = r.after("opendesk-synapse", "ConfigMap", "opendesk-synapse")["data"]["homeserver.yaml"]
    assert yaml.safe_load(home)["federation_domain_whitelist"] == []
    before = r.before("opendesk-synapse", "ConfigMap", "opendesk-synapse")["data"]
    assert home.startswith(before["homeserver.yaml"])  # extended, not re-dumped
    # fix-ox-appsuite-ingress does not apply to 2.28.18; the HAProxy stage rewrote the path
    ingress = r.after(
        "open-xchange", "Ingress", "open-xchange-appsuite-http-api-routes-appsuite-api"
    )
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/appsuite/api"
    stages = {c.stage for c in r.result.changes if c.release == "open-xchange"}
    assert stages == {"patch-haproxy-rewrite-target"}
