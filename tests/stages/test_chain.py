"""The chain: the seed's order, and the whole-stage fixes the catalog turns on."""

from __future__ import annotations

from opendesk_deployer.patches import load_catalog
from opendesk_deployer.render import chain
from opendesk_deployer.render.stages.guards import Guards
from stages.helpers import ctx

SEED_ORDER = [
    "patch-haproxy-rewrite-target",
    "runtime-patches",
    "jit",
    "overrides",
    "dedup",
    "lint",
    "inventory",
    "eso",
    "redact",
    "guards",
]


def test_default_order_is_the_seeds() -> None:
    assert [s.name for s in chain.default_stages(ctx())] == SEED_ORDER


def test_whole_stage_fixes_follow_the_enabled_set() -> None:
    stages = chain.default_stages(ctx(), set())
    names = [s.name for s in stages]
    assert "dedup" not in names and "eso" not in names
    [guards] = [s for s in stages if isinstance(s, Guards)]
    assert guards.orphan_sidecars is False
    stages = chain.default_stages(ctx(), {"dedup", "orphan-sidecars-guard"})
    assert [s.name for s in stages if s.name in ("dedup", "eso")] == ["dedup"]


def test_catalog_enables_the_three_stage_entries_for_1_13_1() -> None:
    names = [s.name for s in chain.catalog_stages(ctx(), catalog=load_catalog())]
    assert names == SEED_ORDER
