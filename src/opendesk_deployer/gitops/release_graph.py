"""`release-graph.yaml`: release dependencies, turned into Argo CD sync waves.

A release's wave is 1 + the highest wave among the rendered releases it needs (0 if none). The
graph is checked as a whole: a cycle is an error naming it, a need on an unknown release is an
error, and a rendered release missing from the graph is an error naming it — silently putting it
in wave 0 would mis-order a production sync.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from opendesk_deployer.config import source
from opendesk_deployer.config.errors import ConfigError, Problem
from opendesk_deployer.toolchain import REPO_ROOT

DEFAULT_FILE = REPO_ROOT / "release-graph.yaml"


class GraphError(Exception):
    pass


@dataclass(frozen=True)
class ReleaseGraph:
    file: Path
    needs: dict[str, tuple[str, ...]]

    def waves(self, rendered: Iterable[str]) -> dict[str, int]:
        """Sync wave of every rendered release."""
        rendered_set = set(rendered)
        missing = sorted(rendered_set - set(self.needs))
        if missing:
            raise GraphError(
                f"{self.file}: rendered release(s) missing from the release graph: "
                f"{', '.join(missing)}; add them with what they need"
            )
        waves: dict[str, int] = {}

        def wave(release: str, stack: list[str]) -> int:
            if release in waves:
                return waves[release]
            if release in stack:
                cycle = [*stack[stack.index(release) :], release]
                raise GraphError(f"{self.file}: dependency cycle: {' -> '.join(cycle)}")
            stack.append(release)
            deps = [d for d in self.needs[release] if d in rendered_set]
            w = 1 + max((wave(d, stack) for d in deps), default=-1)
            stack.pop()
            waves[release] = w
            return w

        for r in sorted(rendered_set):
            wave(r, [])
        # a cycle among releases that are not rendered is still a broken graph
        for r in sorted(self.needs):
            self._check_cycle(r)
        return {r: waves[r] for r in sorted(rendered_set)}

    def _check_cycle(self, start: str) -> None:
        seen: set[str] = set()
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for dep in self.needs.get(node, ()):
                if dep == start:
                    raise GraphError(f"{self.file}: dependency cycle: {' -> '.join([*path, dep])}")
                if dep not in seen:
                    seen.add(dep)
                    stack.append((dep, [*path, dep]))


def load(file: Path = DEFAULT_FILE) -> ReleaseGraph:
    located = source.read(file)
    data = located.data
    if not isinstance(data, dict) or not isinstance(data.get("releases"), dict):
        raise ConfigError([Problem(file, located.line_of(()), "releases", "must be a mapping")])
    releases: dict[str, object] = data["releases"]
    needs: dict[str, tuple[str, ...]] = {}
    problems: list[Problem] = []
    for name, deps in releases.items():
        path: tuple[str | int, ...] = ("releases", name)
        if deps is None:
            deps = []
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            problems.append(
                Problem(
                    file,
                    located.line_of(path),
                    f"releases.{name}",
                    "must be a list of release names",
                )
            )
            continue
        for i, dep in enumerate(deps):
            if dep not in releases:
                problems.append(
                    Problem(
                        file,
                        located.line_of((*path, i)),
                        f"releases.{name}[{i}]",
                        f"needs unknown release {dep!r}",
                    )
                )
        needs[str(name)] = tuple(deps)
    if problems:
        raise ConfigError(problems)
    return ReleaseGraph(file, needs)
