"""Load and validate instance and runtime-state files, with errors that name field, file, line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from opendesk_deployer.config import source
from opendesk_deployer.config.errors import ConfigError, Problem
from opendesk_deployer.config.model import Instance
from opendesk_deployer.config.runtime_state import RuntimeState

M = TypeVar("M", bound=BaseModel)


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _validate(model: type[M], located: source.Located) -> M:
    if not isinstance(located.data, dict):
        raise ConfigError(
            [Problem(located.file, located.line_of(()), "", "must be a mapping of fields")]
        )
    try:
        return model.model_validate(located.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            # pydantic puts the union member or validator name in loc for some errors; keep only
            # the parts that are real keys or indexes of the document.
            loc = tuple(
                p for p in err["loc"] if isinstance(p, int) or not str(p).startswith("function-")
            )
            problems.append(
                Problem(located.file, located.line_of(loc), source.dotted(loc), _message(err))
            )
        raise ConfigError(problems) from None


def load_runtime_state(file: Path) -> RuntimeState:
    return _validate(RuntimeState, source.read(file))


@dataclass(frozen=True)
class LoadedInstance:
    """A validated instance with the files it came from and its runtime state."""

    instance: Instance
    file: Path
    runtime_state: RuntimeState | None
    runtime_state_file: Path

    @property
    def base_dir(self) -> Path:
        return self.file.parent

    def resolve(self, relative: str) -> Path:
        """A path from the instance file, resolved relative to the file's folder."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()


def load_instance(file: Path, *, require_runtime_state: bool = True) -> LoadedInstance:
    """Validate `file` and (unless told otherwise) the runtime-state file it names.

    The runtime state is the input gate: a missing or invalid one is an error that names the
    instance file's `runtimeState` line as well as the runtime-state file's own problem.
    """
    file = file.resolve()
    located = source.read(file)
    instance = _validate(Instance, located)
    rs_file = (file.parent / instance.runtime_state).resolve()
    runtime_state: RuntimeState | None = None
    if require_runtime_state:
        line = located.line_of(("runtimeState",))
        if not rs_file.is_file():
            raise ConfigError(
                [
                    Problem(
                        file,
                        line,
                        "runtimeState",
                        f"runtime state file {rs_file} does not exist; the infrastructure must "
                        "write it before a render or deploy",
                    )
                ]
            )
        try:
            runtime_state = load_runtime_state(rs_file)
        except ConfigError as exc:
            raise ConfigError(
                [
                    Problem(file, line, "runtimeState", f"runtime state {rs_file} is invalid"),
                    *exc.problems,
                ]
            ) from None
    return LoadedInstance(instance, file, runtime_state, rs_file)
