"""openDesk's secrets file written out in Python, checked against helmfile itself.

The known answers below were computed once by helmfile v1.8.0 (sprig v3.3.0) from the v1.13.1
expressions; `test_equal_to_helmfile` recomputes a few of them with the real helmfile binary on
every run. scrypt is expensive (about 0.25 s a key), so the real file is rendered once per module
and the other tests reuse its cached keys.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED
from opendesk_deployer import redaction
from opendesk_deployer.render.derived_secrets import (
    SECRETS_FILE,
    DerivedSecretsError,
    Deriver,
    derive_password,
    go_quote,
    render_secrets_file,
    replace_secrets_file,
)
from opendesk_deployer.runner import Runner
from opendesk_deployer.toolchain import find

TEMPLATE = SHARED / "opendesk" / "v1.13.1" / SECRETS_FILE

# A master password that exercises quoting: a quote, a backslash, a tab, "{{", a format character
# (escaped by Go's %q) and non-ASCII letters and symbols (kept as they are).
MASTER = 'P\u00e4"s\\s\t{{ .x }}\u200bw\u2713rd'

# Known answers from helmfile v1.8.0, MASTER_PASSWORD=MASTER, by key path in the v1.13.1 file.
KNOWN_WITH_MASTER = {
    "cassandra.rootPassword": "e0b510df5b52458387ccadeb3bef8d24481095b7",  # long | sha1sum
    "nextcloud.statusPassword": "13b6b6ec4c540e28482a756a875d2ebae16117f0",  # medium
    "oxAppSuite.oxguardMC": "MCMTIwMWMyZjhkMjg3OGVjMjVkNDI=",  # printf/trunc 20/b64enc
    "oxAppSuite.oxguardRC": "RCYzc0YTIxODdkMjFjNzRlZjg3Y2E=",
    "nats.natsAdminPassword": "n550c709ffe3e10309e71f410bfc26a203e863d71",  # printf "n%s"
    "provisioning.dispatcherNatsPassword": "n21384468a25c1dd1b06038d37c0e1366a29a3336",
    "notes.djangoSecretKey": (  # sha256sum
        "87c4f26fbc6024d530e94044c7d425ed75946643e5d3185f40d3dd990212f002"
    ),
    "oxAppSuite.migrationsMasterPassword": "d7b1063dc57c5a5903c1a5ce60b6f430f2a0c201",
    "minio.dovecotUser": "566a81ba59d41bd17a78d5369488f0a09f36a073",  # (... | quote)
    "nubus.masterpassword": MASTER,
}
# The same with MASTER_PASSWORD unset: each line's own default ("opendesk" for one of them).
KNOWN_UNSET = {
    "cassandra.rootPassword": "6262116bdb2cbbe1893f91dada8d5dda0088be4c",
    "oxAppSuite.migrationsMasterPassword": "9aee7c4a09625a4fb1937d9e038bdfc8093e90f1",
    "nubus.masterpassword": "sovereign-workplace",
}
# Raw derivePassword outputs (helmfile, `derivePassword ... | quote`), scope cassandra.
KNOWN_RAW_WITH_MASTER = {
    (1, "long"): "Pelb2=NebjPupa",
    (3, "maximum"): "N0+$$I#cHjSRk70sn9Df",
    (1, "basic"): "dem2SPb6",
    (1, "short"): "Pel2",
    (1, "pin"): "7622",
}
KNOWN_RAW_MEDIUM_WITH_MASTER = "KiwLic7@"  # scope nextcloud, site nextcloud_status_user

# The expressions compared with the helmfile binary on every run (6 derivations each way).
HELMFILE_PROBES_WITH_MASTER = [
    "cassandra.rootPassword",
    "nextcloud.statusPassword",
    "oxAppSuite.oxguardMC",
    "nats.natsAdminPassword",
    "notes.djangoSecretKey",
    "oxAppSuite.migrationsMasterPassword",
    "nubus.masterpassword",
]
HELMFILE_PROBES_UNSET = ["oxAppSuite.migrationsMasterPassword", "nubus.masterpassword"]

_KEY_LINE = re.compile(r"^( *)([A-Za-z0-9_]+):(.*)$")
_DERIVE_SCOPE = re.compile(r'derivePassword \d+ "\w+" \([^)]*\) "([^"]*)"')


def _expressions(text: str) -> dict[str, str]:
    """`parent.key` -> the `{{ ... }}` on that line of the secrets template."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        m = _KEY_LINE.match(line)
        if not m:
            continue
        indent = len(m[1])
        stack = [*(s for s in stack if s[0] < indent), (indent, m[2])]
        if "{{" in m[3]:
            key = ".".join(k for _, k in stack[-2:])
            assert key not in found, key
            found[key] = m[3].strip()
    return found


