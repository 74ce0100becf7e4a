"""openDesk's derived secrets, computed in Python instead of by helmfile.

openDesk's `helmfile/environments/default/secrets.yaml.gotmpl` derives every secret with sprig's
`derivePassword` (the Master Password algorithm), e.g.

    {{ derivePassword 1 "long" (env "MASTER_PASSWORD" | default "sovereign-workplace")
       "cassandra" "root_password" | sha1sum | quote }}

Each call runs scrypt (N=32768, r=8, p=2): about 0.25 s, so 30 s or more for the file's 111
calls, and helmfile evaluates the file again for each of openDesk's 15 child helmfiles (their
`values:` list `environments/default/*.yaml.gotmpl`): about four minutes per render. The scrypt key only depends on the password and the
"user" argument (openDesk's scope, e.g. "cassandra"), so a cache per (password, user) turns 111
scrypt runs into 37. `replace_secrets_file` rewrites the file in a copy of the tree with every
value written out as the double-quoted string helmfile would have produced.

The evaluator understands exactly the Go-template pieces that file uses (string and integer
literals, parentheses, pipes and the functions in `_FUNCTIONS`); anything else (variables, `.`,
other functions, trim markers, comments) raises `DerivedSecretsError` naming the line, before any
scrypt work. Every value derived here is registered with the redactor and never logged.

Bit-exactness with sprig v3.3.0 (`crypto.go`, `strings.go`, `defaults.go`): `derivePassword` as
below; `quote` is Go's `%q` (strconv.Quote); `trunc` cuts bytes; `b64enc` is standard base64;
`sha1sum`/`sha256sum` are lowercase hex of the UTF-8 bytes; `default` replaces an empty string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from opendesk_deployer import logs, redaction

log = logs.get("render.derived_secrets")

SECRETS_FILE = Path("helmfile/environments/default/secrets.yaml.gotmpl")
MASTER_PASSWORD_ENV = "MASTER_PASSWORD"  # noqa: S105 (a variable name)

# --- the Master Password algorithm, as in sprig's crypto.go ---------------------------------------

_SEED = b"com.lyndir.masterpassword"
SCRYPT_N = 32768
SCRYPT_R = 8
SCRYPT_P = 2
SCRYPT_KEY_LENGTH = 64
# scrypt needs 128*r*N bytes (32 MiB) plus a little; hashlib's default limit is 32 MiB.
_SCRYPT_MAXMEM = 64 * 1024 * 1024

PASSWORD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "maximum": ("anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"),
    "long": (
        "CvcvnoCvcvCvcv",
        "CvcvCvcvnoCvcv",
        "CvcvCvcvCvcvno",
        "CvccnoCvcvCvcv",
        "CvccCvcvnoCvcv",
        "CvccCvcvCvcvno",
        "CvcvnoCvccCvcv",
        "CvcvCvccnoCvcv",
        "CvcvCvccCvcvno",
        "CvcvnoCvcvCvcc",
        "CvcvCvcvnoCvcc",
        "CvcvCvcvCvccno",
        "CvccnoCvccCvcv",
        "CvccCvccnoCvcv",
        "CvccCvccCvcvno",
        "CvcvnoCvccCvcc",
        "CvcvCvccnoCvcc",
        "CvcvCvccCvccno",
        "CvccnoCvcvCvcc",
        "CvccCvcvnoCvcc",
        "CvccCvcvCvccno",
    ),
    "medium": ("CvcnoCvc", "CvcCvcno"),
    "short": ("Cvcn",),
    "basic": ("aaanaaan", "aannaaan", "aaannaaa"),
    "pin": ("nnnn",),
}

TEMPLATE_CHARACTERS: dict[str, str] = {
    "V": "AEIOU",
    "C": "BCDFGHJKLMNPQRSTVWXYZ",
    "v": "aeiou",
    "c": "bcdfghjklmnpqrstvwxyz",
    "A": "AEIOUBCDFGHJKLMNPQRSTVWXYZ",
    "a": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
    "n": "0123456789",
    "o": "@&%?,=[]_:-+*$#!'^~;()/.",
    "x": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
}

_UINT32_MAX = 0xFFFFFFFF


class DerivedSecretsError(Exception):
    """A template expression that cannot be evaluated here, or bad input to the algorithm."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise DerivedSecretsError(f"{what} is not valid Unicode text (lone surrogate)") from None


