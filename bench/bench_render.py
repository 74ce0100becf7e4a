"""Full render of the real openDesk v1.13.1 tree: our pipeline vs plain `helmfile template`.

Baseline: an unmodified copy of the tree (real derivePassword calls), the registry override to a
local OCI registry serving stub charts, post-renderers made executable, the pinned yq on PATH,
`helmfile -e dev -n opendesk template --output-dir … --output-dir-template …`.
The baseline gets the instance's generated environment values too (`render/values.py`), so that
both renders see the same configuration.
Ours: `pipeline.render` of an instance pointing at the same tree and registry, up to the git push
into a scratch repository, cold (no derived-secrets cache) and warm (cache from the cold run).
Both in the same process, on the same charts. Same manifests: the baseline's documents must equal
those of our render with the repairs switched off (`repairs=False`: only the stage that does the
upstream post-renderer's work edits documents), normalised by sorting keys and documents.

    python -m bench render [--repeat N] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from opendesk_deployer.config import load_instance  # noqa: E402
from opendesk_deployer.render import document, pipeline, source, values  # noqa: E402
from support import oci_registry, stub_charts  # noqa: E402

MASTER = "bench-master-password"


def normalised(docs: list[document.Document]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in docs:
        out.setdefault(d.release, []).append(document.dump_yaml(d.body))
    return {r: sorted(v) for r, v in sorted(out.items())}


def ours_from_files(files: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path, text in files.items():
        if path.startswith("releases/"):
            release = path.split("/")[1]
            out.setdefault(release, []).append(document.dump_yaml(yaml.safe_load(text)))
    return {r: sorted(v) for r, v in sorted(out.items())}


def stamp(report: pipeline.RenderReport) -> str:
    """The stamp the deployer put where openDesk has `now` (see render/source.py)."""
    return f"openDesk {report.opendesk_version} ({report.source_sha.removeprefix('tree:')[:12]})"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench render")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args(argv)
    os.environ["OPENDESK_MASTER_PASSWORD"] = MASTER
    tree = stub_charts.opendesk_tree()
    charts_file = tree / stub_charts.CHARTS_FILE
    charts = stub_charts.load_charts(charts_file)
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp_s:
        tmp = Path(tmp_s)
        os.environ["OPENDESK_STATE_DIR"] = str(tmp / "state")
        with oci_registry.OciRegistry(workdir=tmp / "registry") as reg:
            stub_charts.push_stubs(reg, charts, charts_file)
            sys.path.insert(0, str(REPO / "tests"))
            from test_render_opendesk import write_instance

            inst_dir = tmp / "instance"
            inst_dir.mkdir()
            instance_file = write_instance(inst_dir, reg.host)

            cold: list[float] = []
            warm: list[float] = []
            report = None
            for i in range(args.repeat):
                shutil.rmtree(tmp / "state", ignore_errors=True)
                shutil.rmtree(inst_dir / "gitops.git", ignore_errors=True)
                t0 = time.perf_counter()
                report = pipeline.render(load_instance(instance_file), required_patches=False)
                cold.append(time.perf_counter() - t0)
                shutil.rmtree(inst_dir / "gitops.git", ignore_errors=True)
                t0 = time.perf_counter()
                pipeline.render(load_instance(instance_file), required_patches=False)
                warm.append(time.perf_counter() - t0)
                print(
                    f"ours run {i + 1}: cold {cold[-1]:.1f} s ({report.seconds}), warm {warm[-1]:.1f} s",
                    flush=True,
                )
            assert report is not None
            # "catalog switched off": the same render without repairs, for the comparison
            shutil.rmtree(inst_dir / "gitops.git", ignore_errors=True)
            plain = pipeline.render(load_instance(instance_file), repairs=False)
            ours = ours_from_files(plain.files)
            print(
                f"ours: median cold {statistics.median(cold):.1f} s, warm {statistics.median(warm):.1f} s, "
                f"{len(ours)} releases",
                flush=True,
            )
            if args.skip_baseline:
                return
            base_tree = stub_charts.copy_tree(
                tree, tmp / "baseline", fast=False, executable_scripts=True
            )
            # the same instance values as ours (domains, registry override, verify off, sizing):
            # the only difference left is who evaluates openDesk's own files
            values.write(load_instance(instance_file).instance, base_tree)
            # openDesk stamps the portal with `now` (values-nubus deployDate): two renders of any
            # tool differ there. The deployer makes it the source version; do the same here so
            # the comparison sees everything else.
            source.stabilise_timestamps(base_tree, stamp(report))
            out = tmp / "baseline-out"
            t0 = time.perf_counter()
            stub_charts.render_tree(base_tree, out, env={"MASTER_PASSWORD": MASTER}, timeout=3600)
            baseline = time.perf_counter() - t0
            base = normalised(document.load_output_dir(out))
            print(
                f"baseline: plain helmfile template {baseline:.1f} s, {len(base)} releases",
                flush=True,
            )
            same = base == ours
            if not same:
                for r in sorted(set(base) | set(ours)):
                    if base.get(r) != ours.get(r):
                        print(
                            f"  differs: {r}: baseline {len(base.get(r, []))} docs, ours {len(ours.get(r, []))}"
                        )
            print(f"same manifests (normalised): {same}")
            print(
                f"ratio baseline/ours: cold {baseline / statistics.median(cold):.1f}x, "
                f"warm {baseline / statistics.median(warm):.1f}x"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
