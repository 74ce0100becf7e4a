"""release-graph.yaml → sync waves; the graph's errors are loud and named."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendesk_deployer.config.errors import ConfigError
from opendesk_deployer.gitops import release_graph
from opendesk_deployer.gitops.release_graph import GraphError, ReleaseGraph


def _graph(tmp_path: Path, text: str) -> ReleaseGraph:
    f = tmp_path / "release-graph.yaml"
    f.write_text(text)
    return release_graph.load(f)


def test_project_graph_loads_and_orders_openDesk() -> None:  # noqa: N802
    graph = release_graph.load()
    waves = graph.waves(graph.needs)
    assert waves["opendesk-migrations-pre"] == 0
    assert waves["opendesk-migrations-post"] == max(waves.values())
    assert waves["opendesk-keycloak-bootstrap"] > waves["ums"] > waves["postgresql"]
    assert waves["opendesk-nextcloud"] == waves["opendesk-nextcloud-management"] + 1
    assert waves["opendesk-openproject-bootstrap"] > waves["opendesk-nextcloud"]


def test_waves_follow_longest_chain_and_skip_unrendered(tmp_path: Path) -> None:
    g = _graph(tmp_path, "releases:\n  a: []\n  b: [a]\n  c: [a, b]\n  d: [x]\n  x: []\n")
    assert g.waves({"a", "b", "c"}) == {"a": 0, "b": 1, "c": 2}
    # d needs x, which is not rendered (disabled app): the need is satisfied
    assert g.waves({"d"}) == {"d": 0}


def test_rendered_release_missing_from_graph_is_named(tmp_path: Path) -> None:
    g = _graph(tmp_path, "releases:\n  a: []\n")
    with pytest.raises(GraphError, match="missing from the release graph: new-release"):
        g.waves({"a", "new-release"})


def test_cycle_is_named(tmp_path: Path) -> None:
    g = _graph(tmp_path, "releases:\n  a: [c]\n  b: [a]\n  c: [b]\n  z: []\n")
    with pytest.raises(
        GraphError, match=r"dependency cycle: (a -> c -> b -> a|b -> a -> c -> b|c -> b -> a -> c)"
    ):
        g.waves({"a", "b", "c"})
    # even when the cycle is among releases that are not rendered
    with pytest.raises(GraphError, match="dependency cycle"):
        g.waves({"z"})


def test_unknown_need_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        _graph(tmp_path, "releases:\n  a: []\n  b:\n    - a\n    - nope\n")
    [p] = exc.value.problems
    assert (p.line, p.field) == (5, "releases.b[1]")
    assert "needs unknown release 'nope'" in p.message


@given(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=30))
def test_every_release_is_after_what_it_needs(parents: list[int]) -> None:
    # a random DAG: release i may need any earlier release
    needs = {f"r{i}": tuple(f"r{p % i}" for p in parents[:i] if i) for i in range(len(parents))}
    g = ReleaseGraph(Path("graph.yaml"), needs)
    waves = g.waves(needs)
    for r, deps in needs.items():
        for d in deps:
            assert waves[r] > waves[d]
        assert waves[r] == (1 + max((waves[d] for d in deps), default=-1))