def master_key(password: str, user: str) -> bytes:
    """The 64-byte scrypt key of `password` for `user` (the expensive part)."""
    user_bytes = _utf8(user, "user")
    salt = _SEED + struct.pack(">I", len(user_bytes)) + user_bytes
    return hashlib.scrypt(
        _utf8(password, "password"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=_SCRYPT_MAXMEM,
        dklen=SCRYPT_KEY_LENGTH,
    )


def password_from_key(key: bytes, counter: int, password_type: str, site: str) -> str:
    """The site password for a master key (cheap: one HMAC-SHA256)."""
    templates = PASSWORD_TEMPLATES.get(password_type)
    if templates is None:
        # sprig returns the text "cannot find password template X" as the password; a secret
        # with that value is never wanted, so this fails instead.
        raise DerivedSecretsError(f"unknown password type {password_type!r}")
    if not 0 <= counter <= _UINT32_MAX:
        raise DerivedSecretsError(f"counter {counter} is outside uint32")
    site_bytes = _utf8(site, "site")
    message = _SEED + struct.pack(">I", len(site_bytes)) + site_bytes + struct.pack(">I", counter)
    seed = hmac.new(key, message, hashlib.sha256).digest()
    template = templates[seed[0] % len(templates)]
    chars = []
    for i, cls in enumerate(template):
        alphabet = TEMPLATE_CHARACTERS[cls]
        chars.append(alphabet[seed[i + 1] % len(alphabet)])
    return "".join(chars)


def derive_password(counter: int, password_type: str, password: str, user: str, site: str) -> str:
    """Sprig's `derivePassword counter passwordType password user site`, bit for bit (one scrypt
    run per call; `Deriver` caches the key). The value is registered with the redactor."""
    if password_type not in PASSWORD_TEMPLATES:
        raise DerivedSecretsError(f"unknown password type {password_type!r}")
    value = password_from_key(master_key(password, user), counter, password_type, site)
    redaction.register(value)
    return value


@dataclass
class Deriver:
    """`derive_password` with the scrypt key cached per (password, user).

    `cache=False` runs scrypt on every call (the helmfile behaviour; benchmarks only).
    """

    cache: bool = True
    scrypt_runs: int = 0
    derivations: int = 0
    _keys: dict[tuple[str, str], bytes] = field(default_factory=dict, repr=False)

    def key(self, password: str, user: str) -> bytes:
        scope = (password, user)
        if self.cache and scope in self._keys:
            return self._keys[scope]
        key = master_key(password, user)
        self.scrypt_runs += 1
        if self.cache:
            self._keys[scope] = key
        return key

    def derive(self, counter: int, password_type: str, password: str, user: str, site: str) -> str:
        if password_type not in PASSWORD_TEMPLATES:
            raise DerivedSecretsError(f"unknown password type {password_type!r}")
        value = password_from_key(self.key(password, user), counter, password_type, site)
        self.derivations += 1
        redaction.register(value)
        return value

    @property
    def scopes(self) -> int:
        """How many distinct (password, user) keys are cached."""
        return len(self._keys)

    def prefetch(self, scopes: set[tuple[str, str]], workers: int | None = None) -> None:
        """Compute the keys of `scopes` up front on several threads (hashlib.scrypt releases
        the GIL, so the 37 scrypt runs of openDesk's file spread over the cores)."""
        if not self.cache:
            return
        todo = sorted(scopes - set(self._keys))
        if not todo:
            return
        workers = max(1, min(len(todo), workers or os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            keys = list(pool.map(lambda scope: master_key(*scope), todo))
        self._keys.update(zip(todo, keys, strict=True))
        self.scrypt_runs += len(todo)


@dataclass
class _ScopeRecorder(Deriver):
    """Evaluates the file without scrypt, only to learn which (password, user) keys it needs."""

    seen: set[tuple[str, str]] = field(default_factory=set)

    def derive(self, counter: int, password_type: str, password: str, user: str, site: str) -> str:
        if password_type not in PASSWORD_TEMPLATES:
            raise DerivedSecretsError(f"unknown password type {password_type!r}")
        self.seen.add((password, user))
        return "0" * 40


# --- Go's strconv.Quote ------------------------------------------------------------------------

_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """Go's `strconv.Quote` (what sprig's `quote` and `%q` produce) for a valid UTF-8 string.

    Go's unicode.IsPrint (letters, marks, numbers, punctuation, symbols and the ASCII space) is
    the same set as Python's str.isprintable. The result is also a valid YAML double-quoted
    scalar with the same value.
    """
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


# --- the template subset ---------------------------------------------------------------------------

Value = str | int


@dataclass(frozen=True)
class _Literal:
    value: Value


@dataclass(frozen=True)
class _Function:
    name: str


@dataclass(frozen=True)
class _Pipeline:
    commands: tuple[tuple[_Node, ...], ...]


_Node = _Literal | _Function | _Pipeline


@dataclass(frozen=True)
class _Action:
    start: int  # offset of "{{"
    end: int  # offset after "}}"
    line: int
    pipeline: _Pipeline


@dataclass
class _Context:
    master_password: str
    deriver: Deriver
    line: int


def _want_str(name: str, args: Sequence[Value], index: int, ctx: _Context) -> str:
    value = args[index]
    if not isinstance(value, str):
        raise DerivedSecretsError(f"{name}: argument {index + 1} must be a string", ctx.line)
    return value


def _want_int(name: str, args: Sequence[Value], index: int, ctx: _Context) -> int:
    value = args[index]
    if not isinstance(value, int):
        raise DerivedSecretsError(f"{name}: argument {index + 1} must be an integer", ctx.line)
    return value


def _arity(name: str, args: Sequence[Value], count: int, ctx: _Context) -> None:
    if len(args) != count:
        raise DerivedSecretsError(f"{name} takes {count} arguments, got {len(args)}", ctx.line)


def _fn_derive_password(args: Sequence[Value], ctx: _Context) -> Value:
    name = "derivePassword"
    _arity(name, args, 5, ctx)
    counter = _want_int(name, args, 0, ctx)
    if not 0 <= counter <= _UINT32_MAX:
        raise DerivedSecretsError(f"{name}: counter {counter} is outside uint32", ctx.line)
    kind, password, user, site = (_want_str(name, args, i, ctx) for i in range(1, 5))
    try:
        return ctx.deriver.derive(counter, kind, password, user, site)
    except DerivedSecretsError as exc:
        raise DerivedSecretsError(f"{name}: {exc}", ctx.line) from None


def _fn_env(args: Sequence[Value], ctx: _Context) -> Value:
    _arity("env", args, 1, ctx)
    variable = _want_str("env", args, 0, ctx)
    if variable != MASTER_PASSWORD_ENV:
        raise DerivedSecretsError(
            f"env {variable!r}: only {MASTER_PASSWORD_ENV!r} is known here", ctx.line
        )
    return ctx.master_password


def _fn_default(args: Sequence[Value], ctx: _Context) -> Value:
    # sprig: dfault(d, given...) returns d when given is missing or empty ("" or 0).
    if len(args) not in (1, 2):
        raise DerivedSecretsError(f"default takes 1 or 2 arguments, got {len(args)}", ctx.line)
    if len(args) == 1 or args[1] in ("", 0):
        return args[0]
    return args[1]


def _fn_sha1sum(args: Sequence[Value], ctx: _Context) -> Value:
    _arity("sha1sum", args, 1, ctx)
    return hashlib.sha1(_utf8(_want_str("sha1sum", args, 0, ctx), "sha1sum input")).hexdigest()


def _fn_sha256sum(args: Sequence[Value], ctx: _Context) -> Value:
    _arity("sha256sum", args, 1, ctx)
    data = _utf8(_want_str("sha256sum", args, 0, ctx), "sha256sum input")
    return hashlib.sha256(data).hexdigest()


def _fn_trunc(args: Sequence[Value], ctx: _Context) -> Value:
    _arity("trunc", args, 2, ctx)
    count = _want_int("trunc", args, 0, ctx)
    text = _want_str("trunc", args, 1, ctx)
    if not text.isascii():
        # sprig cuts bytes; on ASCII that is the same as cutting characters.
        raise DerivedSecretsError("trunc of non-ASCII text is not supported", ctx.line)
    if count < 0:
        return text[count:] if len(text) + count > 0 else text
    return text[:count]


def _fn_b64enc(args: Sequence[Value], ctx: _Context) -> Value:
    _arity("b64enc", args, 1, ctx)
    data = _utf8(_want_str("b64enc", args, 0, ctx), "b64enc input")
    return base64.b64encode(data).decode("ascii")


def _fn_printf(args: Sequence[Value], ctx: _Context) -> Value:
    if not args:
        raise DerivedSecretsError("printf needs a format", ctx.line)
    fmt = _want_str("printf", args, 0, ctx)
    values = [_want_str("printf", args, i, ctx) for i in range(1, len(args))]
    out: list[str] = []
    used = 0
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        verb = fmt[i + 1] if i + 1 < len(fmt) else ""
        if verb == "%":
            out.append("%")
        elif verb in ("s", "v"):
            if used >= len(values):
                raise DerivedSecretsError("printf: too few arguments for the format", ctx.line)
            out.append(values[used])
            used += 1
        else:
            raise DerivedSecretsError(
                f"printf: only %s, %v and %% are supported in {fmt!r}", ctx.line
            )
        i += 2
    if used != len(values):
        raise DerivedSecretsError("printf: more arguments than the format uses", ctx.line)
    return "".join(out)


def _fn_quote(args: Sequence[Value], ctx: _Context) -> Value:
    # sprig quotes each argument and joins them with spaces; more than one would not be a single
    # YAML scalar, so only one is accepted here.
    _arity("quote", args, 1, ctx)
    value = args[0]
    return go_quote(value if isinstance(value, str) else str(value))


_FUNCTIONS: dict[str, Callable[[Sequence[Value], _Context], Value]] = {
    "derivePassword": _fn_derive_password,
    "env": _fn_env,
    "default": _fn_default,
    "sha1sum": _fn_sha1sum,
    "sha256sum": _fn_sha256sum,
    "trunc": _fn_trunc,
    "b64enc": _fn_b64enc,
    "printf": _fn_printf,
    "quote": _fn_quote,
}

# Results registered with the redactor: everything computed from a derived password. Not `env`
# and `default`: the master password is registered by the caller, and a line's public default
# ("opendesk", used when no master password is set) would mask that word in every log line.
_REGISTERED = frozenset({"derivePassword", "sha1sum", "sha256sum", "trunc", "b64enc", "printf"})

_GO_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DIGITS_SET = frozenset("0123456789")


class _Parser:
    """Tokenizer and recursive-descent parser for one action, starting after "{{"."""

    def __init__(self, text: str, pos: int, line: int) -> None:
        self.text = text
        self.pos = pos
        self.line = line

    def fail(self, message: str) -> DerivedSecretsError:
        return DerivedSecretsError(message, self.line)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def at_end(self) -> bool:
        return self.text.startswith("}}", self.pos)

    def parse_action(self) -> _Pipeline:
        if self.text.startswith(("- ", "-\t", "-\n", "/*"), self.pos):
            raise self.fail("trim markers and comments are not supported")
        pipeline = self.parse_pipeline()
        if not self.at_end():
            raise self.fail(f"unexpected {self.describe_here()}")
        self.pos += 2
        return pipeline

    def describe_here(self) -> str:
        if self.pos >= len(self.text):
            return "end of file (no closing }})"
        return f"{self.text[self.pos : self.pos + 12]!r}"

    def parse_pipeline(self) -> _Pipeline:
        commands = [self.parse_command()]
        while True:
            self.skip_space()
            if self.pos < len(self.text) and self.text[self.pos] == "|":
                self.pos += 1
                commands.append(self.parse_command())
            else:
                break
        return _Pipeline(tuple(commands))

    def parse_command(self) -> tuple[_Node, ...]:
        operands: list[_Node] = []
        while True:
            self.skip_space()
            if self.pos >= len(self.text):
                raise self.fail("end of file inside {{ }}")
            ch = self.text[self.pos]
            if ch == "|" or ch == ")" or self.at_end():
                break
            operands.append(self.parse_operand())
        if not operands:
            raise self.fail(f"empty command before {self.describe_here()}")
        if len(operands) > 1 and not isinstance(operands[0], _Function):
            raise self.fail("a literal or parenthesised value cannot take arguments")
        return tuple(operands)

    def parse_operand(self) -> _Node:
        text = self.text
        ch = text[self.pos]
        if ch == "(":
            self.pos += 1
            inner = self.parse_pipeline()
            self.skip_space()
            if self.pos >= len(text) or text[self.pos] != ")":
                raise self.fail(f"expected ')' at {self.describe_here()}")
            self.pos += 1
            return inner
        if ch == '"':
            return _Literal(self.parse_string())
        if ch == "`":
            end = text.find("`", self.pos + 1)
            if end < 0:
                raise self.fail("unterminated raw string")
            value = text[self.pos + 1 : end]
            self.pos = end + 1
            return _Literal(value)
        if ch in _DIGITS_SET or (ch in "+-" and text[self.pos + 1 : self.pos + 2] in _DIGITS_SET):
            start = self.pos
            self.pos += 1
            while self.pos < len(text) and text[self.pos] in _DIGITS_SET:
                self.pos += 1
            if self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] in "._"):
                raise self.fail(f"unsupported number {text[start : self.pos + 1]!r}")
            digits = text[start : self.pos].lstrip("+-")
            if len(digits) > 1 and digits[0] == "0":  # Go reads a leading 0 as octal
                raise self.fail(f"unsupported number {text[start : self.pos]!r}")
            return _Literal(int(text[start : self.pos]))
        if ch.isalpha() or ch == "_":
            start = self.pos
            while self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] == "_"):
                self.pos += 1
            name = text[start : self.pos]
            if self.pos < len(text) and text[self.pos] == ".":
                raise self.fail(f"unsupported field access after {name!r}")
            if name not in _FUNCTIONS:
                raise self.fail(f"unsupported function {name!r}")
            return _Function(name)
        raise self.fail(f"unsupported syntax at {self.describe_here()}")

    def parse_string(self) -> str:
        text = self.text
        i = self.pos + 1
        out: list[str] = []
        while True:
            if i >= len(text) or text[i] == "\n":
                raise self.fail("unterminated string")
            ch = text[i]
            if ch == '"':
                break
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            esc = text[i + 1 : i + 2]
            if esc in _GO_ESCAPES:
                out.append(_GO_ESCAPES[esc])
                i += 2
            elif esc in ("x", "u", "U"):
                width = {"x": 2, "u": 4, "U": 8}[esc]
                digits = text[i + 2 : i + 2 + width]
                if len(digits) != width or not set(digits) <= _HEX_DIGITS:
                    raise self.fail(f"bad \\{esc} escape in string")
                code = int(digits, 16)
                if esc == "x" and code > 0x7F:
                    raise self.fail("\\x escapes above 0x7f are not supported")
                if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                    raise self.fail(f"invalid code point in \\{esc} escape")
                out.append(chr(code))
                i += 2 + width
            else:
                raise self.fail(f"unsupported escape \\{esc} in string")
        self.pos = i + 1
        return "".join(out)


