"""Redaction of secret values wherever text leaves the process (logs, errors, reports, SSE).

Every secret the deployer learns (master password, derived passwords, Secret data) is registered
here once; `redact()` replaces each registered value, longest first, by a fixed marker. Matching
values rather than key names is what keeps a secret out of a command line, a stderr tail or an
exception message that nobody thought to mark as sensitive.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

MARKER = "<redacted>"
# Values shorter than this are not registered: redacting "1" or "true" would shred every log line.
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register(*values: str | None) -> None:
    """Remember secret values so that `redact` masks them from now on."""
    global _pattern
    added = False
    with _lock:
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH and value not in _secrets:
                _secrets.add(value)
                added = True
        if added:
            ordered = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def register_many(values: Iterable[str]) -> None:
    register(*values)


def registered() -> frozenset[str]:
    """The registered secret values (for the render's redact stage, which looks for them in
    rendered documents)."""
    with _lock:
        return frozenset(_secrets)


def redact(text: str) -> str:
    """Return `text` with every registered secret replaced by the marker."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MARKER, text)


def forget_all() -> None:
    """Drop every registered secret (tests only)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None