def _probe_template(top: str, keys: list[str], expressions: dict[str, str]) -> str:
    return f"{top}:\n" + "".join(f'  "{k}": {expressions[k]}\n' for k in keys)


def _key_paths(data: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    if isinstance(data, dict):
        paths = {prefix}
        for k, v in data.items():
            paths |= _key_paths(v, (*prefix, str(k)))
        return paths
    return {prefix}


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out |= _leaves(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return {prefix: data}


def _by_parent_key(data: dict[str, Any]) -> dict[str, Any]:
    return {".".join(path.split(".")[-2:]): v for path, v in _leaves(data).items()}


@dataclass
class Rendered:
    template: str
    text: str
    data: dict[str, Any]
    count: int
    deriver: Deriver


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    """The real v1.13.1 file written out with MASTER (once: 37 scrypt runs)."""
    if not TEMPLATE.is_file():
        pytest.fail(f"openDesk v1.13.1 tree not found: {TEMPLATE}")
    root = tmp_path_factory.mktemp("tree")
    target = root / SECRETS_FILE
    target.parent.mkdir(parents=True)
    shutil.copy2(TEMPLATE, target)
    deriver = Deriver()
    count = replace_secrets_file(root, MASTER, deriver=deriver)
    text = target.read_text(encoding="utf-8")
    yield Rendered(TEMPLATE.read_text(encoding="utf-8"), text, yaml.safe_load(text), count, deriver)


# --- the whole file -------------------------------------------------------------------------------


def test_real_file_is_written_out_completely(rendered: Rendered) -> None:
    assert rendered.template.count("derivePassword") == 111
    assert rendered.count == 111
    assert rendered.deriver.derivations == 111
    assert "{{" not in rendered.text
    # Same structure: every key path of the template (values replaced by a placeholder).
    skeleton = yaml.safe_load(re.sub(r"\{\{.*?\}\}", '"x"', rendered.template))
    assert _key_paths(rendered.data) == _key_paths(skeleton)
    assert all(isinstance(v, str) and v for v in _leaves(rendered.data).values())
    # Comments and everything outside the expressions are unchanged.
    template_lines = rendered.template.splitlines()
    written_lines = rendered.text.splitlines()
    assert len(template_lines) == len(written_lines)
    for before, after in zip(template_lines, written_lines, strict=True):
        if "{{" not in before:
            assert after == before
        else:
            assert after.split(":", 1)[0] == before.split(":", 1)[0]


def test_real_file_values_equal_helmfile_known_answers(rendered: Rendered) -> None:
    values = _by_parent_key(rendered.data["secrets"])
    for key, expected in KNOWN_WITH_MASTER.items():
        assert values[key] == expected, key


def test_scrypt_key_is_cached_per_scope(rendered: Rendered) -> None:
    # One scrypt per distinct (password, user); with MASTER_PASSWORD set every line uses it.
    scopes = set(_DERIVE_SCOPE.findall(rendered.template))
    assert len(scopes) == 37
    assert rendered.deriver.scrypt_runs == rendered.deriver.scopes == len(scopes)
    # Rendering again with the same Deriver costs no scrypt at all and gives the same text.
    again = render_secrets_file(rendered.template, MASTER, rendered.deriver)
    assert rendered.deriver.scrypt_runs == len(scopes)
    assert again == rendered.text


def test_every_value_is_registered_with_the_redactor(rendered: Rendered) -> None:
    redaction.forget_all()
    render_secrets_file(rendered.template, MASTER, rendered.deriver)  # keys cached: no scrypt
    for key, value in _leaves(rendered.data).items():
        assert redaction.redact(f"<{value}>") == f"<{redaction.MARKER}>", key


def test_raw_derive_password_equals_helmfile(rendered: Rendered) -> None:
    deriver = rendered.deriver  # the cassandra and nextcloud keys are cached
    for (counter, kind), expected in KNOWN_RAW_WITH_MASTER.items():
        assert deriver.derive(counter, kind, MASTER, "cassandra", "root_password") == expected
    medium = deriver.derive(1, "medium", MASTER, "nextcloud", "nextcloud_status_user")
    assert medium == KNOWN_RAW_MEDIUM_WITH_MASTER
    assert deriver.scrypt_runs == 37


def test_derive_password_function() -> None:
    raw = derive_password(1, "long", MASTER, "cassandra", "root_password")  # one scrypt
    assert raw == KNOWN_RAW_WITH_MASTER[(1, "long")]
    digest = hashlib.sha1(raw.encode()).hexdigest()
    assert digest == KNOWN_WITH_MASTER["cassandra.rootPassword"]


def test_unset_master_password_uses_each_lines_default() -> None:
    expressions = _expressions(TEMPLATE.read_text(encoding="utf-8"))
    template = _probe_template("probe", list(KNOWN_UNSET), expressions)
    deriver = Deriver()
    data = yaml.safe_load(render_secrets_file(template, "", deriver))
    assert data["probe"] == KNOWN_UNSET
    # "sovereign-workplace"/cassandra and "opendesk"/ox_appsuite: two scopes.
    assert deriver.scrypt_runs == 2
    # The derived values are masked; the public defaults are not (they are ordinary words).
    assert redaction.redact(KNOWN_UNSET["cassandra.rootPassword"]) == redaction.MARKER
    assert redaction.redact("namespace opendesk") == "namespace opendesk"


def test_replace_secrets_file_rewrites_only_that_file(tmp_path: Path) -> None:
    target = tmp_path / SECRETS_FILE
    target.parent.mkdir(parents=True)
    target.write_text('a: {{ env "MASTER_PASSWORD" | default "x" | quote }}\n# keep\n')
    target.chmod(0o640)
    assert replace_secrets_file(tmp_path, "m{{aster}}") == 0
    written = target.read_text()
    assert "{{" not in written
    assert written.endswith("\n# keep\n")
    assert yaml.safe_load(written) == {"a": "m{{aster}}"}
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == [target.name]


# --- what is not understood -----------------------------------------------------------------------

_GOOD = (
    'ok: {{ derivePassword 1 "long" (env "MASTER_PASSWORD" | default "sovereign-workplace") '
    '"cassandra" "root_password" | sha1sum | quote }}\n'
)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("{{ .Values.foo | quote }}", "unsupported syntax"),
        ("{{ randAlphaNum 16 | quote }}", "unsupported function 'randAlphaNum'"),
        ('{{ derivePassword 1 "long" "p" "u" "s" | sha1sum }}', "does not end in `| quote`"),
        ('{{- "x" | quote }}', "trim markers"),
        ('{{ "x" | quote -}}', "unsupported syntax"),
        ("{{/* comment */}}", "comments"),
        ('{{ $x := "a" }}', "unsupported syntax"),
        ('{{ "x" | quote', "end of file"),
        ('{{ "x\\q" | quote }}', "unsupported escape"),
        ('{{ derivePassword 010 "long" "p" "u" "s" | quote }}', "unsupported number '010'"),
        ('{{ "x" "y" | quote }}', "cannot take arguments"),
    ],
)
def test_unknown_expression_fails_naming_the_line(expression: str, message: str) -> None:
    deriver = Deriver()
    template = _GOOD + "# a comment\nbad: " + expression + "\n"
    with pytest.raises(DerivedSecretsError) as exc:
        render_secrets_file(template, MASTER, deriver)
    assert exc.value.line == 3
    assert str(exc.value).startswith("line 3: ")
    assert message in str(exc.value)
    assert deriver.scrypt_runs == 0  # the whole file is parsed before any scrypt work


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('{{ env "HOME" | quote }}', "only 'MASTER_PASSWORD'"),
        ('{{ derivePassword 1 "huge" "p" "u" "s" | quote }}', "unknown password type 'huge'"),
        ('{{ derivePassword "1" "long" "p" "u" "s" | quote }}', "must be an integer"),
        ('{{ printf "%d" "x" | quote }}', "only %s, %v and %%"),
        ("{{ sha1sum 1 | quote }}", "must be a string"),
        ('{{ quote "a" "b" }}', "quote takes 1 arguments, got 2"),
    ],
)
def test_bad_expression_fails_naming_the_line(expression: str, message: str) -> None:
    deriver = Deriver()
    with pytest.raises(DerivedSecretsError, match=re.escape(message)) as exc:
        render_secrets_file("a: 1\n\nbad: " + expression + "\n", MASTER, deriver)
    assert exc.value.line == 3
    assert deriver.scrypt_runs == 0