def _parse(template_text: str) -> list[_Action]:
    actions: list[_Action] = []
    pos = 0
    while True:
        start = template_text.find("{{", pos)
        if start < 0:
            return actions
        line = template_text.count("\n", 0, start) + 1
        parser = _Parser(template_text, start + 2, line)
        pipeline = parser.parse_action()
        if not _ends_in_quote(pipeline):
            raise DerivedSecretsError(
                "expression does not end in `| quote`; only quoted values are written out", line
            )
        actions.append(_Action(start, parser.pos, line, pipeline))
        pos = parser.pos


def _ends_in_quote(pipeline: _Pipeline) -> bool:
    last = pipeline.commands[-1]
    if len(last) == 1 and isinstance(last[0], _Pipeline):
        return _ends_in_quote(last[0])
    return isinstance(last[0], _Function) and last[0].name == "quote"


def _evaluate(pipeline: _Pipeline, ctx: _Context) -> Value:
    result: Value | None = None
    for index, command in enumerate(pipeline.commands):
        head = command[0]
        if isinstance(head, _Function):
            args = [_evaluate_operand(node, ctx) for node in command[1:]]
            if result is not None:
                args.append(result)  # Go appends the piped value as the last argument
            result = _FUNCTIONS[head.name](args, ctx)
            if isinstance(result, str) and head.name in _REGISTERED:
                redaction.register(result)
        elif index == 0:
            result = _evaluate_operand(head, ctx)
        else:
            raise DerivedSecretsError("cannot pipe a value into a non-function", ctx.line)
    assert result is not None
    return result


