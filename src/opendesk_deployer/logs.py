"""Structured logging: JSON lines on stderr (or a file), every rendered line redacted."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from opendesk_deployer import redaction


def _redact_event(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: redaction.redact(v) if isinstance(v, str) else v for k, v in event.items()}


def _redact_rendered(_logger: Any, _name: str, line: str) -> str:
    # Second pass on the rendered line catches secrets nested in lists or dicts.
    return redaction.redact(line)


def configure(level: str = "INFO", stream: TextIO | None = None, json: bool = True) -> None:
    """Configure structlog; `json=False` gives a console renderer for humans."""
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_event,
        renderer,
        _redact_rendered,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get(name: str) -> Any:
    return structlog.get_logger(name)
