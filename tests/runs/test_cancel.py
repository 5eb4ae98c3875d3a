"""Durable cancels in one process: a queued run that nobody executes ends at once, and a
cancel stored before its process died ends the run when the next process resumes it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import cast

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.db.models import Run, utcnow
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.runs.executor import InProcessExecutor
from orchestrator.runs.processor import RunProcessor
from tests.api.test_runs import wait_for_status
from tests.conftest import Api, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools


def insert_run(settings: Settings, user_id: int, **fields: object) -> str:
    """A run row written straight to the database, as a dead process would leave it."""

    async def insert() -> str:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as db:
                run = Run(user_id=user_id, kind="task", goal="never asked", **fields)
                db.add(run)
                await db.commit()
                return run.id
        finally:
            await engine.dispose()

    return asyncio.run(insert())


def events(api: Api, run_id: str, headers: dict[str, str]) -> list[dict]:
    return api.client.get(f"/runs/{run_id}/events", headers=headers).json()["data"]


def test_queued_run_nobody_executes_is_cancelled_at_once(
    chat_api: Api, settings: Settings, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    run_id = insert_run(settings, user.id, status="queued")
    response = chat_api.client.post(f"/runs/{run_id}/cancel", headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancel_requested_at"] is not None
    log = events(chat_api, run_id, user.headers)
    assert [(e["seq"], e["type"], e["data"]["status"]) for e in log] == [
        (1, "complete", "cancelled")
    ]
    assert model.chat_requests == []  # it never ran


def test_cancel_stored_before_its_process_died_ends_the_resumed_run(
    settings: Settings, model: ScriptedModelServer
) -> None:
    # A run its process was executing when a cancel was stored, then the process died
    # (lease expired) before acting on it; the next process resumes it.
    settings = settings.model_copy(update={"ollama_url": model.url})
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        user = api.register()
    long_ago = utcnow() - timedelta(minutes=5)
    run_id = insert_run(
        settings,
        user.id,
        status="running",
        started_at=long_ago,
        lease_owner="gone:1:dead",
        lease_expires_at=long_ago,
        cancel_requested_at=long_ago,
    )
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:  # its start-up sweep resumes the orphan
        api = Api(url)
        run = wait_for_status(api, run_id, user.headers, "cancelled", "succeeded", "failed")
        log = events(api, run_id, user.headers)
        api.client.close()
    assert run["status"] == "cancelled" and run["finished_at"]
    assert [e["type"] for e in log] == ["complete"] and log[0]["data"]["status"] == "cancelled"
    assert model.chat_requests == []  # the model was never asked to carry on


class HeldRuns:
    """A processor double that counts executions and holds each run until cancelled."""

    def __init__(self) -> None:
        self.executions: list[str] = []
        self.cancel_requested: set[str] = set()
        self.cancelled: list[str] = []

    async def execute(self, run_id: str, *, new: object = None) -> None:
        self.executions.append(run_id)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(run_id)
            raise


def test_a_run_offered_twice_at_once_executes_once_and_its_cancel_reaches_it(
    api: Api, settings: Settings
) -> None:
    """The sweeper and the queue's job can offer a worker the same run at once. Its lease
    is then already this process's, so a second claim succeeds too. It must not run twice,
    and the one execution must stay the one a cancel reaches: a second copy used to end
    on a duplicate seq and take the first one's entry with it, which left it deaf to cancels."""
    user = api.register()
    run_id = insert_run(settings, user.id, status="queued")

    async def scenario() -> tuple[list[str], list[str], bool]:
        engine = create_engine(settings)
        processor = HeldRuns()
        executor = InProcessExecutor(
            cast(RunProcessor, processor), create_session_factory(engine), lease_seconds=30
        )
        try:
            await asyncio.gather(executor.submit(run_id), executor.submit(run_id))
            await asyncio.sleep(0)  # the held task starts
            stopped = await executor.cancel(run_id)
            return processor.executions, processor.cancelled, stopped
        finally:
            await executor.stop()
            await engine.dispose()

    executions, cancelled, stopped = asyncio.run(scenario())
    assert executions == [run_id]
    assert stopped
    assert cancelled == [run_id]