def _evaluate_operand(node: _Node, ctx: _Context) -> Value:
    if isinstance(node, _Literal):
        return node.value
    if isinstance(node, _Pipeline):
        return _evaluate(node, ctx)
    # A bare function name as an argument is a call without arguments in Go.
    return _FUNCTIONS[node.name]([], ctx)


def _count_derivations(node: _Node) -> int:
    if isinstance(node, _Pipeline):
        return sum(_count_derivations(n) for command in node.commands for n in command)
    return int(isinstance(node, _Function) and node.name == "derivePassword")


def _render(template_text: str, master_password: str, deriver: Deriver) -> tuple[str, int]:
    """The rendered text and the number of derivePassword values in it."""
    _utf8(master_password, "the master password")
    redaction.register(master_password)
    actions = _parse(template_text)  # every expression is checked before any scrypt work
    if deriver.cache:
        recorder = _ScopeRecorder()
        for action in actions:
            _evaluate(action.pipeline, _Context(master_password, recorder, action.line))
        deriver.prefetch(recorder.seen)
    pieces: list[str] = []
    pos = 0
    derived = 0
    for action in actions:
        ctx = _Context(master_password, deriver, action.line)
        value = _evaluate(action.pipeline, ctx)
        if not isinstance(value, str):
            raise DerivedSecretsError("expression did not give a string", action.line)
        if "{{" in value:
            # The file stays a .gotmpl that helmfile renders again: keep "{{" out of it. Inside a
            # Go-quoted string "{" is always literal, and YAML reads \x7b back as "{".
            value = value.replace("{", "\\x7b")
        pieces.append(template_text[pos : action.start])
        pieces.append(value)
        pos = action.end
        derived += _count_derivations(action.pipeline)
    pieces.append(template_text[pos:])
    return "".join(pieces), derived


