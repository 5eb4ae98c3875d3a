"""Shared helpers for the conversation tests: chat turns and row counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from orchestrator.core.config import Settings
from tests.conftest import Account, Api
from tests.support.scripted_model import ScriptedModelServer


def say(
    api: Api, user: Account, server: ScriptedModelServer, message: str, answer: str, **extra: Any
) -> dict[str, Any]:
    """One chat turn over HTTP with the scripted answer; the response body (`extra`: more
    fields of the chat request)."""
    server.enqueue(text=answer)
    response = api.client.post("/chat", json={"message": message, **extra}, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


def branch(api: Api, user: Account, conversation_id: str) -> list[dict[str, Any]]:
    """The active branch."""
    response = api.client.get(f"/conversations/{conversation_id}/messages", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def sent_history(model: ScriptedModelServer) -> list[tuple[str, str]]:
    """What the model was sent last, system prompt aside."""
    return [(m["role"], m["content"]) for m in model.chat_requests[-1].messages][1:]


def count(settings: Settings, sql: str, *params: object) -> int:
    """A count from the test server's SQLite database."""
    with sqlite3.connect(Path(settings.data_dir) / "orchestrator.db") as db:
        return int(db.execute(sql, params).fetchone()[0])
