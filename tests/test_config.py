"""The instance model and its loader: valid examples, and bad inputs with field, file, line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES
from opendesk_deployer.config import ConfigError, load_instance
from opendesk_deployer.config.loader import load_runtime_state


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of the demo instance and its runtime state in a scratch folder."""
    for name in ("demo-instance.yaml", "runtime-state.json"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path / "demo-instance.yaml"


def _edit(file: Path, old: str, new: str) -> None:
    text = file.read_text()
    assert old in text, f"fixture text {old!r} not found"
    file.write_text(text.replace(old, new, 1))


def _line_of(file: Path, needle: str) -> int:
    for n, line in enumerate(file.read_text().splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(needle)


def test_examples_validate() -> None:
    loaded = load_instance(EXAMPLES / "demo-instance.yaml")
    assert loaded.instance.instance_id == "demo-1"
    assert loaded.instance.git.branch == "main"
    assert loaded.instance.git_path == "instances/demo-1/"
    assert loaded.runtime_state is not None and loaded.runtime_state.provider == "local"
    assert loaded.runtime_state_file == (EXAMPLES / "runtime-state.json").resolve()


def test_unknown_field_names_field_file_and_line(demo: Path) -> None:
    _edit(demo, "namespace: opendesk-demo", "namspace: opendesk-demo")
    with pytest.raises(ConfigError) as exc:
        load_instance(demo)
    text = str(exc.value)
    assert f"{demo}:{_line_of(demo, 'namspace')}: namspace: unknown field" in text
    # the correct field is now missing; its error points at the document
    assert "namespace: required field is missing" in text


def test_wrong_type_names_nested_field_and_line(demo: Path) -> None:
    _edit(demo, "  enabled: false\nscim", "  enabled: [1, 2]\nscim")
    with pytest.raises(ConfigError) as exc:
        load_instance(demo)
    [problem] = exc.value.problems
    assert problem.field == "externalIdp.enabled"
    assert problem.line == _line_of(demo, "enabled: [1, 2]")
    assert "valid boolean" in problem.message


def test_invalid_name_is_rejected_with_reason(demo: Path) -> None:
    _edit(demo, "instanceId: demo-1", "instanceId: Demo_1")
    with pytest.raises(ConfigError) as exc:
        load_instance(demo)
    [problem] = exc.value.problems
    assert problem.field == "instanceId"
    assert problem.line == _line_of(demo, "instanceId")
    assert "'Demo_1' is not a DNS label" in problem.message


def test_missing_runtime_state_is_the_input_gate(demo: Path) -> None:
    (demo.parent / "runtime-state.json").unlink()
    with pytest.raises(ConfigError) as exc:
        load_instance(demo)
    [problem] = exc.value.problems
    assert problem.field == "runtimeState"
    assert problem.line == _line_of(demo, "runtimeState:")
    assert "runtime-state.json does not exist" in problem.message
    # without the gate the instance itself is fine
    assert load_instance(demo, require_runtime_state=False).runtime_state is None


def test_invalid_runtime_state_names_its_own_line(demo: Path) -> None:
    rs = demo.parent / "runtime-state.json"
    data = json.loads(rs.read_text())
    data["cluster"]["nodes"] = 3
    rs.write_text(json.dumps(data, indent=2))
    with pytest.raises(ConfigError) as exc:
        load_instance(demo)
    first, second = exc.value.problems
    assert first.field == "runtimeState" and "is invalid" in first.message
    assert second.file == rs and second.field == "cluster.nodes"
    assert second.line == _line_of(rs, '"nodes"')
    assert second.message == "unknown field"


def test_runtime_state_resolved_relative_to_instance_file(demo: Path, tmp_path: Path) -> None:
    sub = tmp_path / "infra"
    sub.mkdir()
    shutil.move(demo.parent / "runtime-state.json", sub / "state.json")
    _edit(demo, "runtimeState: runtime-state.json", "runtimeState: infra/state.json")
    loaded = load_instance(demo)
    assert loaded.runtime_state_file == sub / "state.json"


def test_invalid_yaml_names_line(demo: Path) -> None:
    _edit(demo, "kind: Instance", "kind: [Instance")
    with pytest.raises(ConfigError) as exc:
        load_instance(demo)
    assert "invalid YAML" in str(exc.value)
    assert exc.value.problems[0].line is not None


def test_duplicate_key_is_an_error(demo: Path) -> None:
    demo.write_text(demo.read_text() + "namespace: other\n")
    with pytest.raises(ConfigError) as exc:
        load_instance(demo)
    [problem] = exc.value.problems
    assert problem.field == "namespace" and problem.message == "duplicate key"
    assert problem.line == len(demo.read_text().splitlines())


def test_unknown_app_and_source_choice(demo: Path) -> None:
    _edit(demo, "  notes: false", "  notes: false\n  nextclod: true")
    _edit(
        demo,
        "    path: ../tests",
        "    git: {url: https://example.invalid/od.git}\n    path: ../tests",
    )
    with pytest.raises(ConfigError) as exc:
        load_instance(demo)
    fields = {p.field: p.message for p in exc.value.problems}
    assert "unknown app 'nextclod'" in fields["apps"]
    assert "set exactly one of 'git'" in fields["opendesk.source"]


def test_git_path_must_stay_inside_repository(demo: Path) -> None:
    _edit(demo, "  branch: main", "  branch: main\n  path: ../escape")
    with pytest.raises(ConfigError) as exc:
        load_instance(demo)
    [problem] = exc.value.problems
    assert problem.field == "git.path" and "without '..'" in problem.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_instance(tmp_path / "nope.yaml")


def test_runtime_state_example_validates() -> None:
    rs = load_runtime_state(EXAMPLES / "runtime-state.json")
    assert rs.cluster.name == "opendesk-deployer-rig"


def test_schema_lists_camel_case_fields() -> None:
    from opendesk_deployer.config.model import Instance

    schema = Instance.model_json_schema(by_alias=True)
    for key in ("customerId", "platformSizing", "externalIdp", "wireSSO", "runtimeState", "git"):
        assert key in schema["properties"]
    assert yaml.safe_dump(schema)  # serialisable
