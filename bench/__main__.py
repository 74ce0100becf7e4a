"""`make bench` / `python -m bench [NAME...]`: run the benchmarks and print their results.

Each benchmark module is `bench/bench_<name>.py` with a `main(argv: list[str]) -> None`. Results
(medians and ratios against a baseline measured in the same run) go to stdout; docs/benchmarks.md
records them with the command that reproduces each.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    # `python -m bench NAME [ARGS...]` runs one benchmark with its arguments; no NAME runs all.
    argv = sys.argv[1:]
    if argv and not argv[0].startswith("-"):
        run(argv[0], argv[1:])
        return
    names = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    for name in names:
        run(name, argv)


def run(name: str, args: list[str]) -> None:
    from opendesk_deployer import logs

    logs.configure("WARNING")
    print(f"== bench {name}", flush=True)
    module = importlib.import_module(f"bench.bench_{name}")
    module.main(args)


if __name__ == "__main__":
    main()
