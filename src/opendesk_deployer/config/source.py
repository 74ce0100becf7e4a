"""Read a YAML (or JSON) file into plain data plus the line of every field.

PyYAML's composer keeps node marks; we walk the node tree once to build a map from field path
(tuple of keys and indexes) to 1-based line, which the loader uses to put a line on every
validation error. Duplicate keys, which PyYAML silently lets the last one win, are an error here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from opendesk_deployer.config.errors import ConfigError, Problem

Path_ = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    pass


def _construct(node: yaml.Node, loader: _Loader) -> Any:
    return loader.construct_object(node, deep=True)


def _walk(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], file: Path, problems: list[Problem]
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(
                    Problem(
                        file, key_node.start_mark.line + 1, _dotted((*path, key)), "duplicate key"
                    )
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, file, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, file, problems)


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted = _dotted


class Located:
    """Parsed data of one file with the line of each field path."""

    def __init__(self, file: Path, data: Any, lines: dict[Path_, int]) -> None:
        self.file = file
        self.data = data
        self.lines = lines

    def line_of(self, path: Path_) -> int | None:
        """Line of `path`, or of its nearest ancestor that exists (for missing fields)."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def read(file: Path) -> Located:
    """Parse `file`; raise ConfigError (file and line) when it is unreadable or not valid YAML."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(file, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(file, None, "", f"cannot read: {exc}")]) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError([Problem(file, 1, "", "file is empty")])
        problems: list[Problem] = []
        lines: dict[Path_, int] = {}
        _walk(node, (), lines, file, problems)
        if problems:
            raise ConfigError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        msg = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise ConfigError([Problem(file, line, "", f"invalid YAML: {msg}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, None, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return Located(file, data, lines)
