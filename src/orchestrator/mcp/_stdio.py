"""The stdio transport, with the server inside the command sandbox.

The SDK's own `stdio_client` spawns a plain subprocess; this one starts the server with
`SandboxedProcess` and bridges its pipes to the SDK's message streams. It is strict:
anything on stdout that is not a JSON-RPC message, or a message over
`MAX_MESSAGE_BYTES`, cuts the connection (and kills the server) with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp.shared.message import SessionMessage
from mcp_types import jsonrpc_message_adapter

from orchestrator.core.config import Settings
from orchestrator.tools.sandbox import SandboxedProcess

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
_READ_CHUNK = 65536


@asynccontextmanager
async def sandboxed_stdio(
    settings: Settings,
    command: list[str],
    workspace: Path,
    *,
    env: dict[str, str],
    paths: list[Path],
    network: bool,
    on_failure: Callable[[str], None],
) -> AsyncIterator[tuple[Any, Any]]:
    """Start the server in the sandbox; yields the (read, write) streams of its messages."""
    process = await SandboxedProcess.start(
        settings, command, workspace, env=env, ro_paths=paths, network=network
    )
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def exited() -> str:
        with anyio.move_on_after(2):
            await process.wait()
        code = process.returncode
        tail = process.stderr_tail()[-500:]
        status = "exited" if code is None else f"exited with status {code}"
        return f"the server {status}" + (f"; its last words: {tail}" if tail else "")

    async def reader() -> None:
        buffer = bytearray()
        async with read_writer:
            while True:
                try:
                    chunk = await process.stdout.read(_READ_CHUNK)
                except (OSError, ValueError):
                    chunk = b""
                if not chunk:
                    on_failure(await exited())
                    return
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line = bytes(buffer[:end]).strip()
                    del buffer[: end + 1]
                    if len(line) > MAX_MESSAGE_BYTES:
                        on_failure(_too_big(len(line)))
                        return
                    if not line:
                        continue
                    try:
                        message = jsonrpc_message_adapter.validate_json(line, by_name=False)
                    except ValueError:
                        shown = line[:120].decode("utf-8", errors="replace")
                        on_failure(f"the server wrote something that is not MCP: {shown!r}")
                        return
                    try:
                        await read_writer.send(SessionMessage(message))
                    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                        return
                if len(buffer) > MAX_MESSAGE_BYTES:
                    on_failure(_too_big(len(buffer)))
                    return

    async def writer() -> None:
        try:
            async with write_reader:
                async for item in write_reader:
                    data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
                    process.stdin.write(data.encode("utf-8") + b"\n")
                    await process.stdin.drain()
        except (OSError, anyio.ClosedResourceError, anyio.BrokenResourceError):
            on_failure(await exited())
            await read_writer.aclose()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(reader)
            group.start_soon(writer)
            try:
                yield read_stream, write_stream
            finally:
                group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await process.stop()


def _too_big(size: int) -> str:
    limit = MAX_MESSAGE_BYTES // (1024 * 1024)
    return f"the server sent a message of over {limit} MB ({size} bytes so far); it was cut off"