def render_secrets_file(
    template_text: str, master_password: str, deriver: Deriver | None = None
) -> str:
    """`template_text` with every `{{ ... }}` replaced by the quoted value helmfile would
    produce with MASTER_PASSWORD=`master_password` ("" means unset: the defaults apply)."""
    return _render(template_text, master_password, Deriver() if deriver is None else deriver)[0]


def _fingerprint(master_password: str, template_text: str) -> str:
    """Keyed by the password, so the cache file says nothing about it without it."""
    return hmac.new(master_password.encode(), template_text.encode(), hashlib.sha256).hexdigest()


def _read_cache(cache_file: Path | None, fingerprint: str) -> tuple[str, int] | None:
    if cache_file is None or not cache_file.is_file():
        return None
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != fingerprint:
        return None
    text, derived = data.get("text"), data.get("derived")
    return (text, derived) if isinstance(text, str) and isinstance(derived, int) else None


def _write_private(path: Path, text: str, mode: int = 0o600) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_secrets_file(
    tree_root: Path,
    master_password: str,
    *,
    deriver: Deriver | None = None,
    cache_file: Path | None = None,
) -> int:
    """Rewrite `<tree_root>/helmfile/environments/default/secrets.yaml.gotmpl` (in a writable
    copy of the openDesk tree) with its values written out; return how many were derived.
    Nothing is written when an expression is not understood.

    `cache_file` (in the instance's local state directory) keeps the written-out file, mode 0600,
    keyed by an HMAC of the template under the master password: an unchanged template and
    password skip every scrypt run on the next render."""
    path = tree_root / SECRETS_FILE
    try:
        template_text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DerivedSecretsError(f"{path}: no such file") from None
    fingerprint = _fingerprint(master_password, template_text)
    cached = _read_cache(cache_file, fingerprint)
    if cached is not None:
        text, derived = cached
        redaction.register(master_password)
        for line in text.splitlines():
            _, sep, value = line.partition(": ")
            if sep and value.startswith('"') and value.endswith('"'):
                redaction.register(value[1:-1])
        _write_private(path, text, path.stat().st_mode & 0o777)
        log.info("secrets.derived", file=str(path), values=derived, cached=True)
        return derived
    deriver = Deriver() if deriver is None else deriver
    started = time.monotonic()
    try:
        text, derived = _render(template_text, master_password, deriver)
    except DerivedSecretsError as exc:
        raise DerivedSecretsError(f"{path}: {exc}") from None
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Only the position: the parser's message quotes the offending text, a secret maybe.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DerivedSecretsError(
            f"{path}: the written-out file is not valid YAML{where}"
        ) from None
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = {"fingerprint": fingerprint, "derived": derived, "text": text}
        _write_private(cache_file, json.dumps(payload))
    _write_private(path, text, path.stat().st_mode & 0o777)
    log.info(
        "secrets.derived",
        file=str(path),
        values=derived,
        scrypt_runs=deriver.scrypt_runs,
        seconds=round(time.monotonic() - started, 3),
    )
    return derived
