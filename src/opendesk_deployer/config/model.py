"""The pydantic model of one openDesk instance (the `Instance` file an operator writes).

Field names are camelCase in YAML, snake_case in Python. Unknown fields are errors, so that a
typo such as `namspace:` is caught instead of silently ignored. Passwords of external services
are never written into this file: they are references (an environment variable or a secrets
manager key), because instance files are stored in the database and shown in the UI.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
)
SEMVER = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
GIT_REF = re.compile(r"^(?!/)(?!.*(?:\.\.|//|@\{|\.lock$|/$|\.$))[A-Za-z0-9._/+-]+$")


def _dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS label (lowercase letters, digits and '-', starting and "
            "ending with a letter or digit, at most 63 characters)"
        )
    return value


def _dns_name(value: str) -> str:
    if not DNS_NAME.match(value):
        raise ValueError(f"{value!r} is not a DNS name (lowercase labels separated by dots)")
    return value


def _semver(value: str) -> str:
    if not SEMVER.match(value):
        raise ValueError(f"{value!r} is not a version such as 1.13.1")
    return value.removeprefix("v")


def _git_ref(value: str) -> str:
    if not GIT_REF.match(value):
        raise ValueError(f"{value!r} is not a valid git branch or ref name")
    return value


def _relative_dir(value: str) -> str:
    p = PurePosixPath(value)
    if p.is_absolute() or ".." in p.parts or not value.strip("/"):
        raise ValueError(f"{value!r} must be a relative path inside the repository, without '..'")
    return value.strip("/") + "/"


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
DnsName = Annotated[str, AfterValidator(_dns_name)]
SemVer = Annotated[str, AfterValidator(_semver)]
GitRef = Annotated[str, AfterValidator(_git_ref)]
RelativeDir = Annotated[str, AfterValidator(_relative_dir)]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


# The app keys of openDesk's `apps.<key>.enabled` (v1.13 plus the v1.19 additions).
KNOWN_APPS = frozenset(
    {
        "cassandra", "certificates", "clamavDistributed", "clamavSimple", "collabora",
        "collaboraController", "cryptpad", "dkimpy", "dovecot", "element", "elementAdmin",
        "elementGroupsync", "home", "jitsi", "mariadb", "memcached", "migrations", "minio",
        "nextcloud", "notes", "nubus", "openproject", "oxAppSuite", "postfix", "postgresql",
        "redis", "xwiki", "seaweedfs",
    }
)  # fmt: skip

DATABASES = frozenset(
    {
        "keycloak", "keycloakExtension", "nextcloud", "notes", "openproject", "synapse",
        "umsAuthSession", "umsGuardianManagementApi", "umsNotificationsApi", "umsSelfservice",
        "xwiki", "oxAppSuite", "oxConnector", "dovecotACL", "dovecotDictmap",
    }
)  # fmt: skip
OBJECT_STORES = frozenset(
    {"dovecot", "migrations", "nextcloud", "notes", "nubus", "openproject", "openxchange"}
)
CACHES = frozenset(
    {"intercomService", "nextcloud", "notes", "oxAppSuite", "openproject", "umsSelfservice"}
)


def _keys_in(allowed: frozenset[str], what: str):  # type: ignore[no-untyped-def]
    def check(value: dict[str, object]) -> dict[str, object]:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(
                f"unknown {what} {', '.join(map(repr, unknown))}; known: {', '.join(sorted(allowed))}"
            )
        return value

    return AfterValidator(check)


class GitSource(Model):
    url: str = Field(min_length=1)
    ref: GitRef = "main"


class OpenDeskSource(Model):
    """Where the openDesk helmfile tree comes from: a git URL and ref, or a local path
    (resolved relative to the instance file)."""

    git: GitSource | None = None
    path: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> OpenDeskSource:
        if (self.git is None) == (self.path is None):
            raise ValueError("set exactly one of 'git' (url + ref) or 'path'")
        return self


class OpenDesk(Model):
    version: SemVer
    source: OpenDeskSource


class Domains(Model):
    main: DnsName
    mail: DnsName | None = None
    matrix: DnsName | None = None


class SecretRef(Model):
    """A secret held elsewhere: an environment variable of the deployer, or a key in the
    instance's secrets manager."""

    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    secrets_manager_key: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.secrets_manager_key is None):
            raise ValueError("set exactly one of 'env' or 'secretsManagerKey'")
        return self


class Database(Model):
    type: Literal["postgresql", "mariadb", "cassandra"] = "postgresql"
    host: str = Field(min_length=1)
    port: int = Field(default=5432, ge=1, le=65535)
    name: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretRef
    connection_limit: int | None = Field(default=None, ge=1)
    ssl: bool = False


class ObjectStore(Model):
    endpoint: str = Field(min_length=1)
    bucket: str = Field(min_length=3)
    region: str = "eu01"
    username: str = Field(min_length=1)
    secret_key: SecretRef
    use_ssl: bool = True
    path_style: bool = True
    port: int = Field(default=443, ge=1, le=65535)


