"""The `orchestrator` command's subcommands, on typer (`serve` lives in `_serve`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from orchestrator.cli import _serve
from orchestrator.cli._serve import MAX_WORKERS
from orchestrator.core.config import Settings
from orchestrator.core.errors import OrchestratorError
from orchestrator.observability import configure_logging

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
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_WORKERS,
            help="API processes sharing the port; above 1 needs REDIS_URL (runs then "
            "execute in `orchestrator worker`s)",
        ),
    ] = 1,
) -> None:
    """Apply migrations, then serve the API and the web app."""
    # `orchestrator serve` with well-formed options does not come here (`cli.main`).
    _serve.serve(host, port, workers)


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
    configure_logging(settings.log_format)
    upgrade(settings)
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


@app.command("eval")
def evaluate(
    model: Annotated[
        str, typer.Option(help="The model to evaluate (NAME, or NAME@CONNECTION as listed)")
    ],
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write the report to this JSON file")
    ] = None,
    retrieval: Annotated[
        bool, typer.Option(help="Offer the nearest tools only (TOOL_RETRIEVAL_*)")
    ] = True,
    repair: Annotated[bool, typer.Option(help="Mend near-miss tool names and arguments")] = True,
    task: Annotated[
        list[str] | None,
        typer.Option(help="Run only this task (repeatable; such partial runs are not stored)"),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="Account the model calls to this user (default: the first admin)"),
    ] = None,
) -> None:
    """Run the evaluation suite on a model of the configured connections, print its scores
    and store them (shown on the Models page, as runs started there are). Its model calls
    count in the usage and token quota of `--user`."""
    from orchestrator.db.migrate import upgrade
    from orchestrator.evals import TASKS
    from orchestrator.evals._console import run_with_progress
    from orchestrator.evals.service import LocalEvaluation

    settings = _settings()
    tasks = tuple(t for t in TASKS if not task or t.id in task)
    if not tasks:
        console.print(f"[red]no such task:[/red] {', '.join(task or [])}")
        raise typer.Exit(2)
    upgrade(settings)
    whole = len(tasks) == len(TASKS)

    async def evaluate_model() -> str:
        local = LocalEvaluation(settings, retrieval=retrieval, repair=repair)
        try:
            await local.check_model(model)
            if not await local.account_to(user) and settings.usage_accounting:
                console.print("[dim]no account yet: the model calls are not accounted[/dim]")
            row = await local.begin(model) if whole else None
            try:
                report = await run_with_progress(local.runner, model, console, tasks)
            except BaseException as exc:  # the stored row must not stay "running"
                if row is not None:
                    await local.finish(row, None, f"{type(exc).__name__}: {exc}"[:2000])
                raise
            if row is not None:
                await local.finish(row, report, None)
                console.print(f"stored as evaluation {row.id} (suite {row.suite_version})")
            else:
                console.print("a partial run (--task): not stored")
        finally:
            await local.aclose()
        return report.model_dump_json(indent=2)

    try:
        text = asyncio.run(evaluate_model())
    except OrchestratorError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None
    if json_file is not None:
        json_file.write_text(text)
        console.print(f"report written to {json_file}")


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


def _progress() -> Any:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


PG_DUMP_HINT = (
    "The database is PostgreSQL: it is not in this archive. Save it with\n"
    '  pg_dump --format=custom --file=orchestrator.pgdump "postgresql://USER@HOST/DB"\n'
    "and restore it into an empty database with\n"
    '  pg_restore --no-owner --dbname="postgresql://USER@HOST/DB" orchestrator.pgdump\n'
    "(see README, 'Backup and restore')."
)


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="The archive to write (.tar.gz)")],
) -> None:
    """Save DATA_DIR (the SQLite database, consistently even while runs execute; the
    workspaces, memory and knowledge files; the secret key) into one archive."""
    from orchestrator.backup import BackupError, database_kind, plan_backup, write_backup

    settings = _settings()
    try:
        plan = plan_backup(settings, file)
        with _progress() as bar:
            task = bar.add_task("backing up", total=plan.total or 1)
            manifest = write_backup(settings, file, plan, progress=lambda n: bar.advance(task, n))
            bar.update(task, completed=plan.total or 1)
    except BackupError as exc:
        console.print(f"[red]backup failed:[/red] {exc.message}")
        raise typer.Exit(1) from None
    size = sum(entry.size for entry in manifest.files)
    console.print(f"saved {len(manifest.files)} files ({size:,} bytes) to {file}")
    if plan.skipped:
        console.print(f"[yellow]left out {len(plan.skipped)} links or special files[/yellow]")
    if database_kind(settings) != "sqlite":
        console.print(f"[yellow]{PG_DUMP_HINT}[/yellow]")
    if settings.secret_key and not (settings.data_dir / "secret_key").exists():
        console.print(
            "[yellow]SECRET_KEY comes from the environment: keep it; sealed secrets "
            "(MCP credentials, webhook secrets) open only with the same key[/yellow]"
        )


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="An archive made by `orchestrator backup`")],
) -> None:
    """Restore an archive into DATA_DIR, which must be empty or missing. All or nothing:
    it is unpacked and checked beside DATA_DIR, then moved into place."""
    from orchestrator.backup import BackupError, restore_backup

    settings = _settings()
    try:
        with _progress() as bar:
            total = file.stat().st_size if file.is_file() else 1
            task = bar.add_task("restoring", total=total)
            header = restore_backup(settings, file, progress=lambda n: bar.advance(task, n))
    except BackupError as exc:
        console.print(f"[red]restore failed:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print(
        f"restored the backup of {header.created_at:%Y-%m-%d %H:%M} UTC into {settings.data_dir}"
    )
    if header.database != "sqlite":
        console.print(f"[yellow]{PG_DUMP_HINT}[/yellow]")
    console.print("start it with `orchestrator serve` (migrations run at start-up)")
