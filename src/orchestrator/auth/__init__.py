"""Credentials and what hangs on them: sessions (access + rotating refresh tokens), API
keys, the bearer-to-user function shared by every surface (REST, WebSocket, `/v1`,
`/mcp`), rate limits, and the purge of a deleted account's data.

user = await user_for_credential(engine, settings, "orch_..." or an access token)
"""

from __future__ import annotations

from orchestrator.auth._api_keys import (
    API_KEY_PREFIX,
    NewApiKey,
    create_api_key,
    delete_api_key,
    list_api_keys,
    user_for_api_key,
)
from orchestrator.auth._credentials import user_for_credential
from orchestrator.auth._login_throttle import (
    LoginThrottle,
    MemoryLoginThrottle,
    RedisLoginThrottle,
)
from orchestrator.auth._purge import UserDataPurger, WorkspacePurger
from orchestrator.auth._rate_limit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from orchestrator.auth._sessions import (
    SessionTokens,
    end_session,
    refresh_session,
    start_session,
)

__all__ = [
    "API_KEY_PREFIX",
    "LoginThrottle",
    "MemoryLoginThrottle",
    "MemoryRateLimiter",
    "NewApiKey",
    "RateLimiter",
    "RedisLoginThrottle",
    "RedisRateLimiter",
    "SessionTokens",
    "UserDataPurger",
    "WorkspacePurger",
    "create_api_key",
    "delete_api_key",
    "end_session",
    "list_api_keys",
    "refresh_session",
    "start_session",
    "user_for_api_key",
    "user_for_credential",
]
