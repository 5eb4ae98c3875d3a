"""A server whose scheduler polls fast, on a scripted model, that tests can stop and
start again on the same DATA_DIR (a restart after downtime)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

import pytest
import sqlalchemy as sa

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.db.models import Schedule
from tests.conftest import Api, scripted_gateway
from tests.support.scripted_model import Reply, ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools

POLL_SECONDS = 0.05

Server = Callable[[], AbstractContextManager[Api]]


@pytest.fixture
def fast_settings(settings: Settings, model: ScriptedModelServer) -> Settings:
    model.default = lambda _body: Reply(text="scheduled work done")
    return settings.model_copy(
        update={
            "ollama_url": model.url,
            "schedule_poll_seconds": POLL_SECONDS,
            "approval_risks": [],  # only taint asks for approval
            "approval_timeout": 20.0,
        }
    )


@pytest.fixture
def server(fast_settings: Settings, model: ScriptedModelServer) -> Server:
    """`with server() as api:` one life of the server on the test's DATA_DIR."""

    @contextmanager
    def serve() -> Iterator[Api]:
        app = create_app(
            fast_settings, models=scripted_gateway(fast_settings, model), tools=sample_tools()
        )
        with serve_in_thread(app) as url:
            api = Api(url)
            yield api
            api.client.close()

    return serve


def set_next_run(settings: Settings, schedule_id: str, when: datetime) -> None:
    """Move a schedule's due time in the database, as if time had passed."""
    engine = sa.create_engine(f"sqlite:///{settings.data_dir / 'orchestrator.db'}")
    with engine.begin() as db:
        db.execute(sa.update(Schedule).where(Schedule.id == schedule_id).values(next_run_at=when))
    engine.dispose()


def wait_until(check: Callable[[], object], seconds: float = 20) -> object:
    deadline = time.monotonic() + seconds
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return result
