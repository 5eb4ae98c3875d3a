"""A small synchronous WebSocket client for tests (the `websockets` library)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter
from websockets.sync.client import ClientConnection, connect

from orchestrator.schemas.runs import ServerMessage

_server_messages: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


def typed(frame: str | bytes) -> dict[str, Any]:
    """A server frame, checked against the protocol's types: it parses as one of the
    `ServerMessage` models, and that model gives back the very same JSON."""
    event: dict[str, Any] = json.loads(frame)
    message = _server_messages.validate_python(event)
    assert _server_messages.dump_python(message, mode="json") == event
    return event


def open_socket(
    base_url: str, path: str, token: str | None = None, **query: object
) -> ClientConnection:
    params = {**({"token": token} if token else {}), **query}
    qs = "&".join(f"{k}={v}" for k, v in params.items())
    url = base_url.replace("http://", "ws://") + "/api/v1" + path + (f"?{qs}" if qs else "")
    return connect(url, open_timeout=10, close_timeout=5)


def receive_until(ws: ClientConnection, kind: str, timeout: float = 20) -> list[dict[str, Any]]:
    """Events up to and including the first of type `kind`."""
    events: list[dict[str, Any]] = []
    while True:
        event = typed(ws.recv(timeout=timeout))
        events.append(event)
        if event["type"] == kind:
            return events
