"""Stub charts for the real openDesk helmfile tree, and how to render that tree against them.

openDesk's charts live in OCI registries that cannot be reached here. For every entry of
`helmfile/environments/default/charts.yaml.gotmpl` (`charts.<key>.{registry,repository,name,
version,verify}`) this module builds a stub chart with the same name and version, packages it
with `helm package` (cached by the charts file's hash) and pushes it with `helm push` to
`oci://127.0.0.1:PORT/<repository>`, so that helmfile finds `<repository>/<name>:<version>`.

A stub renders, parameterised by `.Release.Name`, a ConfigMap `<release>-stub`, a Deployment and
a Service `<release>`, accepts any values (no schema) and is deterministic: the same values give
the same bytes. The values only show up as a checksum and the sorted top-level keys.

To render the real tree against the stubs (`render_tree`): copy it (`copy_tree`), write
`stub_values(...)` to `helmfile/environments/dev/stub-registry.yaml.gotmpl`
(`write_stub_values`), optionally replace the 111 scrypt-based `derivePassword` calls of
`secrets.yaml.gotmpl` by constants (`fast_secrets`, ~4 min -> seconds), make the post-renderers
executable, and run `helmfile -e dev -n NS template --output-dir OUT --output-dir-template
'{{ .OutputDir }}/{{ .Release.Name }}'` with helm and yq on PATH.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from opendesk_deployer import toolchain
from opendesk_deployer.runner import Completed, Runner

if TYPE_CHECKING:
    from support.oci_registry import OciRegistry

REPO = Path(__file__).resolve().parents[2]
CHARTS_FILE = Path("helmfile/environments/default/charts.yaml.gotmpl")
SECRETS_FILE = Path("helmfile/environments/default/secrets.yaml.gotmpl")
STUB_VALUES_FILE = Path("helmfile/environments/dev/stub-registry.yaml.gotmpl")
OUTPUT_DIR_TEMPLATE = "{{ .OutputDir }}/{{ .Release.Name }}"
PUSH_WORKERS = 4


def opendesk_tree(version: str = "v1.13.1") -> Path:
    """The read-only openDesk helmfile tree in shared/ (`OPENDESK_SHARED` moves shared/)."""
    shared = Path(os.environ.get("OPENDESK_SHARED", REPO.parent / "shared"))
    return shared / "opendesk" / version


# --------------------------------------------------------------------------- charts file


@dataclass(frozen=True)
class ChartRef:
    """One `charts.<key>` entry of charts.yaml.gotmpl."""

    key: str
    registry: str
    repository: str
    name: str
    version: str
    verify: bool

    @property
    def ref(self) -> str:
        """`<repository>/<name>:<version>`, the OCI reference below the registry host."""
        return f"{self.repository}/{self.name}:{self.version}"

    @property
    def artifact(self) -> tuple[str, str, str]:
        """What identifies one pushed chart: several keys may share it."""
        return (self.repository, self.name, self.version)

    @property
    def tgz_name(self) -> str:
        return f"{self.name}-{self.version}.tgz"


class ChartsFileError(ValueError):
    """charts.yaml.gotmpl cannot be read without evaluating templates, or lacks a field."""


def load_charts(path: Path) -> list[ChartRef]:
    """Parse charts.yaml.gotmpl (plain YAML with comments in v1.13.1). Go template actions are
    not evaluated: one outside a comment is reported, not guessed."""
    text = path.read_text()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ChartsFileError(f"{path}: not plain YAML (template actions?): {exc}") from None
    entries = (doc or {}).get("charts")
    if not isinstance(entries, dict):
        raise ChartsFileError(f"{path}: no `charts:` mapping")
    result = []
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise ChartsFileError(f"{path}: charts.{key} is not a mapping")
        fields: dict[str, Any] = {}
        for field in ("registry", "repository", "name", "version"):
            value = entry.get(field)
            if not isinstance(value, str) or not value:
                raise ChartsFileError(f"{path}: charts.{key}.{field} is missing or not a string")
            if "{{" in value:
                raise ChartsFileError(f"{path}: charts.{key}.{field} is a template: {value!r}")
            fields[field] = value
        verify = entry.get("verify", False)
        if not isinstance(verify, bool):
            raise ChartsFileError(f"{path}: charts.{key}.verify is not a boolean: {verify!r}")
        result.append(ChartRef(key=str(key), verify=verify, **fields))
    return result


def unique_artifacts(charts: Iterable[ChartRef]) -> list[ChartRef]:
    """One chart per (repository, name, version), first key wins, in file order."""
    seen: dict[tuple[str, str, str], ChartRef] = {}
    for c in charts:
        seen.setdefault(c.artifact, c)
    return list(seen.values())


# --------------------------------------------------------------------------- stub chart

HELPERS_TPL = """\
{{- define "stub.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "stub.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "stub.labels" -}}
{{ include "stub.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{- end -}}

{{- define "stub.valuesChecksum" -}}
{{- toYaml .Values | sha256sum -}}
{{- end -}}
"""

CONFIGMAP_YAML = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-stub
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "stub.labels" . | nindent 4 }}
data:
  RELEASE_NAME: {{ .Release.Name | quote }}
  RELEASE_NAMESPACE: {{ .Release.Namespace | quote }}
  CHART: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
  VALUES_CHECKSUM: {{ include "stub.valuesChecksum" . | quote }}
  VALUES_KEYS: {{ keys .Values | sortAlpha | join "," | quote }}
"""

DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "stub.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "stub.labels" . | nindent 4 }}
spec:
  replicas: 1
  selector:
    matchLabels:
      {{- include "stub.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "stub.selectorLabels" . | nindent 8 }}
      annotations:
        checksum/values: {{ include "stub.valuesChecksum" . | quote }}
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        fsGroup: 65532
      containers:
        - name: stub
          image: "registry.invalid/opendesk-stub/{{ .Chart.Name }}:{{ .Chart.Version }}"
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ .Release.Name }}-stub
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
          resources:
            requests:
              cpu: 10m
              memory: 16Mi
            limits:
              memory: 64Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
"""

SERVICE_YAML = """\
apiVersion: v1
kind: Service
metadata:
  name: {{ include "stub.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "stub.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "stub.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
"""

TEMPLATES: dict[str, str] = {
    "templates/_helpers.tpl": HELPERS_TPL,
    "templates/configmap.yaml": CONFIGMAP_YAML,
    "templates/deployment.yaml": DEPLOYMENT_YAML,
    "templates/service.yaml": SERVICE_YAML,
}


def stub_chart_files(chart: ChartRef) -> dict[str, str]:
    """Relative path -> content of the stub chart for `chart`."""
    meta = {
        "apiVersion": "v2",
        "name": chart.name,
        "version": chart.version,
        "appVersion": chart.version,
        "type": "application",
        "description": f"Test stub of {chart.repository}/{chart.name} {chart.version}",
    }
    return {
        "Chart.yaml": yaml.safe_dump(meta, sort_keys=False),
        "values.yaml": "# Stub chart: any values are accepted, none are required.\n{}\n",
        **TEMPLATES,
    }


def write_stub_chart(chart: ChartRef, parent: Path) -> Path:
    """Write the stub chart into `parent/<name>` and return that directory."""
    root = parent / chart.name
    for rel, content in stub_chart_files(chart).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return root


def _generator_digest() -> str:
    """Changes whenever the stub chart content changes: part of the cache key."""
    h = hashlib.sha256()
    for rel, content in sorted(TEMPLATES.items()):
        h.update(rel.encode() + b"\0" + content.encode() + b"\0")
    h.update(repr(stub_chart_files(ChartRef("k", "r", "repo", "n", "0.0.0", False))).encode())
    return h.hexdigest()


def stub_cache_dir(charts_file: Path) -> Path:
    """`<toolchain cache>/stub-charts/<hash of charts file + stub generator>`."""
    h = hashlib.sha256(charts_file.read_bytes())
    h.update(_generator_digest().encode())
    return toolchain.cache_dir() / "stub-charts" / h.hexdigest()[:20]


def package_stubs(
    charts: Iterable[ChartRef], charts_file: Path, *, runner: Runner | None = None
) -> dict[tuple[str, str, str], Path]:
    """Packaged stub (.tgz) per artifact, built once per charts file and kept in
    `stub_cache_dir(charts_file)`; a later session reuses them without running helm."""
    runner = runner or Runner()
    wanted = unique_artifacts(charts)
    cache = stub_cache_dir(charts_file)
    if not all((cache / c.tgz_name).is_file() for c in wanted):
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache.parent, prefix=".build-") as tmp:
            src, out = Path(tmp) / "src", Path(tmp) / "out"
            out.mkdir()
            dirs: dict[str, Path] = {}
            for c in wanted:  # same name+version in two repositories: one tgz
                if c.tgz_name not in dirs:
                    dirs[c.tgz_name] = write_stub_chart(c, src / c.tgz_name.removesuffix(".tgz"))
            runner.run("helm", ["package", *map(str, dirs.values()), "--destination", str(out)])
            if cache.exists():  # a partial or concurrent build: replace it
                shutil.rmtree(cache, ignore_errors=True)
            try:
                out.rename(cache)
            except OSError:
                if not all((cache / c.tgz_name).is_file() for c in wanted):
                    raise
    return {c.artifact: cache / c.tgz_name for c in wanted}


def push_stubs(
    registry: OciRegistry,
    charts: Iterable[ChartRef],
    charts_file: Path,
    *,
    runner: Runner | None = None,
) -> list[str]:
    """Package (cached) and push one stub per artifact to `registry`; returns the pushed
    references `host/<repository>/<name>:<version>`. helm needs `--plain-http` for the push:
    without it the upload fails with 'blob upload Location "127.0.0.1:PORT" downgrades scheme
    from https' (pulls fall back to plain HTTP on their own)."""
    runner = runner or Runner()
    charts = list(charts)
    tgzs = package_stubs(charts, charts_file, runner=runner)

    def push(c: ChartRef) -> str:
        runner.run(
            "helm",
            ["push", "--plain-http", str(tgzs[c.artifact]), f"{registry.url}/{c.repository}"],
        )
        return f"{registry.host}/{c.ref}"

    with ThreadPoolExecutor(max_workers=PUSH_WORKERS) as pool:
        return list(pool.map(push, unique_artifacts(charts)))


# --------------------------------------------------------------------------- values, tree copy


def stub_values(registry: OciRegistry, charts: Iterable[ChartRef]) -> dict[str, Any]:
    """Values that point every repository of the tree at `registry`, verification off.

    Each repository URL is `{{ coalesce .Values.repositories.helm.registryOpencodeDe
    .Values.global.helmRegistry | default .Values.charts.X.registry }}/{{ .Values.charts.X.
    repository }}` (Enterprise ones use `registryOpencodeDeEnterprise`), with `oci: true`, so
    the value is the bare `host:port`. `verify: false` because stubs are unsigned (helm would
    need a .prov file and the openDesk keyrings)."""
    return {
        "repositories": {
            "helm": {
                "registryOpencodeDe": registry.host,
                "registryOpencodeDeEnterprise": registry.host,
            }
        },
        "global": {"helmRegistry": registry.host},
        "charts": {c.key: {"verify": False} for c in charts},
    }


def write_stub_values(tree: Path, registry: OciRegistry, charts: Iterable[ChartRef]) -> Path:
    """Write `stub_values` as helmfile/environments/dev/stub-registry.yaml.gotmpl of `tree`
    (a copy: never the shared tree)."""
    path = tree / STUB_VALUES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by tests/support/stub_charts.py: the stub OCI registry, no verify.\n"
    path.write_text(header + "---\n" + yaml.safe_dump(stub_values(registry, charts)))
    return path


_ACTION = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def fast_secrets(text: str) -> tuple[str, int]:
    """Replace every `{{ ... }}` action that calls derivePassword (scrypt, ~2 s each) by a
    constant quoted string "stub-secret-<n>"; returns the new text and the count."""
    count = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal count
        if "derivePassword" not in m.group(0):
            return m.group(0)
        count += 1
        return f'"stub-secret-{count}"'

    return _ACTION.sub(repl, text), count


def copy_tree(
    src: Path,
    dest: Path,
    *,
    fast: bool = True,
    executable_scripts: bool = True,
) -> Path:
    """Copy the (read-only) openDesk tree to `dest` with owner-writable files and dirs.
    `fast` replaces the derivePassword calls in secrets.yaml.gotmpl (`fast_secrets`);
    `executable_scripts` sets +x on the post-renderer `*.sh` (not executable upstream)."""
    shutil.copytree(src, dest, copy_function=shutil.copyfile)
    for dirpath, _dirs, files in os.walk(dest):
        d = Path(dirpath)
        d.chmod(d.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)
        for f in files:
            p = d / f
            mode = p.stat().st_mode | stat.S_IWUSR
            if executable_scripts and f.endswith(".sh"):
                mode |= stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
            p.chmod(mode)
    if fast:
        secrets = dest / SECRETS_FILE
        text, _n = fast_secrets(secrets.read_text())
        secrets.write_text(text)
    return dest


def render_env(cache_home: Path, extra_path: Iterable[Path] = ()) -> dict[str, str]:
    """Environment for helmfile: helm and the pinned yq first on PATH (Debian's `yq` is the
    jq wrapper, which the open-xchange post-renderer cannot use); a private helmfile cache
    (helmfile keeps OCI charts in `$HELMFILE_CACHE_HOME/<repo name>/<chart>/<version>`, a key
    without the registry host, so stubs would shadow real charts and vice versa); empty
    registry credentials (no `helm registry login`)."""
    dirs = [toolchain.find("helm").parent]
    # Without the pinned yq, open-xchange's post-renderer picks Debian's and fails with
    # "jq: Unknown option --expression".
    with contextlib.suppress(toolchain.ToolchainError):
        dirs.append(toolchain.find("yq").parent)
    dirs.extend(extra_path)
    env = {
        "PATH": os.pathsep.join([*map(str, dirs), os.environ.get("PATH", "")]),
        "HELMFILE_CACHE_HOME": str(cache_home),
    }
    for name in (
        "OD_PRIVATE_REGISTRY_USERNAME",
        "OD_PRIVATE_REGISTRY_PASSWORD",
        "OD_ENTERPRISE_PRIVATE_REGISTRY_USERNAME",
        "OD_ENTERPRISE_PRIVATE_REGISTRY_PASSWORD",
    ):
        env[name] = ""
    return env


def render_tree(
    tree: Path,
    out_dir: Path,
    *,
    environment: str = "dev",
    namespace: str = "opendesk",
    extra_args: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float | None = 900,
    runner: Runner | None = None,
) -> Completed:
    """`helmfile -e ENV -n NS template --output-dir OUT --output-dir-template
    '{{ .OutputDir }}/{{ .Release.Name }}'` in `tree` (a prepared copy), with a fresh
    helmfile cache that is removed afterwards."""
    runner = runner or Runner()
    with tempfile.TemporaryDirectory(prefix="helmfile-cache-") as cache_home:
        full_env = {**render_env(Path(cache_home)), **(env or {})}
        return runner.run(
            "helmfile",
            [
                "-e",
                environment,
                "-n",
                namespace,
                "template",
                "--output-dir",
                str(out_dir),
                "--output-dir-template",
                OUTPUT_DIR_TEMPLATE,
                *extra_args,
            ],
            cwd=tree,
            env=full_env,
            timeout=timeout,
        )


def release_dirs(out_dir: Path) -> list[str]:
    """Names of the release directories helmfile wrote into `out_dir`."""
    return sorted(p.name for p in out_dir.iterdir() if p.is_dir())
