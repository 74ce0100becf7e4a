"""The mini-openDesk fixture (tests/fixtures/mini-opendesk) renders with the real helmfile and helm
and reproduces every chart bug of the render-time fix catalog, one assertion set per fix id.

Three renders of copies of the fixture, run side by side once per module:
- `haproxy`: the defaults (`ingress.controller: haproxy`), with upstream's open-xchange
  post-renderer made executable and the pinned yq first on PATH: upstream's own render path;
- `variant`: an environment file sets `ingress.controller: nginx` (no post-renderer referenced: the
  script stays non-executable and the pinned yq is not on PATH), `apps.element.enabled: false` (the Synapse
  sidecar renders without its homeserver) and `apps.nextcloud.enabled: false`;
- `plain`: the untouched tree through the open-xchange standalone wrapper, which fails on the
  non-executable post-renderer exactly as upstream v1.13.1 does.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from opendesk_deployer import toolchain
from opendesk_deployer.runner import Completed, Runner

FIXTURE = Path(__file__).parent / "fixtures" / "mini-opendesk"
NAMESPACE = "opendesk-test"
MASTER_PASSWORD = "mini-opendesk-master-password"
OUTPUT_DIR_TEMPLATE = "{{ .OutputDir }}/{{ .Release.Name }}"
POST_RENDERER = "helmfile/apps/open-xchange/post-renderer-openxchange-HAPROXY.sh"
OX_API_INGRESS = "open-xchange-appsuite-http-api-routes-appsuite-api"

RELEASES = {
    "opendesk-migrations-pre",
    "opendesk-certificates",
    "opendesk-static-files",
    "redis",
    "postgresql",
    "mariadb",
    "ums",
    "intercom-service",
    "opendesk-keycloak-bootstrap",
    "open-xchange",
    "opendesk-open-xchange-bootstrap",
    "ox-connector",
    "opendesk-nextcloud-management",
    "opendesk-nextcloud",
    "opendesk-synapse",
    "opendesk-matrix-user-verification-service",
    "matrix-neoboard-widget",
    "openproject",
    "opendesk-openproject-bootstrap",
    "opendesk-migrations-post",
}
# What apps.element.enabled=false and apps.nextcloud.enabled=false remove (the OpenProject
# bootstrap needs both OpenProject and Nextcloud). The user-verification sidecar stays.
ELEMENT_RELEASES = {"opendesk-synapse", "matrix-neoboard-widget"}
NEXTCLOUD_RELEASES = {
    "opendesk-nextcloud-management",
    "opendesk-nextcloud",
    "opendesk-openproject-bootstrap",
}

VARIANT_VALUES = """\
---
ingress:
  controller: "nginx"
  ingressClassName: "nginx"
apps:
  element:
    enabled: false
  nextcloud:
    enabled: false
