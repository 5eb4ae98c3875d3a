"""SQL over the workspace's data files with DuckDB, locked to the workspace.

Each call gets a fresh in-memory DuckDB whose file access is limited to the workspace
(`allowed_directories`, `enable_external_access=false`; DuckDB resolves links before
that check), with extension installs and auto-loading off and the configuration locked,
one thread and a memory cap. Only one SELECT (WITH, DESCRIBE, SUMMARIZE) statement is
run: COPY, ATTACH, INSTALL, LOAD, SET, PRAGMA and every write are refused before DuckDB
sees them. File names in string literals ('data/sales.csv') are relative to the
workspace; they are turned into absolute paths after checking they stay inside it.
"""

from __future__ import annotations

import asyncio
import re
import threading
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from orchestrator.core.errors import ToolArgumentError, ToolError
from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.workspace import split_relative

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb

MAX_ROWS = 200
MAX_CELL_CHARS = 500
QUERY_SECONDS = 20.0
MEMORY_LIMIT = "512MB"
_DATA_FILE = re.compile(r"\.(csv|tsv|txt|json|jsonl|ndjson|parquet)(\.(gz|zst))?$", re.IGNORECASE)


def _connect(root: Path) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "threads": 1,
            "memory_limit": MEMORY_LIMIT,
        },
    )
    directory = str(root.resolve()).replace("'", "''") + "/"
    con.execute(f"SET allowed_directories = ['{directory}']")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _literal_value(raw: str) -> str | None:
    raw = raw.strip()
    if len(raw) < 2 or raw[0] != "'" or raw[-1] != "'":
        return None
    return raw[1:-1].replace("''", "'")


def _rewrite_paths(sql: str, root: Path) -> str:
    """Workspace-relative data file names in string literals become absolute paths."""
    import duckdb

    tokens = duckdb.tokenize(sql)
    out: list[str] = []
    last = 0
    for index, (start, kind) in enumerate(tokens):
        if kind != duckdb.token_type.string_const:
            continue
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(sql)
        value = _literal_value(sql[start:end])
        if value is None or not _DATA_FILE.search(value):
            continue
        if value.startswith("/"):
            raise ToolArgumentError(
                f"{value!r} is an absolute path; name workspace files relative to it, "
                "e.g. 'data/sales.csv'"
            )
        parts = split_relative(value)  # refuses '..'
        absolute = str(root.resolve().joinpath(*parts)).replace("'", "''")
        stripped = sql[start:end].rstrip()
        out.append(sql[last:start])
        out.append(f"'{absolute}'")
        last = start + len(stripped)
    out.append(sql[last:])
    return "".join(out)


def _check_statement(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise ToolArgumentError(f"the SQL does not parse: {exc}") from None
    if len(statements) != 1:
        raise ToolArgumentError("give exactly one SQL statement")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise ToolArgumentError(
            f"only read-only SELECT queries are allowed (this is {statements[0].type.name}); "
            "COPY, ATTACH, INSTALL, LOAD, SET, PRAGMA and writes are refused"
        )


def _run(root: Path, sql: str, max_rows: int, seconds: float) -> dict[str, Any]:
    import duckdb

    con = _connect(root)
    timer = threading.Timer(seconds, con.interrupt)
    try:
        _check_statement(con, sql)
        query = _rewrite_paths(sql, root)
        timer.start()
        try:
            result = con.execute(query)
            columns = [d[0] for d in result.description or []]
            rows = result.fetchmany(max_rows + 1)
        except duckdb.InterruptException:
            raise ToolError(
                f"the query ran over {seconds:g} s and was stopped; filter or aggregate more"
            ) from None
        except duckdb.Error as exc:
            message = str(exc).replace(str(root.resolve()) + "/", "")
            raise ToolArgumentError(f"the query failed: {message}") from None
    finally:
        timer.cancel()
        con.close()
    truncated = len(rows) > max_rows

    def cell(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        text = str(value)
        return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS] + "..."

    return {
        "columns": columns,
        "rows": [[cell(v) for v in row] for row in rows[:max_rows]],
        "row_count": min(len(rows), max_rows),
        "truncated": truncated,
    }


@tool(category="data", risk=Risk.READ)
async def query_data(
    ctx: ToolContext,
    sql: Annotated[
        str,
        Field(
            min_length=1,
            max_length=20_000,
            description="One read-only SQL SELECT; name files by relative path, e.g. "
            "SELECT * FROM 'data/sales.csv' LIMIT 10",
        ),
    ],
    max_rows: Annotated[int, Field(ge=1, le=1000, description="At most this many rows")] = 100,
) -> dict[str, Any]:
    """Run read-only SQL (DuckDB) over the workspace's CSV, JSON and Parquet files."""
    seconds = min(ctx.settings.command_timeout, QUERY_SECONDS)
    return await asyncio.to_thread(_run, ctx.workspace, sql, max_rows, seconds)


DATA_TOOLS = (query_data,)
