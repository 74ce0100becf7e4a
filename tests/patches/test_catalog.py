"""The catalog loader: the repository's catalog, and file-and-line errors for bad entries."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from conftest import SHARED
from opendesk_deployer.config.errors import ConfigError
from opendesk_deployer.patches import DEFAULT_DIR, STAGES, enabled_stages, load_catalog, load_files

from .documents import catalog_from

# The "Render-time fixes" list of the seed, in its order.
SEED_FIXES = [
    "fix-subpath-casing",
    "fix-spurious-port",
    "fix-probe-enabled",
    "fix-empty-protocol",
    "fix-nginx-mountpath",
    "fix-ox-initconfigdb-root-pwd",
    "fix-mysql-root-pwd-injection",
    "fix-bootstrap-ssl-certs",
    "fix-hook-deletion-policy",
    "fix-helm-hook-to-argo-hook",
    "fix-jgroups-timeout",
    "fix-resource-dedup",
    "fix-secrets-to-eso",
    "fix-openproject-bootstrap-backoff",
    "fix-inventory-guard-orphan-sidecars",
    "fix-ums-probes",
    "fix-ox-appsuite-ingress",
    "fix-intercom-redis-username",
    "fix-synapse-federation-whitelist",
    "fix-dedup-env-vars",
    "fix-jobs-remove-hook-ttl",
]
# Fixes found here, after the seed's list, numbered on from it.
EXTRA_FIXES = ["fix-ums-stack-data-hook-configmaps"]
SEED_INDEX = SHARED / "seed" / "deployment-wiki-index.txt"


def test_repository_catalog_holds_the_seed_fixes_in_order() -> None:
    catalog = load_catalog()
    assert catalog.ids == SEED_FIXES + EXTRA_FIXES
    for n, patch in enumerate(catalog, start=1):
        assert patch.file.name == f"{n:03d}-{patch.id}.yaml"
        assert patch.description and patch.reason
    assert {p.id: p.stage for p in catalog if p.stage} == {
        "fix-resource-dedup": "dedup",
        "fix-secrets-to-eso": "eso",
        "fix-inventory-guard-orphan-sidecars": "orphan-sidecars-guard",
    }
    assert enabled_stages(catalog, "1.13.1") == set(STAGES)


def test_seed_list_is_what_the_catalog_covers() -> None:
    assert SEED_INDEX.is_file(), f"{SEED_INDEX} missing (set OPENDESK_SHARED to the shared/ folder)"
    text = SEED_INDEX.read_text()
    section = text.split("Render-time fixes", 1)[1].split("Runbooks", 1)[0]
    ids = re.findall(r"(?:^|\s)- (fix-[a-z0-9-]+) \u2014", section, re.M)
    assert ids == SEED_FIXES


def test_docs_index_matches_the_catalog() -> None:
    docs = (DEFAULT_DIR.parents[1] / "docs" / "patches.md").read_text()
    index = docs.split("## Catalog index", 1)[1]
    for patch in load_catalog():
        section = index.split(f"### `{patch.id}` ({patch.file.name})", 1)[1].split("### ", 1)[0]
        assert f"- **What:** {patch.description}." in section, patch.id
        assert f"- **Why:** {patch.reason}" in section, patch.id
        assert f"- **appliesTo:** {patch.applies_to}" in section, patch.id


def test_enabled_stages_follow_the_opendesk_range(tmp_path: Path) -> None:
    catalog = catalog_from(
        tmp_path,
        """\
        patches:
          - id: old-eso
            description: d
            stage: eso
            appliesTo: {opendesk: "<1.14.0"}
          - id: dedup
            description: d
            stage: dedup
        """.replace("        ", ""),
    )
    assert enabled_stages(catalog, "1.13.1") == {"eso", "dedup"}
    assert enabled_stages(catalog, "1.14.0") == {"dedup"}


def problems_of(tmp_path: Path, text: str) -> list[tuple[str, int | None, str, str]]:
    f = tmp_path / "010-bad.yaml"
    f.write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError) as exc:
        load_files([f])
    return [(p.file.name, p.line, p.field, p.message) for p in exc.value.problems]


GOOD_HEAD = """\
patches:
  - id: fix-good
    description: fine
    match: {kind: Job}
    operations:
      - {op: remove, path: spec.ttlSecondsAfterFinished}
"""


def test_unknown_primitive_names_file_line_and_known_ones(tmp_path: Path) -> None:
    [(file, line, field, message)] = problems_of(
        tmp_path,
        GOOD_HEAD
        + """\
  - id: fix-bad
    description: typo
    match: {kind: Job}
    operations:
      - op: remove
        path: x
      - op: sett
        path: y
        value: 1