...
"""

Doc = dict[str, Any]


@dataclass
class Render:
    """One `helmfile template --output-dir` run: the documents of each release directory."""

    out: Path
    result: Completed
    docs: dict[str, list[Doc]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.out.is_dir():
            return
        for release in sorted(p for p in self.out.iterdir() if p.is_dir()):
            self.docs[release.name] = [
                doc
                for path in sorted(release.rglob("*.yaml"))
                for doc in yaml.safe_load_all(path.read_text())
                if doc
            ]

    def all(self, release: str, kind: str, name: str) -> list[Doc]:
        return [
            d for d in self.docs[release] if d["kind"] == kind and d["metadata"]["name"] == name
        ]

    def one(self, release: str, kind: str, name: str) -> Doc:
        found = self.all(release, kind, name)
        assert len(found) == 1, f"{release}: {len(found)} x {kind}/{name}"
        return found[0]


@dataclass
class Renders:
    haproxy: Render
    variant: Render
    plain: Completed


def _tool_dir(binary: str) -> str:
    return str(toolchain.find(binary).parent)


def _copy(tmp: Path, name: str) -> Path:
    tree = tmp / name / "opendesk"
    shutil.copytree(FIXTURE, tree, symlinks=True)
    return tree


def _render(tree: Path, path_dirs: list[str], *, wrapper: str | None = None) -> Completed:
    env = {
        "MASTER_PASSWORD": MASTER_PASSWORD,
        "PATH": os.pathsep.join([*path_dirs, os.environ.get("PATH", "")]),
        "HELM_CONFIG_HOME": str(tree.parent / "helm-config"),
        "HELM_DATA_HOME": str(tree.parent / "helm-data"),
    }
    state = ["--file", wrapper] if wrapper else []
    args = [*state, "-e", "dev", "-n", NAMESPACE, "--no-color", "template", "--skip-deps"]
    if not wrapper:
        args += ["--output-dir", str(tree.parent / "out"), "--output-dir-template"]
        args += [OUTPUT_DIR_TEMPLATE]
    return Runner().run("helmfile", args, cwd=tree, env=env, timeout=600, check=not wrapper)


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Renders]:
    try:
        toolchain.find("helmfile")
        helm, yq = _tool_dir("helm"), _tool_dir("yq")
    except toolchain.ToolchainError as exc:
        pytest.fail(f"{exc} (make setup builds it)")
    tmp = tmp_path_factory.mktemp("mini-opendesk")

    haproxy = _copy(tmp, "haproxy")
    (haproxy / POST_RENDERER).chmod(0o755)
    variant = _copy(tmp, "variant")
    (variant / "helmfile/environments/dev/test-variant.yaml.gotmpl").write_text(VARIANT_VALUES)
    plain = _copy(tmp, "plain")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        jobs = {
            "haproxy": pool.submit(_render, haproxy, [helm, yq]),
            "variant": pool.submit(_render, variant, [helm]),
            "plain": pool.submit(
                _render, plain, [helm], wrapper="helmfile/apps/open-xchange/helmfile.yaml.gotmpl"
            ),
        }
        done = {name: job.result() for name, job in jobs.items()}
    print(  # shown with -s / on failure: the cost of the fixture
        f"mini-opendesk: 3 renders in {time.monotonic() - started:.1f}s wall; "
        + ", ".join(f"{k} {v.seconds:.1f}s" for k, v in done.items())
    )
    yield Renders(
        haproxy=Render(haproxy.parent / "out", done["haproxy"]),
        variant=Render(variant.parent / "out", done["variant"]),
        plain=done["plain"],
    )


# ---------------------------------------------------------------------------------------------
# Static checks of the fixture (no render)


def test_chart_versions_in_charts_yaml_match_the_local_charts() -> None:
    charts = yaml.safe_load(
        (FIXTURE / "helmfile/environments/default/charts.yaml.gotmpl").read_text()
    )["charts"]
    for key, chart in charts.items():
        meta = yaml.safe_load((FIXTURE / "charts" / chart["name"] / "Chart.yaml").read_text())
        assert meta["version"] == chart["version"], key


def test_charts_are_deterministic_and_cluster_free() -> None:
    forbidden = re.compile(r"\b(lookup|randAlphaNum|randAlpha|randNumeric|randAscii|uuidv4|now)\b")
    for path in (FIXTURE / "charts").rglob("*"):
        if path.is_file():
            assert not forbidden.search(path.read_text()), path


def test_secrets_file_keeps_few_derived_passwords() -> None:
    # Each derivePassword (scrypt) runs once per child helmfile: 6 x 10 children is the budget.
    text = (FIXTURE / "helmfile/environments/default/secrets.yaml.gotmpl").read_text()
    calls = re.findall(
        r'derivePassword 1 "long" \(env "MASTER_PASSWORD" \| default "sovereign-workplace"\) '
        r'"[^"]+" "[^"]+" \| sha1sum \| quote',
        text,
    )
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert len(calls) == code.count("derivePassword") == 6


def test_post_renderer_is_wired_like_upstream_and_not_executable() -> None:
    script = FIXTURE / POST_RENDERER
    assert script.stat().st_mode & 0o111 == 0
    assert '"/appsuite/api(.*)"' in script.read_text()
    child = (FIXTURE / "helmfile/apps/open-xchange/helmfile-child.yaml.gotmpl").read_text()
    assert (
        '{{- if eq .Values.ingress.controller "haproxy" }}\n'
        '    postRenderer: "./post-renderer-openxchange-HAPROXY.sh"\n'
        "    {{- end }}"
    ) in child


# ---------------------------------------------------------------------------------------------
# The renders


@pytest.mark.slow
def test_one_directory_per_enabled_release(renders: Renders) -> None:
    assert set(renders.haproxy.docs) == RELEASES
    assert len(RELEASES) >= 10
    assert all(renders.haproxy.docs.values()), "every release renders documents"
    # 10 child helmfiles, each announcing its releases on stderr
    assert renders.haproxy.result.stderr.count("Templating release=") == len(RELEASES)


@pytest.mark.slow
def test_disabling_an_app_removes_its_releases(renders: Renders) -> None:
    assert set(renders.variant.docs) == RELEASES - ELEMENT_RELEASES - NEXTCLOUD_RELEASES


@pytest.mark.slow
def test_every_document_is_a_namespace_free_kubernetes_object(renders: Renders) -> None:
    for render in (renders.haproxy, renders.variant):
        for release, docs in render.docs.items():
            for doc in docs:
                assert isinstance(doc.get("apiVersion"), str), release
                assert isinstance(doc.get("kind"), str), release
                assert doc["metadata"]["name"], release
                assert "namespace" not in doc["metadata"], (release, doc["metadata"]["name"])


@pytest.mark.slow
def test_renders_are_deterministic(renders: Renders) -> None:
    # Releases the variant does not touch render byte-for-byte alike (derived secrets included).
    for release in ("ums", "postgresql", "redis", "mariadb", "intercom-service", "ox-connector"):
        a, b = renders.haproxy.out / release, renders.variant.out / release
        files = sorted(p.relative_to(a) for p in a.rglob("*.yaml"))
        assert files == sorted(p.relative_to(b) for p in b.rglob("*.yaml")), release
        for f in files:
            assert (a / f).read_bytes() == (b / f).read_bytes(), f"{release}/{f}"


@pytest.mark.slow
def test_haproxy_post_renderer_rewrites_the_appsuite_api_path(renders: Renders) -> None:
    ingress = renders.haproxy.one("open-xchange", "Ingress", OX_API_INGRESS)
    assert _paths(ingress) == ["/appsuite/api"]
    # helm writes a post-rendered release as one file, without the chart directory level
    assert (renders.haproxy.out / "open-xchange/templates/open-xchange.yaml").is_file()


@pytest.mark.slow
def test_plain_render_fails_on_the_non_executable_post_renderer(renders: Renders) -> None:
    assert renders.plain.exit_code != 0
    assert "post-renderer-openxchange-HAPROXY.sh" in renders.plain.stderr
    assert "permission denied" in renders.plain.stderr


@pytest.mark.slow
def test_migrations_secret_embeds_the_environment_in_plaintext(renders: Renders) -> None:
    for release in ("opendesk-migrations-pre", "opendesk-migrations-post"):
        secret = renders.haproxy.one(release, "Secret", f"{release}-environment-details")
        env = yaml.safe_load(secret["stringData"]["environmentDetails.yaml"])
        assert env["secrets"]["nubus"]["masterpassword"] == MASTER_PASSWORD
        assert set(env["secrets"]) >= {"keycloak", "mariadb", "postgresql", "redis", "synapse"}
        assert "theme" not in env
        assert "functional" not in env
        assert env["global"]["domain"] == "opendesk.internal"


@pytest.mark.slow
def test_namespace_placeholders_reach_the_rendered_output(renders: Renders) -> None:
    keycloak = renders.haproxy.one("ums", "StatefulSet", "ums-keycloak")
    java_opts = _env(_container(keycloak, "keycloak"))["JAVA_OPTS_APPEND"]
    assert "ums-keycloak-headless.__NAMESPACE__.svc.cluster.local" in java_opts
    realm = renders.haproxy.one(
        "opendesk-keycloak-bootstrap", "ConfigMap", "opendesk-keycloak-bootstrap-realm"
    )
    assert (
        realm["data"]["KEYCLOAK_URL"] == "http://ums-keycloak.__NAMESPACE__.svc.cluster.local:8080"
    )


# ---------------------------------------------------------------------------------------------
# One check per render-time fix: the chart bug it repairs is present in the output.


def _pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def _containers(workload: Doc, *, init: bool = False) -> list[Doc]:
    items: list[Doc] = _pod_spec(workload).get("initContainers" if init else "containers", [])
    return items


def _container(workload: Doc, name: str) -> Doc:
    (found,) = [c for c in _containers(workload) if c["name"] == name]
    return found


def _env(container: Doc) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _env_names(container: Doc) -> list[str]:
    return [e["name"] for e in container.get("env", [])]


def _annotations(doc: Doc) -> dict[str, str]:
    annotations: dict[str, str] = doc["metadata"].get("annotations", {})
    return annotations


def _paths(ingress: Doc) -> list[str]:
    return [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]


def _script(job: Doc) -> str:
    container = _containers(job)[0]
    return "\n".join([*container.get("command", []), *container.get("args", [])])


def _is_sha1(value: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{40}", value) is not None


def check_subpath_casing(r: Renders) -> None:
    php = r.haproxy.one("opendesk-nextcloud", "Deployment", "opendesk-nextcloud-php")
    (mount,) = _container(php, "nextcloud-php")["volumeMounts"]
    assert mount["subpath"] == "custom.config.php"
    assert "subPath" not in mount


def check_spurious_port(r: Renders) -> None:
    nginx = r.haproxy.one("opendesk-static-files", "Deployment", "opendesk-static-files")
    (port,) = _container(nginx, "nginx")["ports"]
    assert port["containerPort"] == 8080
    assert port["port"] == 8080


def check_probe_enabled(r: Renders) -> None:
    sts = r.haproxy.one("ox-connector", "StatefulSet", "ox-connector")
    container = _container(sts, "ox-connector")
    assert container["livenessProbe"]["enabled"] is True
    assert container["readinessProbe"]["enabled"] is True


def check_empty_protocol(r: Renders) -> None:
    sts = r.haproxy.one("mariadb", "StatefulSet", "mariadb")
    assert [p["protocol"] for p in _container(sts, "mariadb")["ports"]] == [""]
    svc = r.haproxy.one("mariadb", "Service", "mariadb")
    assert [p["protocol"] for p in svc["spec"]["ports"]] == [""]


def check_nginx_mountpath(r: Renders) -> None:
    cm = r.haproxy.one("matrix-neoboard-widget", "ConfigMap", "matrix-neoboard-widget-nginx")
    assert set(cm["data"]) == {"nginx.conf"}
    assert "server {" in cm["data"]["nginx.conf"]
    widget = r.haproxy.one("matrix-neoboard-widget", "Deployment", "matrix-neoboard-widget")
    (mount,) = _container(widget, "matrix-neoboard-widget")["volumeMounts"]
    assert mount == {
        "name": "nginx-config",
        "mountPath": "/etc/nginx/conf.d",
        "subPath": "default.conf",
    }
    assert mount["subPath"] not in cm["data"]


def _ox_bootstrap(r: Renders) -> Doc:
    return r.haproxy.one(
        "opendesk-open-xchange-bootstrap", "Job", "opendesk-open-xchange-bootstrap"
    )


def check_ox_initconfigdb_root_pwd(r: Renders) -> None:
    script = _script(_ox_bootstrap(r))
    assert "/opt/open-xchange/sbin/initconfigdb" in script
    assert "--skip-ssl-verify-server-cert" not in script


def check_mysql_root_pwd_injection(r: Renders) -> None:
    job = _ox_bootstrap(r)
    assert '--mysql-root-passwd="${MYSQL_ROOT_PASSWD}"' in _script(job)
    assert "MYSQL_ROOT_PASSWD" not in _env_names(_containers(job)[0])


def check_bootstrap_ssl_certs(r: Renders) -> None:
    jobs = [
        r.haproxy.one(
            "opendesk-keycloak-bootstrap", "Job", "opendesk-keycloak-bootstrap-bootstrap-2-7-1"
        ),
        r.haproxy.one("opendesk-openproject-bootstrap", "Job", "opendesk-openproject-bootstrap"),
        r.haproxy.one("opendesk-nextcloud-management", "Job", "opendesk-nextcloud-management"),
    ]
    for job in jobs:
        spec = _pod_spec(job)
        assert "volumes" not in spec, job["metadata"]["name"]
        for container in _containers(job):
            assert "volumeMounts" not in container
            names = _env_names(container)
            assert not {"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"} & set(names)


def check_hook_deletion_policy(r: Renders) -> None:
    seeder = _annotations(r.haproxy.one("openproject", "Job", "openproject-seeder-1"))
    assert seeder["helm.sh/hook-delete-policy"] == "hook-succeeded"
    assert seeder["argocd.argoproj.io/hook-delete-policy"] == "HookSucceeded"
    ox = _annotations(_ox_bootstrap(r))
    assert ox["argocd.argoproj.io/hook"] == "Sync"
    assert ox["argocd.argoproj.io/hook-delete-policy"] == "HookSucceeded"
    assert "helm.sh/hook-delete-policy" not in ox


def check_helm_hook_to_argo_hook(r: Renders) -> None:
    job = r.haproxy.one("opendesk-nextcloud-management", "Job", "opendesk-nextcloud-management")
    annotations = _annotations(job)
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    assert not [k for k in annotations if k.startswith("argocd.argoproj.io/")]


def check_jgroups_timeout(r: Renders) -> None:
    keycloak = r.haproxy.one("ums", "StatefulSet", "ums-keycloak")
    env = _env(_container(keycloak, "keycloak"))
    assert env["KC_CACHE_STACK"] == "kubernetes"
    assert "-Djgroups.dns.query=" in env["JAVA_OPTS_APPEND"]
    assert "sock_conn_timeout" not in json.dumps(r.haproxy.docs["ums"])


def check_resource_dedup(r: Renders) -> None:
    twins = r.haproxy.all("ums", "ConfigMap", "ums-stack-data-ums-ucr")
    assert len(twins) == 2
    assert twins[0] == twins[1]


def check_secrets_to_eso(r: Renders) -> None:
    derived = yaml.safe_load(
        r.haproxy.one(
            "opendesk-migrations-pre", "Secret", "opendesk-migrations-pre-environment-details"
        )["stringData"]["environmentDetails.yaml"]
    )["secrets"]
    expected = {
        ("postgresql", "postgresql", "nextcloud-password"): derived["postgresql"]["nextcloudUser"],
        ("mariadb", "mariadb", "mariadb-root-password"): derived["mariadb"]["rootPassword"],
        ("ums", "ums-keycloak-credentials", "admin_password"): derived["keycloak"]["adminPassword"],
        ("opendesk-keycloak-bootstrap", "opendesk-keycloak-bootstrap", "KEYCLOAK_ADMIN_PASSWORD"): (
            derived["keycloak"]["adminPassword"]
        ),
        ("open-xchange", "open-xchange-core-mw-admin", "OX_ADMIN_MASTER_PASSWORD"): (
            derived["oxAppSuite"]["adminPassword"]
        ),
        (
            "opendesk-open-xchange-bootstrap",
            "opendesk-open-xchange-bootstrap",
            "CONFIGDB_PASSWORD",
        ): (derived["mariadb"]["rootPassword"]),
        ("ox-connector", "ox-connector", "OX_MASTER_PASSWORD"): derived["oxAppSuite"][
            "adminPassword"
        ],
        ("intercom-service", "intercom-service-redis", "password"): derived["redis"]["password"],
        (
            "opendesk-nextcloud-management",
            "opendesk-nextcloud-management",
            "NEXTCLOUD_DB_PASSWORD",
        ): (derived["postgresql"]["nextcloudUser"]),
        ("opendesk-synapse", "opendesk-synapse", "registration_shared_secret"): (
            derived["synapse"]["registrationSharedSecret"]
        ),
    }
    for (release, name, key), value in expected.items():
        secret = r.haproxy.one(release, "Secret", name)
        assert "data" not in secret
        assert secret["stringData"][key] == value, (release, name, key)
        assert _is_sha1(value)
    redis = r.haproxy.one("redis", "Secret", "redis")  # Bitnami style: base64 `data`
    assert (
        base64.b64decode(redis["data"]["redis-password"]).decode() == derived["redis"]["password"]
    )
    values = [v for scope in derived.values() for v in scope.values()]
    assert len(set(values)) == len(values) == 7, "distinct scopes derive distinct passwords"


def check_openproject_bootstrap_backoff(r: Renders) -> None:
    job = r.haproxy.one("opendesk-openproject-bootstrap", "Job", "opendesk-openproject-bootstrap")
    assert job["spec"]["backoffLimit"] == 6


def check_inventory_guard_orphan_sidecars(r: Renders) -> None:
    sidecar = "opendesk-matrix-user-verification-service"
    assert {sidecar, "opendesk-synapse"} <= set(r.haproxy.docs)
    assert sidecar in r.variant.docs
    assert "opendesk-synapse" not in r.variant.docs
    uvs = r.variant.one(sidecar, "Deployment", sidecar)
    homeserver = _env(_container(uvs, "matrix-user-verification-service"))["UVS_HOMESERVER_URL"]
    assert homeserver == "http://opendesk-synapse:8008"


def check_ums_probes(r: Renders) -> None:
    api = r.haproxy.one("ums", "Deployment", "ums-udm-rest-api")
    for container in _containers(api):
        assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(container)


def check_ox_appsuite_ingress(r: Renders) -> None:
    ingress = r.variant.one("open-xchange", "Ingress", OX_API_INGRESS)
    assert _paths(ingress) == ["/appsuite/api(.*)"]
    assert ingress["spec"]["rules"][0]["host"] == "webmail.opendesk.internal"


def check_intercom_redis_username(r: Renders) -> None:
    secret = r.haproxy.one("intercom-service", "Secret", "intercom-service-redis")
    assert set(secret["stringData"]) == {"password"}
    ics = r.haproxy.one("intercom-service", "Deployment", "intercom-service")
    names = _env_names(_container(ics, "intercom-service"))
    assert "REDIS_PASSWORD" in names
    assert "REDIS_USER" not in names


def check_synapse_federation_whitelist(r: Renders) -> None:
    cm = r.haproxy.one("opendesk-synapse", "ConfigMap", "opendesk-synapse")
    homeserver = yaml.safe_load(cm["data"]["homeserver.yaml"])
    assert homeserver["server_name"] == "opendesk.internal"
    assert "federation_domain_whitelist" not in homeserver


def check_dedup_env_vars(r: Renders) -> None:
    portal = r.haproxy.one("ums", "Deployment", "ums-portal-server")
    for container in [*_containers(portal), *_containers(portal, init=True)]:
        assert _env_names(container).count("AWS_DEFAULT_REGION") == 2, container["name"]


def check_jobs_remove_hook_ttl(r: Renders) -> None:
    nextcloud = r.haproxy.one(
        "opendesk-nextcloud-management", "Job", "opendesk-nextcloud-management"
    )
    assert "helm.sh/hook" in _annotations(nextcloud)
    assert nextcloud["spec"]["ttlSecondsAfterFinished"] == 1800
    migrations = r.haproxy.one("opendesk-migrations-pre", "Job", "opendesk-migrations-pre-6")
    assert _annotations(migrations)["argocd.argoproj.io/hook"] == "Sync"
    assert migrations["spec"]["ttlSecondsAfterFinished"] == 60


FIX_CHECKS: dict[str, Callable[[Renders], None]] = {
    "fix-subpath-casing": check_subpath_casing,
    "fix-spurious-port": check_spurious_port,
    "fix-probe-enabled": check_probe_enabled,
    "fix-empty-protocol": check_empty_protocol,
    "fix-nginx-mountpath": check_nginx_mountpath,
    "fix-ox-initconfigdb-root-pwd": check_ox_initconfigdb_root_pwd,
    "fix-mysql-root-pwd-injection": check_mysql_root_pwd_injection,
    "fix-bootstrap-ssl-certs": check_bootstrap_ssl_certs,
    "fix-hook-deletion-policy": check_hook_deletion_policy,
    "fix-helm-hook-to-argo-hook": check_helm_hook_to_argo_hook,
    "fix-jgroups-timeout": check_jgroups_timeout,
    "fix-resource-dedup": check_resource_dedup,
    "fix-secrets-to-eso": check_secrets_to_eso,
    "fix-openproject-bootstrap-backoff": check_openproject_bootstrap_backoff,
    "fix-inventory-guard-orphan-sidecars": check_inventory_guard_orphan_sidecars,
    "fix-ums-probes": check_ums_probes,
    "fix-ox-appsuite-ingress": check_ox_appsuite_ingress,
    "fix-intercom-redis-username": check_intercom_redis_username,
    "fix-synapse-federation-whitelist": check_synapse_federation_whitelist,
    "fix-dedup-env-vars": check_dedup_env_vars,
    "fix-jobs-remove-hook-ttl": check_jobs_remove_hook_ttl,
}


def test_every_fix_of_the_wiki_list_has_a_check_and_a_readme_row() -> None:
    wiki = Path(os.environ.get("OPENDESK_SHARED", FIXTURE.parents[3] / "shared"))
    index = wiki / "seed" / "deployment-wiki-index.txt"
    readme = (FIXTURE / "README.md").read_text()
    assert all(f"| {fix} |" in readme for fix in FIX_CHECKS)
    if index.is_file():
        text = index.read_text()
        section = text[text.index("Render-time fixes") : text.index("\nRunbooks")]
        listed = set(re.findall(r"- (fix-[a-z0-9-]+) \u2014", section))
        assert listed == set(FIX_CHECKS)


@pytest.mark.slow
@pytest.mark.parametrize("fix", sorted(FIX_CHECKS))
def test_reproduces_chart_bug(renders: Renders, fix: str) -> None:
    FIX_CHECKS[fix](renders)
