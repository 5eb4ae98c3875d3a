"""`orchestrator serve`, without the command-line library: the start of a server is what
users wait for, and typer and rich cost about 40 ms of it (`orchestrator.cli.main`)."""

from __future__ import annotations

import gc
from typing import Any

from orchestrator.core.config import Settings
from orchestrator.observability import configure_logging

WORKER_HEALTHCHECK_SECONDS = 30  # `serve --workers`: see `serve`


class ServeError(Exception):
    """`serve` cannot start; the message says why (the command exits with 2)."""


def settings_or_exit() -> Settings:
    """The settings from the environment, or a message (on stdout, as every command's) and
    exit code 2."""
    try:
        return Settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        print(f"invalid settings: {exc}")
        raise SystemExit(2) from None


def build_app(settings: Settings) -> Any:
    """The app, imported and built with the cyclic garbage collector paused. The import
    makes about a million objects that live as long as the process, and some 365
    collections walked them again and again on the way: 0.2 s of CPU, a tenth of the
    start. They are then frozen (`gc.freeze`), so that later collections skip them too."""
    gc.disable()
    try:
        from orchestrator.app import create_app

        return create_app(settings)
    finally:
        gc.freeze()
        gc.enable()


def serve(host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    """Apply migrations, then serve the API and the web app."""
    import uvicorn

    from orchestrator.db.migrate import upgrade

    settings = settings_or_exit()
    if workers > 1 and not settings.redis_url:
        # Without Redis, run events, cancels and approvals travel inside one process, and
        # rate limits and login throttling count there: a socket on another process would
        # see a run's events only when it ends, and limits would multiply by N.
        print(
            "--workers above 1 needs REDIS_URL: API processes share run events, "
            "cancels, approvals and rate limits through Redis, and runs execute in "
            "`orchestrator worker`s. Without Redis, serve with one process."
        )
        raise SystemExit(2)
    configure_logging(settings.log_format)
    upgrade(settings)
    settings.signing_key()  # made once here, not raced for by the processes
    bind_host, bind_port = host or settings.host, port or settings.port
    print(
        f"AI Orchestrator on http://{bind_host}:{bind_port} (data in {settings.data_dir})"
        + (f", {workers} processes; runs execute in `orchestrator worker`s" if workers > 1 else ""),
        flush=True,
    )
    options: dict[str, Any] = {
        "host": bind_host,
        "port": bind_port,
        "log_level": "info",
        "log_config": None,  # uvicorn's lines go through our handler: LOG_FORMAT, masking
        "access_log": False,  # ours names the request id (`orchestrator.access`)
        "proxy_headers": False,
    }
    if workers == 1:
        uvicorn.run(build_app(settings), **options)
        return
    # uvicorn binds the port once and starts the processes on it (restarting any that dies);
    # each builds its app from the same environment. uvicorn kills a process that does not
    # answer its ping within the health-check timeout, and the answering thread starts only
    # after the imports: at its default 5 s a busy machine killed each process mid-start,
    # again and again (seen at load average 16). A hung process is still replaced.
    uvicorn.run(
        "orchestrator.app:create_app_from_environment",
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        **options,
    )


_OPTIONS = {"--host": str, "--port": int, "--workers": int}
MAX_WORKERS = 64


def serve_options(args: list[str]) -> dict[str, Any] | None:
    """The options of `serve` when `args` is `serve` with only its own options, each well
    formed (`--port 8001`, `--port=8001`); None for anything else (`--help`, a typo, a
    bad number), which typer then answers with its usage and messages."""
    if not args or args[0] != "serve":
        return None
    options: dict[str, Any] = {}
    rest = args[1:]
    while rest:
        name, sep, value = rest[0].partition("=")
        if name not in _OPTIONS or name[2:] in options:
            return None
        if not sep:
            if len(rest) < 2:
                return None
            value, rest = rest[1], rest[2:]
        else:
            rest = rest[1:]
        try:
            options[name[2:]] = _OPTIONS[name](value)
        except ValueError:
            return None
    if not 1 <= options.get("workers", 1) <= MAX_WORKERS:
        return None
    return options
