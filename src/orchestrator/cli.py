"""The `orchestrator` command."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer
from rich.console import Console

from orchestrator.core.config import Settings
from orchestrator.core.errors import OrchestratorError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="AI Orchestrator")
user_app = typer.Typer(no_args_is_help=True, help="Manage accounts.")
app.add_typer(user_app, name="user")
console = Console()


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        console.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT)")] = None,
) -> None:
    """Apply migrations, then serve the API and the web app."""
    import uvicorn

    from orchestrator.app import create_app
    from orchestrator.db.migrate import upgrade

    settings = _settings()
    upgrade(settings)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    console.print(
        f"AI Orchestrator on http://{host or settings.host}:{port or settings.port} "
        f"(data in {settings.data_dir})"
    )
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        proxy_headers=False,
    )


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Runs executed at once (default WORKER_CONCURRENCY)")
    ] = None,
) -> None:
    """Execute runs from the Redis queue (needs REDIS_URL) until SIGTERM."""
    from orchestrator.db.migrate import upgrade
    from orchestrator.runtime import Runtime
    from orchestrator.scale.worker import RunWorker

    settings = _settings()
    if not settings.redis_url:
        console.print("[red]REDIS_URL is not set:[/red] workers take runs from the Redis queue")
        raise typer.Exit(2)
    upgrade(settings)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    slots = concurrency or settings.worker_concurrency
    console.print(f"AI Orchestrator worker: up to {slots} runs at once from the Redis queue")

    async def work() -> None:
        await RunWorker(Runtime.create(settings), concurrency=slots).run()

    asyncio.run(work())


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from orchestrator.db.migrate import upgrade

    settings = _settings()
    upgrade(settings)
    console.print(f"database up to date ({settings.resolved_database_url.split('://')[0]})")


@user_app.command("create")
def user_create(
    username: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the account an admin")] = False,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Create an active account (reads the password from the prompt or --password)."""
    from pydantic import TypeAdapter, ValidationError

    from orchestrator.db.migrate import upgrade
    from orchestrator.runtime import Runtime
    from orchestrator.schemas.users import Password, Username
    from orchestrator.services.accounts import create_user

    try:
        TypeAdapter(Username).validate_python(username)
        TypeAdapter(Password).validate_python(password)
    except ValidationError as exc:
        console.print(
            f"[red]{exc.errors()[0]['msg']}[/red] (username 3-64 of letters, digits, "
            "'.', '_', '-'; password 8-256 characters)"
        )
        raise typer.Exit(2) from None
    settings = _settings()
    upgrade(settings)

    async def create() -> None:
        runtime = Runtime.create(settings)
        try:
            async with runtime.sessions() as db:
                user = await create_user(db, username, password, admin=admin)
                console.print(f"created {user.role} {user.username!r} (id {user.id})")
        finally:
            await runtime.close()

    try:
        asyncio.run(create())
    except OrchestratorError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None


@app.command("run")
def run_task(
    task: str,
    agent: Annotated[str, typer.Option(help="Agent to use")] = "assistant",
    model: Annotated[str | None, typer.Option(help="Model (default: DEFAULT_MODEL)")] = None,
    user: Annotated[
        str | None, typer.Option(help="Run as this user (default: first admin)")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Approve every risky tool call")] = False,
) -> None:
    """Run a task in the terminal, streaming thoughts, tool calls and the answer."""
    from orchestrator.db.migrate import upgrade
    from orchestrator.terminal import run_in_terminal

    settings = _settings()
    upgrade(settings)
    code = asyncio.run(
        run_in_terminal(
            settings, task, agent=agent, model=model, username=user, yes=yes, console=console
        )
    )
    raise typer.Exit(code)


@app.command()
def doctor() -> None:
    """Check the database, model servers, Redis and the sandbox; say what is missing."""
    from orchestrator.diagnostics import run_checks

    settings = _settings()
    checks = asyncio.run(run_checks(settings))
    failed_required = False
    for check in checks:
        mark = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]"}.get(
            check.status, "[red]FAIL[/red]"
        )
        console.print(f"{mark}  [bold]{check.name}[/bold]: {check.detail}", soft_wrap=True)
        failed_required |= check.status == "fail" and check.required
    raise typer.Exit(1 if failed_required else 0)


def main() -> None:
    app()
