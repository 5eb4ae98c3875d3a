"""What a proxied MCP tool call adds over calling the same server directly with the SDK.

Direct: the SDK's own client (`stdio_client` / `streamable_http_client` + ClientSession)
calling the server. Proxied: the same server as a registry tool (`McpTool`: argument
validation against the server's schema, the user's plan read from the database, the
pooled connection - stdio inside the bubblewrap sandbox, HTTP through the SSRF guard -
and the result rendered as text). Servers: PyPI's `mcp-server-time` over stdio, npm's
`server-everything` over streamable HTTP (when tests/mcp_client/servers is installed).

    python -m bench.mcp_overhead [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from orchestrator.core.config import Settings
from orchestrator.db.migrate import upgrade
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.mcp import McpClient, McpServerIn
from orchestrator.tools.base import ToolContext

ROOT = Path(__file__).resolve().parents[1]
EVERYTHING = ROOT / "tests/mcp_client/servers/node_modules/@modelcontextprotocol/server-everything"
VENV = Path(sys.prefix)
PATHS = sorted({str(VENV), str(Path(sys.base_prefix))})
TIME_ARGS = {"timezone": "UTC"}


async def timed(call: Callable[[], Awaitable[Any]], calls: int) -> list[float]:
    for _ in range(10):
        await call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def report(label: str, direct: list[float], proxied: list[float]) -> None:
    d, p = statistics.median(direct), statistics.median(proxied)
    mean = statistics.fmean(proxied) - statistics.fmean(direct)
    print(
        f"{label:<26} direct p50 {d:7.2f} ms   proxied p50 {p:7.2f} ms   "
        f"overhead {p - d:+6.2f} ms/call (mean {mean:+.2f})"
    )


async def direct_stdio(calls: int) -> list[float]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=str(VENV / "bin" / "mcp-server-time"))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return await timed(lambda: session.call_tool("get_current_time", TIME_ARGS), calls)


async def direct_http(url: str, calls: int) -> list[float]:
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        return await timed(lambda: s.call_tool("echo", {"message": "hi"}), calls)


async def proxied(
    settings: Settings, body: McpServerIn, tool: str, args: dict[str, Any], calls: int
) -> list[float]:
    engine = create_engine(settings)
    client = McpClient(settings, create_session_factory(engine))
    workspace = settings.data_dir / "workspace"
    workspace.mkdir(exist_ok=True)
    try:
        server = await client.create(body)
        await client.refresh(server.id, 1, workspace)
        found = {t.name: t for t in await client.tools()}[f"{body.name}__{tool}"]
        ctx = ToolContext(user_id=1, workspace=workspace, settings=settings)
        return await timed(lambda: found(ctx, args), calls)
    finally:
        await client.close()
        await engine.dispose()


def start_everything() -> tuple[subprocess.Popen[bytes], str] | None:
    if not (EVERYTHING / "dist/index.js").exists():
        return None
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        ["node", str(EVERYTHING / "dist/index.js"), "streamableHttp"],
        env={"PATH": os.environ.get("PATH", "/usr/bin"), "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process, f"http://127.0.0.1:{port}/mcp"
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    return None


async def measure(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp), http_allowlist=["127.0.0.1"])  # type: ignore[call-arg]
        await asyncio.to_thread(upgrade, settings)
        stdio = McpServerIn(
            name="time",
            transport="stdio",
            command=[str(VENV / "bin" / "mcp-server-time")],
            paths=PATHS,
            risk="read",
        )
        report(
            "stdio (time server)",
            await direct_stdio(calls),
            await proxied(settings, stdio, "get_current_time", TIME_ARGS, calls),
        )
        started = await asyncio.to_thread(start_everything)
        if started is None:
            print(
                "http: server-everything is not installed (cd tests/mcp_client/servers && npm ci)"
            )
            return
        process, url = started
        try:
            http = McpServerIn(name="everything", transport="http", url=url, risk="read")
            report(
                "http (server-everything)",
                await direct_http(url, calls),
                await proxied(settings, http, "echo", {"message": "hi"}, calls),
            )
        finally:
            process.kill()
            process.wait()


def main() -> None:
    """Print the per-call overhead of the proxy, stdio and HTTP."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(measure(args.calls))


if __name__ == "__main__":
    main()
