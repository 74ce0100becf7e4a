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
    names = sys.argv[1:] or sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    for name in names:
        print(f"== bench {name}", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        module.main([])


if __name__ == "__main__":
    main()
