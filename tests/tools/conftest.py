"""Fixtures for the tool tests: a workspace, a secret outside it, real loopback servers.

Everything is real: the file tools act on a real directory tree, commands run under
the real bubblewrap, HTTP goes to real servers on 127.0.0.1. A sandbox test needs
bubblewrap: skipped with a reason on a machine without it, a failure in CI.
"""

from __future__ import annotations

import http.server
import os
import ssl
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.config import Settings
from orchestrator.tools.base import ToolContext
from orchestrator.tools.builtin import register
from orchestrator.tools.registry import ToolRegistry
from orchestrator.tools.sandbox import sandbox_status
from orchestrator.tools.workspace import Workspace
from tests.conftest import require_service

ToolCall = Callable[..., Awaitable[str]]


@dataclass(frozen=True)
class Secret:
    """A file outside every workspace whose text must never show up in a tool's output."""

    path: Path
    text: str


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh DATA_DIR (no database needed here), with its secret key file."""
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", command_timeout=10)
    settings.signing_key()  # writes DATA_DIR/secret_key, which commands must not read
    return settings


@pytest.fixture
def workspace(settings: Settings) -> Workspace:
    return Workspace.for_user(settings, 1)


@pytest.fixture
def secret(tmp_path: Path) -> Secret:
    """On the same file system as the workspace, so that a hard link to it is possible."""
    outside = tmp_path / "outside"
    outside.mkdir()
    text = f"TOP-SECRET-{uuid.uuid4().hex}"
    path = outside / "secret.txt"
    path.write_text(text)
    return Secret(path, text)


@pytest.fixture
def registry() -> ToolRegistry:
    registry = ToolRegistry()
    register(registry)
    return registry


@pytest.fixture
def ctx(settings: Settings, workspace: Workspace) -> ToolContext:
    return ToolContext(user_id=1, workspace=workspace.root, settings=settings)


@pytest.fixture
def call(registry: ToolRegistry, ctx: ToolContext) -> ToolCall:
    """`await call("read_file", path="x")`: a tool call as the engine makes it."""

    async def run(name: str, **arguments: Any) -> str:
        return await registry.get(name)(ctx, arguments)

    return run


@pytest.fixture
def sandboxed(settings: Settings) -> None:
    """Require a working bubblewrap sandbox."""
    status = sandbox_status(settings)
    require_service(f"the bubblewrap sandbox ({status.detail})", status.level == "bwrap")


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker` (sandboxed ones are visible here)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                if marker.encode() in file.read():
                    found.append(int(entry))
        except OSError:
            continue  # exited meanwhile
    return found


@dataclass
class LoopbackServer:
    """A real HTTP server on 127.0.0.1 that records every request it gets."""

    body: str
    redirect_to: str | None = None
    payload: bytes | None = None  # a fixed raw body instead of the echo
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    port: int = 0
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


def _handler(server: LoopbackServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = self.rfile.read(length).decode() if length else ""
            server.requests.append((self.command, self.path, dict(self.headers)))
            if server.redirect_to and self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", server.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = server.payload or f"{server.body} {self.command} {self.path} {payload}".encode()
            self.send_response(200)
            headers = {"Content-Type": "text/plain; charset=utf-8", "X-Internal": "not shown"}
            for name, value in {**headers, **server.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[..., LoopbackServer]]:
    """Start loopback servers: `serve("body", redirect_to=...)`; stopped after the test."""
    started: list[http.server.ThreadingHTTPServer] = []

    def start(
        body: str,
        redirect_to: str | None = None,
        tls: ssl.SSLContext | None = None,
        **options: Any,
    ) -> LoopbackServer:
        server = LoopbackServer(body=body, redirect_to=redirect_to, **options)
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
        if tls is not None:
            httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
            server.scheme = "https"
        server.port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
        started.append(httpd)
        return server

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def secret_server(serve: Callable[..., LoopbackServer]) -> LoopbackServer:
    """An internal service that nothing from a tool may reach."""
    return serve(f"INTERNAL-SECRET-{uuid.uuid4().hex}")