""",
    )
    assert (file, line, field) == ("010-bad.yaml", 13, "patches[1].operations[1].op")
    assert "unknown operation 'sett'" in message and "set, default" in message


@pytest.mark.parametrize(
    ("entry", "line", "field", "message"),
    [
        (  # a missing required field: the entry's line
            "  - id: fix-x\n    description: d\n    match: {kind: Job}\n",
            7,
            "patches[1]",
            "required field 'operations' is missing",
        ),
        (  # an unknown field
            "  - id: fix-x\n    description: d\n    requird: true\n",
            9,
            "patches[1].requird",
            "unknown field 'requird'",
        ),
        (  # wrong type
            "  - id: fix-x\n    description: d\n    required: yes please\n"
            "    match: {kind: Job}\n    operations: [{op: remove, path: x}]\n",
            9,
            "patches[1].required",
            "must be true or false",
        ),
        (  # a bad path, with its column
            "  - id: fix-x\n    description: d\n    match: {kind: Job}\n"
            "    operations:\n      - op: remove\n        path: 'a[*'\n",
            12,
            "patches[1].operations[0].path",
            "invalid path: expected ']'",
        ),
        (  # a missing operation field
            "  - id: fix-x\n    description: d\n    match: {kind: Job}\n"
            "    operations:\n      - op: rename\n        path: a.b\n",
            11,
            "patches[1].operations[0]",
            "required field 'to' is missing",
        ),
        (  # a bad regular expression
            "  - id: fix-x\n    description: d\n    match: {kind: Job}\n"
            "    operations:\n      - {op: replace, path: a, pattern: '(', replacement: x}\n",
            11,
            "patches[1].operations[0].pattern",
            "invalid regular expression",
        ),
        (  # a bad id
            "  - id: Fix_X\n    description: d\n    match: {kind: Job}\n"
            "    operations: [{op: remove, path: x}]\n",
            7,
            "patches[1].id",
            "not a valid id",
        ),
        (  # an undeclared parameter
            "  - id: fix-x\n    description: d\n    match: {kind: Job}\n    operations:\n"
            "      - op: set\n        path: a\n        value: {$param: nope}\n",
            13,
            "patches[1].operations[0].value.$param",
            "unknown parameter 'nope'",
        ),
        (  # a declared parameter nobody uses
            "  - id: fix-x\n    description: d\n    parameters: {unused: 1}\n"
            "    match: {kind: Job}\n    operations: [{op: remove, path: x}]\n",
            9,
            "patches[1].parameters.unused",
            "declared but never used",
        ),
        (  # stage entries do not edit fields
            "  - id: fix-x\n    description: d\n    stage: dedup\n    match: {kind: Job}\n",
            10,
            "patches[1].match",
            "not allowed in a stage entry",
        ),
        (  # an unknown stage
            "  - id: fix-x\n    description: d\n    stage: dedupe\n",
            9,
            "patches[1].stage",
            "'dedupe' is not one of: dedup, eso, orphan-sidecars-guard",
        ),
        (  # stage entries are scoped by openDesk version only
            "  - id: fix-x\n    description: d\n    stage: eso\n"
            "    appliesTo: {chart: {name: x}}\n",
            10,
            "patches[1].appliesTo.chart",
            "unknown field 'chart'",
        ),
        (  # containerName without containers
            "  - id: fix-x\n    description: d\n    match: {kind: Job}\n    operations:\n"
            "      - {op: remove, path: x, containerName: a}\n",
            11,
            "patches[1].operations[0].containerName",
            "'containerName' needs 'containers'",
        ),
        (  # a bad version range
            "  - id: fix-x\n    description: d\n    appliesTo: {opendesk: 'latest'}\n"
            "    match: {kind: Job}\n    operations: [{op: remove, path: x}]\n",
            9,
            "patches[1].appliesTo.opendesk",
            "not a version range",
        ),
    ],
)
def test_malformed_entries_fail_with_file_and_line(
    tmp_path: Path, entry: str, line: int, field: str, message: str
) -> None:
    [problem] = problems_of(tmp_path, GOOD_HEAD + entry)
    assert problem[:3] == ("010-bad.yaml", line, field)
    assert message in problem[3]


def test_every_bad_entry_is_reported_at_once(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        """\
        patches:
          - id: a
          - id: b
            description: d
            match: {kind: Job}
            operations: [{op: nope}, {op: remove}]
        """,
    )
    assert [(line, field) for _, line, field, _ in found] == [
        (2, "patches[0]"),
        (6, "patches[1].operations[0].op"),
        (6, "patches[1].operations[1]"),
    ]


def test_malformed_files(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "patches: {a: 1}\n")[0][1:] == (
        1,
        "patches",
        "must be a list of patch entries",
    )
    assert "unknown field 'patch'" in problems_of(tmp_path, "patch: []\n")[0][3]
    assert "invalid YAML" in problems_of(tmp_path, "patches: [\n")[0][3]
    assert "duplicate key" in problems_of(tmp_path, "patches: []\npatches: []\n")[0][3]


def test_duplicate_ids_across_files_name_both(tmp_path: Path) -> None:
    a = tmp_path / "001-a.yaml"
    b = tmp_path / "002-b.yaml"
    a.write_text(GOOD_HEAD)
    b.write_text("# another file\n" + GOOD_HEAD)
    with pytest.raises(ConfigError) as exc:
        load_catalog(tmp_path)
    [problem] = exc.value.problems
    assert (problem.file, problem.line, problem.field) == (b, 3, "patches[0].id")
    assert f"duplicate patch id 'fix-good': also defined at {a}:2" in problem.message
    assert str(b) in str(exc.value) and str(a) in str(exc.value)


def test_missing_catalog_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="runtime-patch catalog not found"):
        load_catalog(tmp_path / "nowhere")
