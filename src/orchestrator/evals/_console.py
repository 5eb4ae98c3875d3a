"""`orchestrator eval`: the suite in the terminal, with a progress bar and a table."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestrator.evals._runner import EvalReport, EvalRunner, TaskResult
from orchestrator.evals._suite import TASKS, EvalTask


async def run_with_progress(
    runner: EvalRunner, model: str, console: Console, tasks: tuple[EvalTask, ...] = TASKS
) -> EvalReport:
    """Run the suite, a bar advancing per task; then print the per-task and total tables."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        transient=True,
    ) as progress:
        bar = progress.add_task(f"eval {model}", total=len(tasks), last="")

        def advance(result: TaskResult) -> None:
            mark = "[green]ok[/]" if result.success else "[red]fail[/]"
            progress.update(bar, advance=1, last=f"{result.id} {mark}")

        report = await runner.run(model, tasks, on_task=advance)
    console.print(task_table(report))
    console.print(summary_table(report))
    return report


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("[green]yes[/]" if value else "[red]no[/]")


def task_table(report: EvalReport) -> Table:
    table = Table(title=f"{report.model}: tasks (suite {report.suite_version})")
    for column in ("task", "category", "calls", "right tool", "right args", "success", "s"):
        table.add_column(column, justify="right" if column in {"calls", "s"} else "left")
    for r in report.results:
        table.add_row(
            r.id,
            r.category,
            str(r.attempted),
            _yes(r.right_tool),
            _yes(r.right_args),
            _yes(r.success) + (f" [dim]{r.error[:40]}[/]" if r.error else ""),
            f"{r.seconds:.1f}",
        )
    return table


def summary_table(report: EvalReport) -> Table:
    options = [n for n, on in (("retrieval", report.retrieval), ("repair", report.repair)) if on]
    table = Table(title=f"{report.model} ({', '.join(options) or 'no retrieval, no repair'})")
    for column in (
        "tasks",
        "valid calls",
        "right tool",
        "right args",
        "task success",
        "tokens",
        "seconds",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        str(report.tasks),
        f"{report.valid_calls:.0%}",
        f"{report.right_tool:.0%}",
        f"{report.right_args:.0%}",
        f"{report.task_success:.0%}",
        str(report.tokens),
        f"{report.seconds:.1f}",
    )
    return table