def test_replace_secrets_file_names_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / SECRETS_FILE
    target.parent.mkdir(parents=True)
    original = "a: 1\nb: {{ .Values.x | quote }}\n"
    target.write_text(original)
    with pytest.raises(DerivedSecretsError, match=r"secrets\.yaml\.gotmpl: line 2: "):
        replace_secrets_file(tmp_path, MASTER)
    assert target.read_text() == original


# --- Go's quote -----------------------------------------------------------------------------------


def test_go_quote_matches_strconv_quote() -> None:
    # Expected strings as Go's strconv.Quote prints them.
    assert go_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert go_quote("\a\b\f\n\r\t\v") == '"\\a\\b\\f\\n\\r\\t\\v"'
    assert go_quote("\x00\x1f\x7f") == '"\\x00\\x1f\\x7f"'
    assert go_quote("\u00a0\u00ad\u200b\ufeff") == '"\\u00a0\\u00ad\\u200b\\ufeff"'
    assert go_quote("\U000e0001") == '"\\U000e0001"'
    assert go_quote("\u00e4\u2713\U0001f600 ~") == '"\u00e4\u2713\U0001f600 ~"'


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_go_quote_is_yaml_double_quoted_with_the_same_value(text: str) -> None:
    assert yaml.safe_load(go_quote(text)) == text


