"""The long-lived parts of one process, built once from `Settings` and passed down.

The API gets it through lifespan state (`request.state.runtime`), the CLI builds its
own; tests build one with their own settings and collaborators (a model gateway on a
scripted model server, a tool registry of their choosing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestrator.agents import DEFAULT_AGENT
from orchestrator.core.config import Settings
from orchestrator.core.errors import Conflict, NotFound
from orchestrator.db.models import Approval, Run, ToolSetting
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.engine.events import FINAL_STATUSES
from orchestrator.llm.gateway import ModelGateway
from orchestrator.memory import MemoryStore, create_memory_store
from orchestrator.runs import service as run_service
from orchestrator.runs.approvals import ApprovalBroker, Decision
from orchestrator.runs.bus import EventBus
from orchestrator.runs.chat import AgentTurn, ChatTurn, TaskRun
from orchestrator.runs.delegation import Delegator
from orchestrator.runs.executor import InProcessExecutor, RunExecutor
from orchestrator.runs.log import RunEventLog
from orchestrator.runs.processor import RunProcessor
from orchestrator.runs.workflow import Workflow
from orchestrator.scale.queue import QueueExecutor, RedisServices
from orchestrator.schemas.runs import ChatRequest
from orchestrator.services.accounts import LoginThrottle
from orchestrator.services.agents import AgentCatalog
from orchestrator.tools.registry import ToolRegistry


@dataclass
class Runtime:
    """Settings, database and shared services of one process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    login_throttle: LoginThrottle
    models: ModelGateway
    tools: ToolRegistry
    bus: EventBus
    event_log: RunEventLog
    approvals: ApprovalBroker
    processor: RunProcessor
    executor: RunExecutor
    agents: AgentCatalog
    memory: MemoryStore
    started_at: float = field(default_factory=time.time)

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        models: ModelGateway | None = None,
        tools: ToolRegistry | None = None,
    ) -> Runtime:
        """Wire the default collaborators for `settings`; pass any to replace it."""
        settings.signing_key()  # generate and persist the key before anything signs
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        # With REDIS_URL, runs go to `orchestrator worker`s and events travel through Redis.
        redis = RedisServices.from_url(settings.redis_url) if settings.redis_url else None
        bus = redis.bus if redis else EventBus()
        event_log = RunEventLog(sessions, bus)
        approvals = ApprovalBroker(
            sessions, announce=redis.control.announce_approval if redis else None
        )
        models = models or ModelGateway(settings)
        tools = tools if tools is not None else ToolRegistry.from_entry_points()

        async def disabled_tools() -> frozenset[str]:
            async with sessions() as db:
                rows = await db.scalars(select(ToolSetting.name).where(~ToolSetting.enabled))
                return frozenset(rows)

        turn = AgentTurn(settings, sessions, models, tools, approvals, disabled_tools)
        agents = AgentCatalog(sessions)
        processor = RunProcessor(settings, event_log, {}, agents.get)
        processor.kinds["chat"] = ChatTurn(turn, agents.get)
        processor.kinds["task"] = TaskRun(turn, agents.get)
        processor.kinds["workflow"] = Workflow(turn, models, agents.get)
        turn.delegator = Delegator(settings, sessions, agents.get, processor.execute)
        turn.memory = memory = create_memory_store(settings, sessions, models.embed)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            login_throttle=LoginThrottle(
                settings.login_max_failures, settings.login_lockout_seconds
            ),
            models=models,
            tools=tools,
            bus=bus,
            event_log=event_log,
            approvals=approvals,
            processor=processor,
            agents=agents,
            memory=memory,
            executor=QueueExecutor(redis, sessions, lease_seconds=settings.run_lease_seconds)
            if redis
            else InProcessExecutor(processor, sessions, lease_seconds=settings.run_lease_seconds),
        )

    async def start(self) -> None:
        """Begin executing runs (and resume those a previous process left)."""
        await self.executor.start()
        await self.memory.start()

    async def start_chat(self, user_id: int, request: ChatRequest) -> Run:
        """Check the agent and model, store the message, and queue the turn."""
        await self.agents.get(request.agent or DEFAULT_AGENT)
        if request.model is not None:
            await self.models.resolve(request.model)
        async with self.sessions() as db:
            run, _, _ = await run_service.start_chat_turn(
                db,
                user_id,
                request.message,
                conversation_id=request.conversation_id,
                model=request.model,
                agent=request.agent,
            )
        await self.executor.submit(run.id)
        return run

    async def cancel_run(self, user_id: int, run_id: str) -> Run:
        """Cancel the user's run wherever it is; a finished run answers `Conflict`."""
        async with self.sessions() as db:
            run = await run_service.get_run(db, user_id, run_id)
        if run.status in FINAL_STATUSES:
            raise Conflict(f"the run already ended ({run.status})")
        if not await self.executor.cancel(run_id):
            await self.processor.cancel_idle(run)
        async with self.sessions() as db:
            return await run_service.get_run(db, user_id, run_id)

    async def decide_approval(
        self, user_id: int, approval_id: str, decision: Decision, run_id: str | None = None
    ) -> str:
        """Approve or deny one of the user's pending tool calls."""
        async with self.sessions() as db:
            query = select(Approval.run_id).where(
                Approval.id == approval_id, Approval.user_id == user_id
            )
            found = await db.scalar(query)
        if found is None or (run_id is not None and found != run_id):
            raise NotFound("approval not found")
        return await self.approvals.decide(
            run_id=found, approval_id=approval_id, user_id=user_id, decision=decision
        )

    async def close(self) -> None:
        await self.executor.stop()
        await self.memory.close()
        await self.models.aclose()
        await self.engine.dispose()
