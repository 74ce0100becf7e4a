"""Configuration errors that name the field path, the file and the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One finding: `field` is a dotted path such as `git.branch` or `apps[2]`."""

    file: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        return f"{where}: {self.field or '<document>'}: {self.message}"


@dataclass
class ConfigError(Exception):
    """One or more problems in a configuration file; str() is one line per problem."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
