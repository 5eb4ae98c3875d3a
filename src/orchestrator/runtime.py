"""The long-lived parts of one process, built once from `Settings` and passed down.

This module only wires; what callers do with runs goes through `runtime.runs` (a
`RunService`). The API gets the runtime through lifespan state (`request.state.runtime`),
the CLI builds its own; tests build one with their own settings and collaborators (a
model gateway on a scripted model server, a tool registry of their choosing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestrator.auth import (
    LoginThrottle,
    MemoryLoginThrottle,
    MemoryRateLimiter,
    RateLimiter,
    RedisLoginThrottle,
    RedisRateLimiter,
    UserDataPurger,
    WorkspacePurger,
)
from orchestrator.changes import Snapshots
from orchestrator.core.config import Settings
from orchestrator.core.security import PasswordHasher
from orchestrator.db.models import ToolSetting
from orchestrator.db.session import create_engine, create_session_factory, fetch
from orchestrator.engine.retrieval import ToolRetriever
from orchestrator.evals import EvalBook
from orchestrator.knowledge import Ingester, KnowledgeBase, create_knowledge_base
from orchestrator.llm.connections import ConnectionStore
from orchestrator.llm.gateway import ModelGateway
from orchestrator.mcp import McpClient, SecretBox
from orchestrator.memory import MemoryStore, create_memory_store
from orchestrator.observability import EventMetrics, Tracing
from orchestrator.runs.approvals import ApprovalBroker
from orchestrator.runs.bus import EventBus
from orchestrator.runs.chat import AgentTurn, ChatTurn, TaskRun
from orchestrator.runs.delegation import Delegator
from orchestrator.runs.executor import InProcessExecutor, RunExecutor
from orchestrator.runs.log import RunEventLog
from orchestrator.runs.processor import RunProcessor
from orchestrator.runs.service import RunService
from orchestrator.runs.tool_call import ToolCallRun
from orchestrator.runs.workflow import Workflow
from orchestrator.schedules import ScheduleBook, Scheduler, TriggerBook
from orchestrator.services.agents import AgentCatalog
from orchestrator.tools.registry import ToolRegistry
from orchestrator.usage import Quotas

if TYPE_CHECKING:
    # Redis and saq load only with REDIS_URL (`orchestrator.scale`).
    from orchestrator.scale.queue import RedisServices

# Every chat turn asks it: built once.
_DISABLED_TOOLS = select(ToolSetting.name).where(~ToolSetting.enabled)


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
    runs: RunService
    quotas: Quotas
    mcp: McpClient
    knowledge: KnowledgeBase
    ingester: Ingester
    schedules: ScheduleBook
    evals: EvalBook
    scheduler: Scheduler
    triggers: TriggerBook
    connections: ConnectionStore
    redis: RedisServices | None = None
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    # Every part that keeps per-user data outside the rows; account deletion calls each.
    purgers: list[UserDataPurger] = field(default_factory=list)
    rate_limiter: RateLimiter | None = None  # None: RATE_LIMIT_PER_MINUTE=0, no limit
    started_at: float = field(default_factory=time.time)
    tracing: Tracing = field(default_factory=Tracing)

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        models: ModelGateway | None = None,
        tools: ToolRegistry | None = None,
        execute_here: bool = False,
        hasher: PasswordHasher | None = None,
        tracing: Tracing | None = None,
    ) -> Runtime:
        """Wire the default collaborators for `settings`; pass any to replace it.
        `execute_here` runs every run in this process even with `REDIS_URL` (the terminal)."""
        settings.signing_key()  # generate and persist the key before anything signs
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        # With REDIS_URL, runs go to `orchestrator worker`s and events travel through Redis.
        redis: RedisServices | None = None
        if settings.redis_url:
            from orchestrator.scale.queue import RedisServices

            redis = RedisServices.from_url(settings.redis_url)
        bus = redis.bus if redis else EventBus()
        event_log = RunEventLog(sessions, bus, metrics=EventMetrics() if settings.metrics else None)
        tracing = tracing or Tracing.from_settings(settings)
        approvals = ApprovalBroker(
            sessions, announce=redis.control.announce_approval if redis else None
        )
        # Model connections live in the database; a gateway passed in (tests) keeps its own.
        connections = ConnectionStore(settings, sessions)
        models = models or ModelGateway(settings, connections=connections)
        tools = tools if tools is not None else ToolRegistry.from_entry_points()

        async def disabled_tools() -> frozenset[str]:
            return frozenset(name for (name,) in await fetch(sessions, _DISABLED_TOOLS))

        mcp = McpClient(settings, sessions)
        quotas = Quotas(settings, sessions)
        turn = AgentTurn(settings, sessions, models, tools, approvals, disabled_tools)
        turn.quotas = quotas
        turn.accounting = settings.usage_accounting
        turn.tracing = tracing
        turn.extra_tools = mcp.tools
        agents = AgentCatalog(sessions)
        processor = RunProcessor(settings, event_log, {}, agents.get, tracing=tracing)
        processor.kinds["chat"] = ChatTurn(turn, agents.get)
        processor.kinds["task"] = TaskRun(turn, agents.get)
        processor.kinds["workflow"] = Workflow(turn, models, agents.get)
        processor.kinds["tool"] = ToolCallRun(turn)
        turn.delegator = Delegator(settings, sessions, agents.get, processor.execute)
        turn.memory = memory = create_memory_store(settings, sessions, models.embed)
        turn.snapshots = Snapshots(settings.data_dir, settings.change_max_file_bytes)
        # One embedder for memory and knowledge: the offline model is loaded once.
        turn.knowledge = knowledge = create_knowledge_base(settings, sessions, memory.embedder)
        turn.retriever = ToolRetriever(
            memory.embedder,
            threshold=settings.tool_retrieval_threshold,
            top_k=settings.tool_retrieval_top_k,
        )
        lease = settings.run_lease_seconds
        executor: RunExecutor
        if redis and not execute_here:
            from orchestrator.scale.queue import QueueExecutor

            executor = QueueExecutor(redis, sessions, lease_seconds=lease)
        else:
            executor = InProcessExecutor(processor, sessions, lease_seconds=lease)
        runs = RunService(
            sessions,
            quotas=quotas,
            agents=agents,
            models=models,
            processor=processor,
            executor=executor,
            event_log=event_log,
            approvals=approvals,
            settings=settings,
            knowledge=knowledge,
        )
        evals = EvalBook(settings, sessions, models, turn.retriever, quotas)
        models.eval_scores = evals.latest_scores  # /system/models shows each model's score
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            login_throttle=_login_throttle(settings, redis),
            models=models,
            tools=tools,
            bus=bus,
            event_log=event_log,
            approvals=approvals,
            processor=processor,
            agents=agents,
            memory=memory,
            executor=executor,
            runs=runs,
            quotas=quotas,
            knowledge=knowledge,
            ingester=Ingester(knowledge, lease_seconds=settings.knowledge_lease_seconds),
            schedules=ScheduleBook(sessions, runs),
            scheduler=Scheduler(sessions, runs, poll_seconds=settings.schedule_poll_seconds),
            triggers=TriggerBook(sessions, runs, SecretBox(settings.signing_key())),
            evals=evals,
            connections=connections,
            redis=redis,
            mcp=mcp,
            hasher=hasher or PasswordHasher(settings.password_hash_slots),
            purgers=[WorkspacePurger(settings), memory, knowledge],
            rate_limiter=_rate_limiter(settings, redis),
            tracing=tracing,
        )

    async def start(self) -> None:
        """Seed the model connections, begin executing runs (and resume those a previous
        process left)."""
        await self.connections.seed()
        await self.executor.start()
        await self.memory.start()
        await self.ingester.start()
        await self.scheduler.start()  # after the executor: due runs are submitted at once

    async def tool_registry(self) -> ToolRegistry:
        """The built-in tools plus the tools of the enabled MCP servers."""
        return self.tools.extended(await self.mcp.tools())

    async def close(self) -> None:
        """Stop executing runs and release every connection."""
        await self.evals.close()
        await self.scheduler.stop()
        await self.executor.stop()
        await self.ingester.stop()
        if self.redis is not None and isinstance(self.executor, InProcessExecutor):
            await self.redis.close()  # the queue executor closes it otherwise
        await self.mcp.close()
        await self.memory.close()
        await self.models.aclose()
        self.tracing.shutdown()
        self.hasher.close()
        self.event_log.close()
        await self.engine.dispose()


def _login_throttle(settings: Settings, redis: RedisServices | None) -> LoginThrottle:
    """Failed logins counted in Redis when there is one (every API process sees every
    failure), else in this process."""
    limits = (
        settings.login_max_failures,
        settings.login_lockout_seconds,
        settings.login_max_client_failures,
    )
    if redis is not None:
        return RedisLoginThrottle(redis.redis, *limits)
    return MemoryLoginThrottle(*limits)


def _rate_limiter(settings: Settings, redis: RedisServices | None) -> RateLimiter | None:
    """The API's limiter: shared through Redis when there is one, else in this process."""
    per_minute, burst = settings.rate_limit_per_minute, settings.rate_limit_burst
    if per_minute == 0:
        return None
    if redis is not None:
        return RedisRateLimiter(redis.redis, per_minute, burst)
    return MemoryRateLimiter(per_minute, burst)
