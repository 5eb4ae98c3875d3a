"""The mapping from our error codes to OpenAI's error objects (end-to-end cases are in
test_completions; this pins the table, quotas included)."""

from __future__ import annotations

import pytest

from orchestrator.openai_api._errors import error_body


@pytest.mark.parametrize(
    ("status", "code", "kind", "openai_code"),
    [
        (401, "unauthorized", "invalid_request_error", "invalid_api_key"),
        (404, "model_not_found", "invalid_request_error", "model_not_found"),
        (404, "not_found", "invalid_request_error", "not_found"),
        (403, "forbidden", "permission_error", "forbidden"),
        (422, "invalid_input", "invalid_request_error", "invalid_input"),
        (429, "quota_exceeded", "insufficient_quota", "quota_exceeded"),
        (429, "rate_limited", "rate_limit_error", "rate_limited"),
        (503, "provider_unavailable", "server_error", "provider_unavailable"),
        (500, "internal", "server_error", "internal"),
    ],
)
def test_error_body_follows_openais_types(
    status: int, code: str, kind: str, openai_code: str
) -> None:
    body = error_body(status, "why", code)
    assert (body.type, body.code, body.message) == (kind, openai_code, "why")
