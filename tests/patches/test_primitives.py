"""Each operation on small documents, the container/pod-spec scopes, parameters, and
property tests of the list operations."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from opendesk_deployer.config.errors import Problem
from opendesk_deployer.config.source import Located
from opendesk_deployer.patches.primitives import (
    Operation,
    ParamRef,
    PatchError,
    parse_operation,
)
from opendesk_deployer.patches.spec import InvalidEntryError, Spec
from opendesk_deployer.render.document import dump_yaml


def op(text: str, params: dict[str, Any] | None = None) -> Operation:
    problems: list[Problem] = []
    spec = Spec(Located(Path("t.yaml"), yaml.safe_load(text), {}), (), problems)
    try:
        return parse_operation(spec, params or {})
    except InvalidEntryError:
        raise AssertionError(problems) from None


def apply(o: Operation, body: dict[str, Any], kind: str | None = None) -> list[str]:
    return [f"{e.action} {e.field}" for e in o.apply(body, kind or body.get("kind", ""))]


def deployment(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None) -> Any:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init is not None:
        spec["initContainers"] = init
    return {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": spec}}}


C = "spec.template.spec.containers"


# ------------------------------------------------------------------ set / default / minimum


def test_set_creates_mappings_and_is_idempotent() -> None:
    o = op("{op: set, path: 'metadata.annotations[\"a/b\"]', value: x}")
    body: dict[str, Any] = {"metadata": {"name": "n"}}
    assert apply(o, body, "ConfigMap") == ['set metadata.annotations["a/b"]']
    assert body["metadata"]["annotations"] == {"a/b": "x"}
    assert apply(o, body, "ConfigMap") == []


def test_written_values_are_copies() -> None:
    o = op("{op: set, path: spec.x, value: {a: [1]}}")
    one: dict[str, Any] = {"spec": {}}
    two: dict[str, Any] = {"spec": {}}
    apply(o, one, "X")
    apply(o, two, "X")
    one["spec"]["x"]["a"].append(2)
    assert two["spec"]["x"] == {"a": [1]}
    assert "&id" not in dump_yaml([one, two])


@pytest.mark.parametrize(
    ("before", "changed"),
    [
        ({}, True),
        ({"protocol": None}, True),
        ({"protocol": ""}, True),
        ({"protocol": "UDP"}, False),
    ],
)
def test_default_fills_missing_null_and_empty(before: dict[str, Any], changed: bool) -> None:
    o = op("{op: default, containers: all, path: 'ports[*].protocol', value: TCP}")
    body = deployment({"name": "c", "ports": [{"containerPort": 1, **before}]})
    assert bool(apply(o, body)) is changed
    assert body["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] == (
        "TCP" if changed else "UDP"
    )


@pytest.mark.parametrize(("before", "after"), [(6, 20), (None, 20), (30, 30), ("x", "x")])
def test_minimum_raises_numbers_only(before: Any, after: Any) -> None:
    o = op("{op: minimum, path: spec.backoffLimit, value: 20}")
    body: dict[str, Any] = {"spec": {} if before is None else {"backoffLimit": before}}
    apply(o, body, "Job")
    assert body["spec"]["backoffLimit"] == after


# ------------------------------------------------------------------ remove / rename


def test_remove_keys_and_list_items_from_the_back() -> None:
    body = {"items": [{"drop": 1}, {"keep": 1}, {"drop": 2}, {"drop": 3}], "x": {"y": 1}}
    o = op("{op: remove, path: 'items[?drop]'}")
    assert apply(o, body, "X") == ["remove items[3]", "remove items[2]", "remove items[0]"]
    assert body["items"] == [{"keep": 1}]
    assert apply(op("{op: remove, path: x.y}"), body, "X") == ["remove x.y"]
    assert body["x"] == {}
    assert apply(op("{op: remove, path: x.y}"), body, "X") == []


def test_rename_and_its_conflict_policies() -> None:
    mount = {"name": "v", "mountPath": "/a", "subpath": "f"}
    body = deployment({"name": "c", "volumeMounts": [dict(mount)]})
    o = op("{op: rename, containers: all, path: 'volumeMounts[*].subpath', to: subPath}")
    assert apply(o, body) == [f"rename {C}[0].volumeMounts[0].subPath"]
    assert body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0] == {
        "name": "v",
        "mountPath": "/a",
        "subPath": "f",
    }
    # equal values: the old key just goes
    body = deployment({"name": "c", "volumeMounts": [{**mount, "subPath": "f"}]})
    assert apply(o, body) == [f"remove {C}[0].volumeMounts[0].subpath"]
    # different values: error (default), keepTarget, overwrite
    body = deployment({"name": "c", "volumeMounts": [{**mount, "subPath": "g"}]})
    with pytest.raises(PatchError, match="exists with a different value"):
        apply(o, body)
    keep = op(
        "{op: rename, containers: all, path: 'volumeMounts[*].subpath', to: subPath,"
        " onConflict: keepTarget}"
    )
    apply(keep, body)
    assert body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["subPath"] == "g"
    body = deployment({"name": "c", "volumeMounts": [{**mount, "subPath": "g"}]})
    over = op(
        "{op: rename, containers: all, path: 'volumeMounts[*].subpath', to: subPath,"
        " onConflict: overwrite}"
    )
    apply(over, body)
    assert body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["subPath"] == "f"


# ------------------------------------------------------------------ dedupe / append


def test_dedupe_env_keeps_the_last_value_at_the_first_position() -> None:
    env = [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "$(A)"},
        {"name": "A", "value": "2"},
        {"name": "C", "value": "3"},
    ]
    body = deployment({"name": "c", "env": copy.deepcopy(env)})
    o = op("{op: dedupe, containers: all, path: env, keys: [name]}")
    assert apply(o, body) == [f"dedupe {C}[0].env[name=A]"]
    assert body["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "2"},
        {"name": "B", "value": "$(A)"},
        {"name": "C", "value": "3"},
    ]
    first = op("{op: dedupe, containers: all, path: env, keys: [name], keep: first}")
    body = deployment({"name": "c", "env": copy.deepcopy(env)})
    apply(first, body)
    assert body["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "1"


def test_dedupe_ports_by_two_keys() -> None:
    ports = [
        {"containerPort": 80, "protocol": "TCP", "name": "a"},
        {"containerPort": 80, "protocol": "UDP"},
        {"containerPort": 80, "protocol": "TCP", "name": "b"},
    ]
    body = deployment({"name": "c", "ports": ports})
    o = op("{op: dedupe, containers: all, path: ports, keys: [containerPort, protocol]}")
    assert apply(o, body) == [f"dedupe {C}[0].ports[containerPort=80][protocol=TCP]"]
    assert [p.get("name") for p in ports] == ["b", None]


def test_append_if_missing_by_key_creates_the_list() -> None:
    o = op(
        "{op: append, containers: all, path: env, key: name,"
        " value: {name: X, valueFrom: {secretKeyRef: {name: s, key: k}}}}"
    )
    body = deployment({"name": "c"}, init=[{"name": "i", "env": [{"name": "X", "value": "1"}]}])
    assert apply(o, body) == [f"add {C}[0].env[0]"]
    assert body["spec"]["template"]["spec"]["initContainers"][0]["env"] == [
        {"name": "X", "value": "1"}
    ]
    assert apply(o, body) == []


def test_append_without_key_compares_whole_items() -> None:
    o = op("{op: append, path: spec.list, value: {a: 1}}")
    body: dict[str, Any] = {"spec": {"list": [{"a": 1, "b": 2}]}}
    assert apply(o, body, "X") == ["add spec.list[1]"]
    assert apply(o, body, "X") == []
    with pytest.raises(PatchError, match="expected a list"):
        apply(o, {"spec": {"list": "x"}}, "X")


keyed = st.lists(
    st.fixed_dictionaries({"name": st.sampled_from("ABCD"), "value": st.integers(0, 3)}),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(keyed)
def test_dedupe_properties(env: list[dict[str, Any]]) -> None:
    body = deployment({"name": "c", "env": copy.deepcopy(env)})
    op_ = op("{op: dedupe, containers: all, path: env, keys: [name]}")
    apply(op_, body)
    out = body["spec"]["template"]["spec"]["containers"][0]["env"]
    names = [e["name"] for e in out]
    assert len(names) == len(set(names))
    first_order = list(dict.fromkeys(e["name"] for e in env))
    assert names == first_order
    last_value = {e["name"]: e["value"] for e in env}
    assert {e["name"]: e["value"] for e in out} == last_value
    assert apply(op_, body) == []  # idempotent


@settings(max_examples=300, deadline=None)
@given(keyed, st.sampled_from("ABCDE"))
def test_append_properties(env: list[dict[str, Any]], name: str) -> None:
    body = deployment({"name": "c", "env": copy.deepcopy(env)})
    op_ = op(f"{{op: append, containers: all, path: env, key: name, value: {{name: {name}}}}}")
    apply(op_, body)
    out = body["spec"]["template"]["spec"]["containers"][0]["env"]
    assert out[: len(env)] == env
    assert sum(e["name"] == name for e in out) == max(1, sum(e["name"] == name for e in env))
    assert apply(op_, body) == []


# ------------------------------------------------------------------ annotations, replace, map


def test_annotate_and_remove_annotations() -> None:
    body: dict[str, Any] = {"metadata": {"name": "x", "annotations": {"a": "1"}}}
    add = op("{op: annotate, annotations: {a: '2', b: '3'}, overwrite: false}")
    assert apply(add, body, "X") == ["set metadata.annotations.b"]
    assert body["metadata"]["annotations"] == {"a": "1", "b": "3"}
    assert apply(op("{op: annotate, annotations: {a: '2'}}"), body, "X") == [
        "set metadata.annotations.a"
    ]
    rm = op("{op: removeAnnotations, keys: [a, zzz]}")
    assert apply(rm, body, "X") == ["remove metadata.annotations.a"]
    assert body["metadata"]["annotations"] == {"b": "3"}
    fresh: dict[str, Any] = {}
    apply(add, fresh, "X")
    assert fresh == {"metadata": {"annotations": {"a": "2", "b": "3"}}}


def test_replace_with_groups_unless_and_count() -> None:
    o = op(
        r"{op: replace, path: 'args[*]', pattern: '(\binit)\b', replacement: '\1 --x',"
        " unless: '--x', count: 1}"
    )
    body = {"args": ["run init; init", "init --x", 5]}
    assert apply(o, body, "X") == ["set args[0]"]
    assert body["args"] == ["run init --x; init", "init --x", 5]
    bad = op(r"{op: replace, path: 'args[*]', pattern: 'a', replacement: '\9'}")
    with pytest.raises(PatchError, match="replacement"):
        apply(bad, {"args": ["a"]}, "X")


def test_map_translates_comma_separated_values() -> None:
    o = op(
        "{op: map, from: 'metadata.annotations[\"helm.sh/hook\"]',"
        " path: 'metadata.annotations[\"argocd.argoproj.io/hook\"]', separator: ',',"
        " table: {pre-install: PreSync, pre-upgrade: PreSync, post-install: PostSync}}"
    )
    body: dict[str, Any] = {
        "metadata": {"annotations": {"helm.sh/hook": "pre-install, pre-upgrade,post-install"}}
    }
    assert apply(o, body, "Job") == ['set metadata.annotations["argocd.argoproj.io/hook"]']
    assert body["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync,PostSync"
    body["metadata"]["annotations"]["argocd.argoproj.io/hook"] = "Sync"
    assert apply(o, body, "Job") == []  # an existing target is kept
    none: dict[str, Any] = {"metadata": {"annotations": {"helm.sh/hook": "test"}}}
    assert apply(o, none, "Job") == []


def test_embedded_yaml_default_extends_the_text() -> None:
    o = op("{op: embeddedYamlDefault, path: 'data[\"c.yaml\"]', values: {w: [], a: 1}}")
    body = {"data": {"c.yaml": "# comment\na: 0\nb:\n  - x"}}
    assert apply(o, body, "ConfigMap") == ['add data["c.yaml"].w']
    assert body["data"]["c.yaml"] == "# comment\na: 0\nb:\n  - x\nw: []\n"
    assert apply(o, body, "ConfigMap") == []
    with pytest.raises(PatchError, match="not a mapping"):
        apply(o, {"data": {"c.yaml": "- a"}}, "ConfigMap")
    with pytest.raises(PatchError, match="does not parse"):
        apply(o, {"data": {"c.yaml": "a: [1"}}, "ConfigMap")


# ------------------------------------------------------------------ scopes and parameters


def test_container_selection_and_kind_filter() -> None:
    body = deployment(
        {"name": "main", "env": []},
        {"name": "side", "env": []},
        init=[{"name": "init", "env": []}],
    )
    value = "value: {name: X, value: '1'}"
    for selector, expected in [
        ("all", ["initContainers[0]", "containers[0]", "containers[1]"]),
        ("containers", ["containers[0]", "containers[1]"]),
        ("initContainers", ["initContainers[0]"]),
    ]:
        b = copy.deepcopy(body)
        o = op(f"{{op: append, containers: {selector}, path: env, key: name, {value}}}")
        assert apply(o, b) == [f"add spec.template.spec.{e}.env[0]" for e in expected]
    named = op(
        f"{{op: append, containers: all, containerName: {{glob: 's*'}}, path: env, {value}}}"
    )
    assert apply(named, copy.deepcopy(body)) == [f"add {C}[1].env[0]"]
    only_jobs = op(f"{{op: append, kind: Job, containers: all, path: env, {value}}}")
    assert apply(only_jobs, copy.deepcopy(body)) == []


@pytest.mark.parametrize(
    ("kind", "pod"),
    [
        ("Pod", ("spec",)),
        ("Job", ("spec", "template", "spec")),
        ("CronJob", ("spec", "jobTemplate", "spec", "template", "spec")),
        ("Rollout", ("spec", "template", "spec")),
    ],
)
def test_pod_spec_per_kind(kind: str, pod: tuple[str, ...]) -> None:
    body: dict[str, Any] = {"kind": kind}
    node = body
    for key in pod:
        node = node.setdefault(key, {})
    o = op("{op: append, podSpec: true, path: volumes, key: name, value: {name: v}}")
    assert apply(o, body) == ["add " + ".".join(pod) + ".volumes[0]"]
    assert apply(o, {"kind": "ConfigMap", "data": {}}) == []


def test_parameters_bind_once_and_leave_the_catalog_alone() -> None:
    o = op(
        "{op: append, containers: all, path: env, key: name,"
        " value: {name: P, valueFrom: {secretKeyRef: {name: {$param: s}, key: k}}}}",
        {"s": "default"},
    )
    assert o.params == {"s"}
    assert o.value["valueFrom"]["secretKeyRef"]["name"] == ParamRef("s")  # type: ignore[attr-defined]
    bound = o.bind({"s": "custom"})
    body = deployment({"name": "c"})
    apply(bound, body)
    ref = body["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]
    assert ref == {"secretKeyRef": {"name": "custom", "key": "k"}}
    assert o.value["valueFrom"]["secretKeyRef"]["name"] == ParamRef("s")  # type: ignore[attr-defined]
    plain = op("{op: remove, path: x}")
    assert plain.bind({"s": 1}) is plain
