"""Access tokens whose signature was checked once are not checked again (a per-process
cache of verified tokens): it must change nothing that a token can or cannot do."""

from __future__ import annotations

import types

import pytest

from orchestrator.core import security
from orchestrator.core.errors import AuthError
from orchestrator.core.security import create_access_token, decode_access_token
from tests.conftest import TEST_SECRET

OTHER_SECRET = "another-secret-key-that-is-long-enough-0123456789"


def test_a_verified_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = create_access_token(7, TEST_SECRET, 1, version=3, session_id="s1")
    first = decode_access_token(token, TEST_SECRET)
    assert decode_access_token(token, TEST_SECRET) == first  # the cached answer
    assert (token, TEST_SECRET) in security._VERIFIED
    later = security.time.time() + 61
    monkeypatch.setattr(security, "time", types.SimpleNamespace(time=lambda: later))
    with pytest.raises(AuthError, match="expired"):
        decode_access_token(token, TEST_SECRET)


def test_a_token_verified_under_one_key_is_refused_under_another() -> None:
    token = create_access_token(8, TEST_SECRET, 5)
    assert decode_access_token(token, TEST_SECRET).user_id == 8
    with pytest.raises(AuthError, match="invalid token"):
        decode_access_token(token, OTHER_SECRET)


def test_the_cache_stays_bounded() -> None:
    for user_id in range(1, security._VERIFIED_MAX + 50):
        decode_access_token(create_access_token(user_id, TEST_SECRET, 5), TEST_SECRET)
    assert len(security._VERIFIED) <= security._VERIFIED_MAX
