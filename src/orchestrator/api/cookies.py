"""The web app's session cookies and their CSRF guard (double submit).

`orch_access` (the access token) and `orch_refresh` are HttpOnly and SameSite=Strict:
scripts cannot read them and other sites cannot send them. `orch_csrf` is readable by
the app, which echoes it in `X-CSRF-Token` on every write: a request authenticated by
cookie that changes something without that header is refused.
"""

from __future__ import annotations

import hmac
from datetime import datetime

from starlette.requests import HTTPConnection
from starlette.responses import Response

from orchestrator.core.errors import CsrfRefused
from orchestrator.core.security import random_secret

ACCESS_COOKIE = "orch_access"
REFRESH_COOKIE = "orch_refresh"
CSRF_COOKIE = "orch_csrf"
CSRF_HEADER = "X-CSRF-Token"
REFRESH_PATH = "/api/v1/auth"  # the refresh token travels only to the auth routes
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def set_session_cookies(
    response: Response,
    connection: HTTPConnection,
    access_token: str,
    refresh_token: str,
    refresh_expires_at: datetime,
) -> None:
    """Put a session in the browser's cookies (and a new CSRF value beside it)."""
    secure = connection.url.scheme in ("https", "wss")
    max_age = int((refresh_expires_at - datetime.now(refresh_expires_at.tzinfo)).total_seconds())
    common = {"secure": secure, "samesite": "strict", "max_age": max_age}
    # The access cookie outlives the token inside it: an expired one tells the app to refresh.
    response.set_cookie(ACCESS_COOKIE, access_token, httponly=True, path="/", **common)  # type: ignore[arg-type]
    response.set_cookie(REFRESH_COOKIE, refresh_token, httponly=True, path=REFRESH_PATH, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, random_secret(nbytes=24), httponly=False, path="/", **common)  # type: ignore[arg-type]


def clear_session_cookies(response: Response) -> None:
    """Remove the session cookies."""
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_PATH), (CSRF_COOKIE, "/")):
        response.delete_cookie(name, path=path, samesite="strict")


def check_csrf(connection: HTTPConnection, method: str) -> None:
    """Refuse a cookie-authenticated write whose CSRF header does not match the cookie."""
    if method.upper() in SAFE_METHODS:
        return
    expected = connection.cookies.get(CSRF_COOKIE, "")
    given = connection.headers.get(CSRF_HEADER, "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfRefused(f"missing or wrong {CSRF_HEADER} header")