class Cache(Model):
    host: str = Field(min_length=1)
    port: int = Field(default=6379, ge=1, le=65535)
    username: str | None = None
    password: SecretRef | None = None
    tls: bool = False


class ExternalServices(Model):
    databases: Annotated[dict[str, Database], _keys_in(DATABASES, "database")] = {}
    object_stores: Annotated[dict[str, ObjectStore], _keys_in(OBJECT_STORES, "object store")] = {}
    caches: Annotated[dict[str, Cache], _keys_in(CACHES, "cache")] = {}


class ChartOverride(Model):
    registry: str | None = None
    repository: str | None = None
    version: SemVer | None = None
    verify: bool | None = None


class Registries(Model):
    """Private mirrors. `helmRegistry` feeds openDesk's `global.helmRegistry` and
    `repositories.helm.registryOpencodeDe`; `verifyCharts: false` turns chart signature
    verification off for every chart (mirrors that do not serve provenance files)."""

    helm_registry: str | None = None
    image_registry: str | None = None
    verify_charts: bool = True
    charts: dict[str, ChartOverride] = {}
    image_pull_secret: DnsName | None = None


class SecretsManager(Model):
    provider: Literal["stackit"] = "stackit"
    instance_id: str = Field(min_length=1)
    api_url: str = Field(min_length=1)
    path: str = "opendesk"
    username: SecretRef
    password: SecretRef
    # The read-only user External Secrets Operator reads with (`write: false`); its password is in
    # the Secret `readOnlySecret` (key `password`) that the deployer creates in the namespace.
    read_only_username: str | None = None
    read_only_secret: DnsName = "stackit-sm-cred"  # noqa: S105 (a Secret name)


class JitPlugin(Model):
    image: str = "keycloak-jit-user-sync:latest"
    pull_secret: DnsName = "jit-plugin-pull-secret"  # noqa: S105 (a Secret name)


class ExternalIdp(Model):
    enabled: bool = False
    user_sync: bool = False
    jit_plugin: JitPlugin = JitPlugin()

    @model_validator(mode="after")
    def _sync_needs_idp(self) -> ExternalIdp:
        if self.user_sync and not self.enabled:
            raise ValueError("userSync needs enabled: true")
        return self


class Toggle(Model):
    enabled: bool = False


class Keycloak(Model):
    expose_admin_console: bool = False


class Terraform(Model):
    provision_galera: bool = False


class GitTarget(Model):
    """Where rendered manifests go: a repository URL or local path (a missing local path
    becomes a new bare repository), a branch and a folder inside it."""

    repository: str = Field(min_length=1)
    branch: GitRef = "main"
    path: RelativeDir | None = None
    # The URL Argo CD reads the repository from, when it differs from `repository` (a local
    # path served to Argo CD by the rig's git server, or an https URL behind a push-only SSH URL).
    argocd_repo_url: str | None = None


def _field_path(value: str) -> str:
    # The patch catalog's path syntax (patches/paths.py); PathError is a ValueError, reported
    # with field, file and line like every other problem of the file.
    from opendesk_deployer.patches.paths import Path

    Path.parse(value)
    return value


FieldPath = Annotated[str, AfterValidator(_field_path)]


class Override(Model):
    """A per-instance correction of one rendered document, applied after the patch catalog
    (render stage `overrides`, docs/stages.md). It must match a document: one that matches
    nothing, or a `remove` path that does not exist, fails the render naming it."""

    release: str | None = None
    api_version: str | None = None
    kind: str = Field(min_length=1)
    name: str = Field(min_length=1)
    set_: dict[FieldPath, Any] = Field(default={}, alias="set")
    remove: list[FieldPath] = []
    why: str = Field(min_length=1)

    @model_validator(mode="after")
    def _does_something(self) -> Override:
        if not self.set_ and not self.remove:
            raise ValueError("an override needs `set` or `remove`")
        return self


class Instance(Model):
    api_version: Literal["opendesk-deployer/v1"]
    kind: Literal["Instance"]
    customer_id: DnsLabel
    project_id: DnsLabel
    instance_id: DnsLabel
    opendesk: OpenDesk
    environment: Literal["dev", "test", "prod"] = "prod"
    namespace: DnsLabel
    domains: Domains
    apps: Annotated[dict[str, bool], _keys_in(KNOWN_APPS, "app")] = {}
    platform_sizing: Literal["S", "M", "L", "XL"] = "M"
    external_services: ExternalServices = ExternalServices()
    registries: Registries = Registries()
    secrets_manager: SecretsManager | None = None
    external_idp: ExternalIdp = ExternalIdp()
    scim: Toggle = Toggle()
    wire_sso: Toggle = Field(default=Toggle(), alias="wireSSO")
    keycloak: Keycloak = Keycloak()
    terraform: Terraform = Terraform()
    overrides: list[Override] = []
    git: GitTarget
    runtime_state: str = Field(min_length=1)

    @property
    def git_path(self) -> str:
        """Folder of this instance in the target repository (always ends with '/')."""
        return self.git.path or f"instances/{self.instance_id}/"
