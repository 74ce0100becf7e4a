"""Writing out openDesk's secrets file in Python: scrypt key cached per scope vs per call.

`python -m bench derived_secrets` (or `python -m bench.bench_derived_secrets --repeat 1`).
Renders the real v1.13.1 `secrets.yaml.gotmpl` (111 derivePassword calls) in this process, with
the cache (one scrypt per (password, user): 37) and without it (one scrypt per call, which is
what helmfile does), and prints the medians of wall and CPU time and their ratios (CPU time is
the fairer one on a busy machine). An uncached run takes 30-50 s on a loaded 2-core machine, so
the default is a single repetition of each; at most 3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from opendesk_deployer.render.derived_secrets import SECRETS_FILE, Deriver, render_secrets_file

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OPENDESK_SHARED", REPO.parent / "shared"))
TEMPLATE = SHARED / "opendesk" / "v1.13.1" / SECRETS_FILE
MASTER_PASSWORD = "bench-master-password"  # noqa: S105 (a fixed bench input, not a secret)


def _measure(text: str, cache: bool) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds of this process, scrypt runs, derived values)."""
    deriver = Deriver(cache=cache)
    wall, cpu = time.perf_counter(), time.process_time()
    render_secrets_file(text, MASTER_PASSWORD, deriver)
    return (
        time.perf_counter() - wall,
        time.process_time() - cpu,
        deriver.scrypt_runs,
        deriver.derivations,
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench_derived_secrets")
    parser.add_argument("--repeat", type=int, default=1, choices=(1, 2, 3))
    args = parser.parse_args(argv)
    text = TEMPLATE.read_text(encoding="utf-8")
    wall: dict[str, list[float]] = {"cached": [], "uncached": []}
    cpu: dict[str, list[float]] = {"cached": [], "uncached": []}
    for _ in range(args.repeat):
        for label, cache in (("cached", True), ("uncached", False)):
            seconds, cpu_seconds, runs, derived = _measure(text, cache)
            wall[label].append(seconds)
            cpu[label].append(cpu_seconds)
            print(
                f"  {label:8} wall {seconds:6.2f} s  cpu {cpu_seconds:6.2f} s  "
                f"scrypt runs {runs:3}  values {derived}",
                flush=True,
            )
    print(f"file: {TEMPLATE}  ({args.repeat} run(s) each, medians)")
    for name, series in (("wall", wall), ("cpu", cpu)):
        cached = statistics.median(series["cached"])
        uncached = statistics.median(series["uncached"])
        print(
            f"{name:4}: cached (scrypt per scope) {cached:6.2f} s   "
            f"uncached (scrypt per call) {uncached:6.2f} s   ratio {uncached / cached:.2f}x"
        )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
