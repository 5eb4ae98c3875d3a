"""The domain error tree; `orchestrator.api.errors` maps it to HTTP and WebSocket errors.

OrchestratorError
├── NotFound                 404  (also answers for another user's resource)
├── Conflict                 409
├── InvalidInput             422
├── AuthError                401
│   └── AccountPending       403  (registered, waiting for an admin)
├── Forbidden                403
│   └── CsrfRefused          403  (a cookie-authenticated write without its CSRF header)
├── RateLimited              429
├── QuotaExceeded            429  (a user's quota: QUOTA_CONCURRENT_RUNS...)
├── PayloadTooLarge          413  (an upload over a limit; the message names it)
├── UnsupportedMedia         415  (an upload of a kind that cannot be read)
├── MemoryUnavailable        503  (the vector store does not answer)
├── ToolError                     (the model's mistake: goes back to the model)
│   ├── ToolNotFound
│   ├── ToolArgumentError
│   ├── ToolDenied               (refused by policy or by the user)
│   ├── PathOutsideWorkspace
│   ├── WorkspacePathNotFound     (404 over HTTP)
│   ├── WorkspaceQuotaExceeded    (413 over HTTP: WORKSPACE_QUOTA_MB)
│   ├── BlockedAddress           (SSRF guard)
│   ├── SandboxUnavailable
│   └── McpServerError       502 (an MCP server failed, hung or misbehaved)
└── LLMError                 503
    ├── ProviderUnavailable  503 (model server down)
    ├── ModelNotFound        404
    ├── ToolsNotSupported         (internal: switch to the text protocol)
    ├── StreamInterrupted    502
    └── UnusableToolCalls    502 (a turn's error: the model kept writing calls that cannot be used)
"""

from __future__ import annotations

from typing import ClassVar

# Codes more precise than their class's, for the messages the web app shows (it translates
# them, falling back to `detail`): code -> the HTTP status of the class that may carry it.
SPECIFIC_CODES: dict[str, int] = {
    "invalid_credentials": 401,  # AuthError: a wrong username or password at login
    "wrong_password": 401,  # AuthError: the current password, when changing it
    "registration_closed": 403,  # Forbidden
    "admin_only": 403,  # Forbidden
    "builtin_agent_readonly": 403,  # Forbidden: a built-in agent cannot be changed or removed
    "builtin_agent": 409,  # Conflict: a custom agent cannot take a built-in's name
    "username_taken": 409,  # Conflict
    "agent_exists": 409,  # Conflict
    "last_admin": 409,  # Conflict
    "run_ended": 409,  # Conflict
}


class OrchestratorError(Exception):
    """Base of every error the product raises on purpose."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, code: str | None = None, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        if code is not None:  # a more precise stable code than the class's (the UI translates it)
            if SPECIFIC_CODES.get(code) is not type(self).status_code:
                raise ValueError(f"{code!r} is not a specific code of a {type(self).status_code}")
            self.code = code


class NotFound(OrchestratorError):
    status_code = 404
    code = "not_found"


class Conflict(OrchestratorError):
    status_code = 409
    code = "conflict"


class InvalidInput(OrchestratorError):
    status_code = 422
    code = "invalid_input"


class AuthError(OrchestratorError):
    status_code = 401
    code = "unauthorized"


class AccountPending(AuthError):
    status_code = 403
    code = "account_pending"


class Forbidden(OrchestratorError):
    status_code = 403
    code = "forbidden"


class CsrfRefused(Forbidden):
    code = "csrf_failed"


class RateLimited(OrchestratorError):
    status_code = 429
    code = "rate_limited"

    def __init__(
        self, message: str, retry_after: int, *, code: str | None = None, **fields: object
    ) -> None:
        super().__init__(message, code=code, **fields)
        self.retry_after = retry_after


class PayloadTooLarge(OrchestratorError):
    """A request body over a size limit; the message names the limit."""

    status_code = 413
    code = "too_large"


class UnsupportedMedia(OrchestratorError):
    status_code = 415
    code = "unsupported_media"


class MemoryUnavailable(OrchestratorError):
    """The vector store (Chroma) failed or cannot be reached."""

    status_code = 503
    code = "memory_unavailable"


class ToolError(OrchestratorError):
    """A tool call failed because of its input or policy; the model sees the message."""

    status_code = 400
    code = "tool_error"


class ToolNotFound(ToolError):
    status_code = 404
    code = "tool_not_found"


class ToolArgumentError(ToolError):
    code = "tool_bad_arguments"


class ToolDenied(ToolError):
    status_code = 403
    code = "tool_denied"


class PathOutsideWorkspace(ToolError):
    status_code = 403
    code = "path_outside_workspace"


class WorkspacePathNotFound(ToolArgumentError):
    """A workspace path that does not exist."""

    status_code = 404
    code = "path_not_found"


class QuotaExceeded(OrchestratorError):
    """A user's quota is used up; `reset_at` says when it frees (None: when runs end)."""

    status_code = 429
    code = "quota_exceeded"


class WorkspaceQuotaExceeded(ToolError):
    """A write would take the workspace over WORKSPACE_QUOTA_MB."""

    status_code = 413
    code = "workspace_quota_exceeded"


class BlockedAddress(ToolError):
    status_code = 403
    code = "blocked_address"


class SandboxUnavailable(ToolError):
    status_code = 503
    code = "sandbox_unavailable"


class McpServerError(ToolError):
    """An MCP server could not be reached, hung, crashed or broke the protocol."""

    status_code = 502
    code = "mcp_server_error"


class LLMError(OrchestratorError):
    status_code = 503
    code = "llm_error"


class ProviderUnavailable(LLMError):
    status_code = 503
    code = "provider_unavailable"


class ModelNotFound(LLMError):
    status_code = 404
    code = "model_not_found"


class ToolsNotSupported(LLMError):
    code = "tools_not_supported"


class StreamInterrupted(LLMError):
    status_code = 502
    code = "stream_interrupted"


class UnusableToolCalls(LLMError):
    """The code a turn ends with when the model wrote tool calls that could not be used,
    step after step (`engine.react.MAX_INVALID_STEPS`); `/v1` answers it as a 502."""

    status_code = 502
    code = "invalid_tool_calls"


def status_for_code(code: str) -> int | None:
    """The HTTP status of the error class with this `code`, if one has it."""
    if code in SPECIFIC_CODES:
        return SPECIFIC_CODES[code]
    stack: list[type[OrchestratorError]] = [OrchestratorError]
    while stack:
        cls = stack.pop()
        if cls.code == code:
            return cls.status_code
        stack.extend(cls.__subclasses__())
    return None
