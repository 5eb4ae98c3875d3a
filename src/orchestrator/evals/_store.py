"""Stored evaluations: one row per model and suite version, run in the background."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.core.errors import Conflict, NotFound, QuotaExceeded
from orchestrator.db.models import ModelEval, utcnow
from orchestrator.engine.react import ModelClient
from orchestrator.engine.retrieval import ToolRetriever
from orchestrator.evals._runner import EvalReport, EvalRunner, TaskResult
from orchestrator.evals._suite import SUITE_VERSION
from orchestrator.usage import Quotas, UsageMeter

log = logging.getLogger(__name__)


class EvalBook:
    """Starts evaluations (one at a time per process: they keep a model busy) and keeps
    their results."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        models: ModelClient,
        retriever: ToolRetriever | None,
        quotas: Quotas | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.models = models
        self.retriever = retriever
        self.quotas = quotas or Quotas(settings, sessions)
        self._task: asyncio.Task[None] | None = None

    async def list(self) -> list[ModelEval]:
        async with self.sessions() as db:
            rows = await db.scalars(
                select(ModelEval).order_by(ModelEval.model, ModelEval.suite_version)
            )
            return list(rows)

    async def latest_scores(self) -> dict[str, float]:
        """Each model's task success in its latest finished evaluation (for the model list)."""
        async with self.sessions() as db:
            rows = await db.execute(
                select(ModelEval.model, ModelEval.task_success)
                .where(ModelEval.status == "succeeded", ModelEval.task_success.is_not(None))
                .order_by(ModelEval.finished_at)
            )
            return {model: score for model, score in rows if score is not None}

    async def get(self, eval_id: str) -> ModelEval:
        async with self.sessions() as db:
            row = await db.get(ModelEval, eval_id)
        if row is None:
            raise NotFound("no such evaluation")
        return row

    async def start(self, model: str, *, retrieval: bool, repair: bool, user_id: int) -> ModelEval:
        """Mark the model's row running (created or reset) and run the suite behind it,
        its model calls accounted against `user_id` (`QuotaExceeded` when their token
        quota is used up already)."""
        if self._task is not None and not self._task.done():
            raise Conflict("an evaluation is already running; wait for it to finish")
        meter = None
        if self.settings.usage_accounting:
            meter = UsageMeter(self.sessions, self.quotas, user_id=user_id)
            await meter.admit()
        row = await self.begin(model, retrieval=retrieval, repair=repair, user_id=user_id)
        if meter is not None:
            meter.eval_id = row.id
        runner = EvalRunner(
            self.settings,
            self.models,
            retriever=self.retriever if retrieval else None,
            repair=repair,
            meter=meter,
        )
        self._task = asyncio.create_task(self._run(row.id, runner, model))
        return row

    async def begin(
        self, model: str, *, retrieval: bool, repair: bool, user_id: int | None
    ) -> ModelEval:
        """The model's row for this suite version, created or reset to running; `finish`
        stores the outcome. The command line runs the suite itself between the two."""
        async with self.sessions() as db:
            row = await db.scalar(
                select(ModelEval).where(
                    ModelEval.model == model, ModelEval.suite_version == SUITE_VERSION
                )
            )
            if row is None:
                row = ModelEval(model=model, suite_version=SUITE_VERSION)
                db.add(row)
            for name, value in {
                "status": "running",
                "retrieval": retrieval,
                "repair": repair,
                "tasks": 0,
                "valid_calls": None,
                "right_tool": None,
                "right_args": None,
                "task_success": None,
                "tokens": 0,
                "seconds": 0.0,
                "results": [],
                "error": None,
                "created_by": user_id,
                "created_at": utcnow(),
                "finished_at": None,
            }.items():
                setattr(row, name, value)
            await db.commit()
            await db.refresh(row)
        return row

    async def _run(self, eval_id: str, runner: EvalRunner, model: str) -> None:
        done: list[TaskResult] = []
        try:
            report = await runner.run(model, on_task=done.append)
        except QuotaExceeded as exc:  # stopped: the tasks that ended are kept
            stopped = EvalReport.from_results(
                model, done, retrieval=runner.retriever is not None, repair=runner.repair
            )
            await self.finish(eval_id, stopped, f"{exc.code}: {exc.message}")
            return
        except Exception as exc:  # the row must say it failed, whatever happened
            log.exception("evaluation of %s failed", model)
            await self.finish(eval_id, None, f"{type(exc).__name__}: {exc}"[:2000])
            return
        await self.finish(eval_id, report, None)

    async def finish(self, eval_id: str, report: EvalReport | None, error: str | None) -> None:
        """Store the outcome: `report` alone succeeded; an `error` failed, with the scores
        of the tasks that ended before it when `report` is given too."""
        async with self.sessions() as db:
            row = await db.get(ModelEval, eval_id)
            if row is None:
                return
            row.finished_at = utcnow()
            row.status, row.error = ("failed", error) if error is not None else ("succeeded", None)
            if report is not None:
                for name in (
                    "tasks",
                    "valid_calls",
                    "right_tool",
                    "right_args",
                    "task_success",
                    "tokens",
                    "seconds",
                ):
                    setattr(row, name, getattr(report, name))
                row.results = [r.model_dump(mode="json") for r in report.results]
            await db.commit()

    async def wait(self) -> None:
        """Until the running evaluation (if any) ends."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
