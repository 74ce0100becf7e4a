"""Terminal output for the CLI: rich on a terminal, plain unwrapped lines when piped."""

from __future__ import annotations

import sys

from rich.console import Console

from opendesk_deployer import redaction


def _console(stream: object) -> Console:
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    # When piped, a fixed huge width keeps rich from wrapping paths and long lines.
    return Console(
        file=stream,  # type: ignore[arg-type]
        soft_wrap=True,
        highlight=False,
        width=None if is_tty else 100_000,
        color_system="auto" if is_tty else None,
    )


out = _console(sys.stdout)
err = _console(sys.stderr)


def say(text: str) -> None:
    out.print(redaction.redact(text), soft_wrap=True, markup=False)


def warn(text: str) -> None:
    err.print(redaction.redact(text), soft_wrap=True, markup=False)
