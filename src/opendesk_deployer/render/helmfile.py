"""Run `helmfile template` over the prepared openDesk tree (through the runner).

openDesk's `helmfile_generic.yaml.gotmpl` lists its child helmfiles, and helmfile renders them one
after another, evaluating all of `environments/default/*.yaml.gotmpl` again for each. The children
are independent (each gets the same values; release names are unique), so the deployer renders
them in parallel: for every child it writes a top-level helmfile that includes only that child,
with the very same values block, runs one helmfile per child on a thread pool, and moves the
release directories into one output folder. A tree whose layout is not recognised is rendered
with one plain helmfile run.
"""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from opendesk_deployer.runner import Runner

OUTPUT_DIR_TEMPLATE = "{{ .OutputDir }}/{{ .Release.Name }}"
TOP = "helmfile.yaml.gotmpl"
GENERIC = "helmfile_generic.yaml.gotmpl"
_ENTRY = re.compile(r'^  - path: "(helmfile/apps/[^"]+)"[ \t]*\n', re.M)
_FOOTER = re.compile(r"^\S", re.M)


class HelmfileLayoutError(Exception):
    pass


def split_children(root: Path) -> list[Path]:
    """Write one top-level helmfile per child of `helmfile_generic.yaml.gotmpl`; return their
    paths, in the generic file's order. Empty when the layout is not openDesk's."""
    generic_file, top_file = root / GENERIC, root / TOP
    if not generic_file.is_file() or not top_file.is_file():
        return []
    generic, top = generic_file.read_text(encoding="utf-8"), top_file.read_text(encoding="utf-8")
    entries = list(_ENTRY.finditer(generic))
    include = f'"./{GENERIC}"'
    if len(entries) < 2 or top.count(include) != 1 or "&values" not in generic:
        return []
    # the list ends at the first non-indented line after the last entry
    footer = _FOOTER.search(generic, entries[-1].end())
    end = footer.start() if footer else len(generic)
    head = generic[: entries[0].start()]
    first = generic[entries[0].start() : entries[1].start()]  # holds the `&values` anchor
    if "&values" not in first:
        return []
    paths = []
    for i, entry in enumerate(entries):
        child = entry.group(1)
        block = first.replace(entries[0].group(1), child, 1)
        name = f"helmfile_generic.child-{i:02d}.yaml.gotmpl"
        (root / name).write_text(head + block + generic[end:], encoding="utf-8")
        top_child = root / f"helmfile.child-{i:02d}.yaml.gotmpl"
        top_child.write_text(top.replace(include, f'"./{name}"'), encoding="utf-8")
        paths.append(top_child)
    return paths


def _env(out: Path, runner: Runner, master_password: str) -> dict[str, str]:
    helm = runner.resolve("helm")
    return {
        "MASTER_PASSWORD": master_password,
        "HELM_CACHE_HOME": str(out.parent / "helm-cache"),
        "HELM_CONFIG_HOME": str(out.parent / "helm-config"),
        "HELM_DATA_HOME": str(out.parent / "helm-data"),
        # helmfile caches pulled charts by repository *name*, chart and version, not by
        # registry host: a shared cache would let a chart from one mirror stand in for another's.
        "HELMFILE_CACHE_HOME": str(out.parent / "helmfile-cache"),
        # no registry login from the operator's environment
        "OD_PRIVATE_REGISTRY_USERNAME": "",
        "OD_PRIVATE_REGISTRY_PASSWORD": "",
        "PATH": f"{helm.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _args(
    file: Path, environment: str, namespace: str, out: Path, helm: Path, conc: int
) -> list[str]:
    return [
        "--file",
        str(file),
        "--environment",
        environment,
        "--namespace",
        namespace,
        "--helm-binary",
        str(helm),
        "--no-color",
        "template",
        "--output-dir",
        str(out),
        "--output-dir-template",
        OUTPUT_DIR_TEMPLATE,
        "--concurrency",
        str(conc),
    ]


def template(
    root: Path,
    environment: str,
    namespace: str,
    out: Path,
    runner: Runner,
    *,
    master_password: str,
    parallel_children: bool = True,
    workers: int | None = None,
    timeout: float = 1800,
) -> int:
    """Render every release of the tree into `<out>/<release>/`; return how many helmfile
    processes ran (1 unless the children were rendered in parallel)."""
    env = _env(out, runner, master_password)
    helm = runner.resolve("helm")
    cpus = os.cpu_count() or 2
    children = split_children(root) if parallel_children else []
    if not children:
        runner.run(
            "helmfile",
            _args(root / TOP, environment, namespace, out, helm, max(2, cpus)),
            cwd=root,
            env=env,
            timeout=timeout,
        )
        return 1
    parts = out.parent / "rendered-parts"

    def one(i_file: tuple[int, Path]) -> Path:
        i, file = i_file
        part = parts / f"{i:02d}"
        runner.run(
            "helmfile",
            _args(file, environment, namespace, part, helm, 1),
            cwd=root,
            env=env,
            timeout=timeout,
        )
        return part

    with ThreadPoolExecutor(max_workers=workers or max(2, cpus)) as pool:
        done = list(pool.map(one, enumerate(children)))
    out.mkdir(parents=True, exist_ok=True)
    for part in done:
        if not part.is_dir():
            continue  # a child whose releases are all disabled writes nothing
        for release_dir in sorted(part.iterdir()):
            target = out / release_dir.name
            if target.exists():
                raise HelmfileLayoutError(
                    f"release {release_dir.name} rendered by two child helmfiles"
                )
            release_dir.rename(target)
    shutil.rmtree(parts, ignore_errors=True)
    return len(children)
