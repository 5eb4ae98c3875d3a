"""Tokens passed in URLs (`?token=`, as WebSocket clients do) never reach the logs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Api
from tests.support.server import free_port
from tests.support.ws import open_socket


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def logged_server(settings: Settings, recorder: Recorder) -> Iterator[str]:
    """A server with uvicorn's access log on (the tests' usual server keeps it off)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="info", access_log=True
    )
    server = uvicorn.Server(config)
    loggers = [logging.getLogger(name) for name in ("uvicorn.access", "uvicorn.error")]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.01)
    for logger in loggers:  # after uvicorn configured its logging
        logger.addHandler(recorder)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for logger in loggers:
            logger.removeHandler(recorder)
        server.should_exit = True
        thread.join(timeout=15)


def test_token_in_query_string_is_masked_in_access_and_websocket_logs(
    settings: Settings,
) -> None:
    recorder = Recorder()
    with logged_server(settings, recorder) as url:
        api = Api(url)
        user = api.register()
        httpx.get(f"{url}/api/v1/auth/me", params={"token": user.token, "x": "1"})
        with open_socket(url, "/chat/ws", user.token) as ws:
            ws.send('{"type": "cancel", "run_id": "nope"}')
            ws.recv(timeout=10)
        api.client.close()
        time.sleep(0.2)
    text = "\n".join(recorder.lines)
    assert "/api/v1/auth/me?token=***&x=1" in text, text
    assert "/api/v1/chat/ws?token=***" in text, text
    assert user.token not in text and user.token[-20:] not in text
