"""The path syntax: parsing, reads, writes, and the text of concrete trails."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendesk_deployer.patches.paths import (
    Descend,
    Filter,
    Index,
    Items,
    Key,
    KeyGlob,
    Path,
    PathError,
    format_trail,
)

POD = {
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "a",
                        "ports": [{"containerPort": 80, "port": 80}, {"containerPort": 81}],
                        "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                    },
                    {"name": "b", "ports": [{"containerPort": 90}]},
                ]
            }
        }
    },
    "metadata": {"annotations": {"helm.sh/hook": "post-install"}},
}


def hits(path: str, data: Any) -> list[str]:
    return [format_trail(t) for _, _, t in Path.parse(path).find(data)]


def test_parse_segments() -> None:
    p = Path.parse('spec.containers[*].ports[0]["a.b/c"][name=X][?port][!port].*Probe.**.x')
    assert p.segments[:4] == (Key("spec"), Key("containers"), Items(), Key("ports"))
    assert p.segments[4] == Index(0)
    assert p.segments[5] == Key("a.b/c")
    assert p.segments[6] == Filter("name", "X")
    assert p.segments[7] == Filter("port", None, True)
    assert p.segments[8] == Filter("port", None, False)
    assert isinstance(p.segments[9], KeyGlob)
    assert p.segments[10] == Descend()


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("", 0, "empty path"),
        ("a..b", 2, "expected a key"),
        ("a[", 1, "unterminated"),
        ("a[*", 3, "expected ']'"),
        ("a[name]", 6, "expected '='"),
        ('a["x', 2, "unterminated quoted key"),
        ("a.**", 2, "'**' cannot end a path"),
        ("a[?]", 3, "expected a field name"),
        ("a]b", 1, "expected '.' or '['"),
    ],
)
def test_parse_errors_name_the_column(text: str, column: int, message: str) -> None:
    with pytest.raises(PathError) as exc:
        Path.parse(text)
    assert exc.value.column == column
    assert message in exc.value.message


def test_find_with_wildcards_filters_and_globs() -> None:
    assert hits("spec.template.spec.containers[*].ports[*].containerPort", POD) == [
        "spec.template.spec.containers[0].ports[0].containerPort",
        "spec.template.spec.containers[0].ports[1].containerPort",
        "spec.template.spec.containers[1].ports[0].containerPort",
    ]
    assert hits("spec.template.spec.containers[*].ports[?port].port", POD) == [
        "spec.template.spec.containers[0].ports[0].port"
    ]
    assert hits("spec.template.spec.containers[*].ports[!port]", POD) == [
        "spec.template.spec.containers[0].ports[1]",
        "spec.template.spec.containers[1].ports[0]",
    ]
    assert hits("spec.template.spec.containers[name=b].name", POD) == [
        "spec.template.spec.containers[1].name"
    ]
    assert hits("spec.template.spec.containers[0].env[name=Y].value", POD) == [
        "spec.template.spec.containers[0].env[1].value"
    ]
    assert hits("spec.template.spec.containers[-1].name", POD) == [
        "spec.template.spec.containers[1].name"
    ]
    assert hits('metadata.annotations["helm.sh/hook"]', POD) == [
        'metadata.annotations["helm.sh/hook"]'
    ]
    assert hits("**.ports[*].containerPort", POD) == hits(
        "spec.template.spec.containers[*].ports[*].containerPort", POD
    )
    assert hits("spec.template.spec.containers[0].*", POD) == [
        "spec.template.spec.containers[0].name",
        "spec.template.spec.containers[0].ports",
        "spec.template.spec.containers[0].env",
    ]
    assert hits("spec.nothing[*].x", POD) == []
    assert hits("spec.template[0]", POD) == []  # an index on a mapping: nothing
    assert hits("spec.template.spec.containers[7].name", POD) == []


def test_filter_compares_as_text() -> None:
    data = {"ports": [{"containerPort": 8080, "protocol": "TCP"}, {"x": True}]}
    assert hits("ports[containerPort=8080]", data) == ["ports[0]"]
    assert hits("ports[x=true]", data) == ["ports[1]"]
    assert hits('ports[protocol="TCP"]', data) == ["ports[0]"]


def test_slots_yield_a_missing_final_key_and_create_mappings() -> None:
    data: dict[str, Any] = {"metadata": {"name": "x", "annotations": None}, "spec": {}}
    p = Path.parse('metadata.annotations["a/b"]')
    assert list(p.find(data)) == []
    [(parent, key, trail)] = p.slots(data, create=True)
    assert data["metadata"]["annotations"] == {} and parent is data["metadata"]["annotations"]
    assert key == "a/b" and trail == ("metadata", "annotations", "a/b")
    # without create, missing mappings on the way are not made
    assert list(Path.parse("status.phase").slots(data)) == []
    assert "status" not in data
    # a list is never invented
    assert list(Path.parse("spec.items[*].x").slots(data, create=True)) == []
    assert data["spec"] == {}


def test_prefix_is_prepended_to_trails() -> None:
    container = POD["spec"]["template"]["spec"]["containers"][0]
    [(_, _, trail)] = Path.parse("env[name=X].value").find(container, ("c", 0))
    assert trail == ("c", 0, "env", 0, "value")


# ------------------------------------------------------------------ property tests

keys = st.one_of(
    st.from_regex(r"[A-Za-z0-9_\-]{1,8}", fullmatch=True),
    st.text(min_size=0, max_size=8),  # anything: dots, slashes, quotes, brackets, stars
)
trails = st.lists(st.one_of(keys, st.integers(min_value=0, max_value=4)), min_size=1, max_size=6)


def build(trail: list[str | int], leaf: Any) -> Any:
    """The smallest data in which `trail` names `leaf`."""
    node: Any = leaf
    for part in reversed(trail):
        node = [None] * part + [node] if isinstance(part, int) else {part: node}
    return node


@settings(max_examples=300, deadline=None)
@given(trails)
def test_format_then_parse_finds_exactly_the_trail(trail: list[str | int]) -> None:
    text = format_trail(tuple(trail))
    data = build(trail, "leaf")
    found = list(Path.parse(text).find(data))
    assert [t for _, _, t in found] == [tuple(trail)]
    parent, key, _ = found[0]
    assert parent[key] == "leaf"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_parse_never_fails_other_than_with_path_error(text: str) -> None:
    try:
        path = Path.parse(text)
    except PathError as exc:
        assert 0 <= exc.column <= len(text)
        return
    data: dict[str, Any] = {"a": [{"b": 1}], "c": {"d": None}}
    for parent, key, _ in path.find(data):
        assert parent[key] is not None or key == "d"


@settings(max_examples=200, deadline=None)
@given(st.lists(keys.filter(lambda k: k != ""), min_size=1, max_size=5), st.integers())
def test_set_through_slots_then_find(path_keys: list[str], value: int) -> None:
    data: dict[str, Any] = {}
    p = Path.parse(format_trail(tuple(path_keys)))
    for parent, key, _ in p.slots(data, create=True):
        parent[key] = value
    assert list(p.values(data)) == [value]
