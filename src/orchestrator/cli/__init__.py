"""The `orchestrator` command (`_commands`, on typer). `serve` with only its own options
starts without typer and rich (`_serve`): they cost about 40 ms of every start."""

from __future__ import annotations

import sys
from typing import Any

from orchestrator.cli._serve import serve, serve_options


def main() -> None:
    """Run the command line: `serve` on its own path, everything else through typer."""
    options = serve_options(sys.argv[1:])
    if options is not None:
        serve(**options)
        return
    from orchestrator.cli._commands import app

    app()


def __getattr__(name: str) -> Any:
    """`app`, the typer application (for `typer.testing.CliRunner`), imported on use."""
    if name == "app":
        from orchestrator.cli._commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