# --- against the real helmfile ----------------------------------------------------------------------


def _helmfile_values(
    tmp: Path, master: str, keys: list[str], expressions: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any], float]:
    """helmfile's rendered environment values for the template expressions and for Python's
    written-out version of them (rendered by helmfile again), Python's data, helmfile seconds."""
    tmp.mkdir()
    written = render_secrets_file(_probe_template("written", keys, expressions), master)
    (tmp / "template.yaml.gotmpl").write_text(_probe_template("template", keys, expressions))
    (tmp / "written.yaml.gotmpl").write_text(written)
    (tmp / "helmfile.yaml").write_text(
        "environments:\n  default:\n    values:\n"
        "      - template.yaml.gotmpl\n      - written.yaml.gotmpl\n"
    )
    result = Runner().run(
        "helmfile",
        [
            "--helm-binary",
            str(find("helm")),
            "--allow-no-matching-release",
            "--quiet",
            "--file",
            str(tmp / "helmfile.yaml"),
            "build",
        ],
        cwd=tmp,
        env={"MASTER_PASSWORD": master},
        timeout=300,
    )
    state = yaml.safe_load(result.stdout)
    return state["renderedvalues"], yaml.safe_load(written)["written"], result.seconds


@pytest.mark.slow
def test_equal_to_helmfile(tmp_path: Path) -> None:
    expressions = _expressions(TEMPLATE.read_text(encoding="utf-8"))
    for name, master, keys in [
        ("set", MASTER, HELMFILE_PROBES_WITH_MASTER),
        ("unset", "", HELMFILE_PROBES_UNSET),
    ]:
        helmfile, python, _seconds = _helmfile_values(tmp_path / name, master, keys, expressions)
        assert set(python) == set(keys)
        # helmfile evaluating openDesk's expressions gives Python's values ...
        assert helmfile["template"] == python, name
        # ... and the written-out file, which helmfile renders as a template again, too.
        assert helmfile["written"] == python, name
        known = KNOWN_WITH_MASTER if master else KNOWN_UNSET
        assert python == {k: known[k] for k in keys}
