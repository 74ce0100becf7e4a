"""Reading one catalog file's data with a line for every problem.

The catalog is hand-validated rather than run through pydantic: the messages name the
primitive ("unknown operation 'sett'; known: …"), and every problem carries the file and the
line of the field it is about (`config.source.read` keeps a line for every field path).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from opendesk_deployer.config import source
from opendesk_deployer.config.errors import Problem


class InvalidEntryError(Exception):
    """Raised to abandon the current entry after its problem was recorded."""


class Spec:
    """A node of a parsed catalog file: its value, where it is, and a shared problem list."""

    def __init__(
        self, located: source.Located, path: source.Path_, problems: list[Problem]
    ) -> None:
        self.located = located
        self.path = path
        self.problems = problems
        value: Any = located.data
        for part in path:
            value = value[part]
        self.value = value

    @property
    def file(self) -> Path:
        return self.located.file

    @property
    def line(self) -> int | None:
        return self.located.line_of(self.path)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else str(self.file)

    @property
    def field(self) -> str:
        return source.dotted(self.path)

    def child(self, key: str | int) -> Spec:
        return Spec(self.located, (*self.path, key), self.problems)

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value

    def problem(self, message: str, key: str | int | None = None) -> InvalidEntryError:
        """Record a problem at this node (or at its child `key`); return the error to raise."""
        path = self.path if key is None else (*self.path, key)
        self.problems.append(
            Problem(self.file, self.located.line_of(path), source.dotted(path), message)
        )
        return InvalidEntryError(message)

    # ---------------------------------------------------------------- shapes

    def mapping(self, allowed: Collection[str], required: Collection[str] = ()) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.problem(f"must be a mapping, not {_type(self.value)}")
        for key in self.value:
            if key not in allowed:
                raise self.problem(
                    f"unknown field {key!r}; expected one of: {', '.join(sorted(allowed))}", key
                )
        for key in sorted(required):
            if key not in self.value:
                raise self.problem(f"required field {key!r} is missing")
        return self.value

    def items(self) -> list[Spec]:
        """The children of a list, or the node itself when it is not a list (`x` ≡ `[x]`)."""
        if isinstance(self.value, list):
            if not self.value:
                raise self.problem("must not be empty")
            return [self.child(i) for i in range(len(self.value))]
        return [self]

    def string(self, *, empty: bool = False) -> str:
        if not isinstance(self.value, str):
            raise self.problem(f"must be a string, not {_type(self.value)}")
        if not empty and not self.value:
            raise self.problem("must not be empty")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.problem(f"must be true or false, not {_type(self.value)}")
        return self.value

    def integer(self, minimum: int | None = None) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.problem(f"must be an integer, not {_type(self.value)}")
        if minimum is not None and self.value < minimum:
            raise self.problem(f"must be at least {minimum}")
        return self.value

    def choice(self, options: tuple[str, ...]) -> str:
        value = self.string()
        if value not in options:
            raise self.problem(f"{value!r} is not one of: {', '.join(options)}")
        return value


def _type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )
