"""Sign-up, login and sessions (refresh, logout, password), the current account, API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request, Response, status
from fastapi.responses import JSONResponse

from orchestrator import auth as credentials
from orchestrator.api.cookies import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    check_csrf,
    clear_session_cookies,
    set_session_cookies,
)
from orchestrator.api.deps import CurrentUser, RuntimeDep, SessionDep
from orchestrator.api.routing import ApiRouter
from orchestrator.core.config import Settings
from orchestrator.core.errors import AuthError
from orchestrator.core.security import decode_access_token
from orchestrator.schemas.common import Page
from orchestrator.schemas.users import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    LoginRequest,
    PasswordChange,
    ProfileUpdate,
    RefreshRequest,
    RegisterRequest,
    TokenOut,
    UserOut,
)
from orchestrator.services import accounts

router = ApiRouter(prefix="/auth", tags=["auth"])
KeyId = Annotated[str, Path(max_length=36)]


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(body: RegisterRequest, db: SessionDep, runtime: RuntimeDep) -> UserOut:
    """Create an account; the first one is the admin, later ones follow REGISTRATION."""
    user = await accounts.register(
        db, runtime.settings, runtime.hasher, body.username, body.password, body.email
    )
    return UserOut.model_validate(user)


def _session_answer(
    tokens: credentials.SessionTokens,
    request: Request,
    response: Response,
    settings: Settings,
    *,
    cookie: bool,
) -> TokenOut:
    """The login/refresh answer: tokens in the body for programs, cookies for the web app."""
    if cookie:
        set_session_cookies(
            response, request, tokens.access_token, tokens.refresh_token, tokens.refresh_expires_at
        )
    return TokenOut(
        access_token=tokens.access_token,
        expires_in=settings.access_token_expire_minutes * 60,
        refresh_token=None if cookie else tokens.refresh_token,
        user=UserOut.model_validate(tokens.user),
    )


@router.post("/login")
async def login(
    body: LoginRequest, request: Request, response: Response, db: SessionDep, runtime: RuntimeDep
) -> TokenOut:
    """Exchange a username and password for an access token and a refresh token
    (`"cookie": true`: in HttpOnly cookies, as the web app does)."""
    client = request.client.host if request.client else "unknown"
    user = await accounts.authenticate(
        db, runtime.login_throttle, runtime.hasher, body.username, body.password, client
    )
    tokens = await credentials.start_session(db, runtime.settings, user)
    return _session_answer(tokens, request, response, runtime.settings, cookie=body.cookie)


@router.post("/refresh")
async def refresh(
    request: Request,
    response: Response,
    db: SessionDep,
    runtime: RuntimeDep,
    body: RefreshRequest | None = None,
) -> TokenOut:
    """Rotate a refresh token (`{refresh_token}`, or the web app's cookie): a new access
    token and the next refresh token. A refresh token used twice ends its whole session."""
    if body is not None and body.refresh_token is not None:
        tokens = await credentials.refresh_session(db, runtime.settings, body.refresh_token)
        return _session_answer(tokens, request, response, runtime.settings, cookie=False)
    presented = request.cookies.get(REFRESH_COOKIE)
    if not presented:
        raise AuthError("no refresh token; log in again")
    check_csrf(request, request.method)
    try:
        tokens = await credentials.refresh_session(db, runtime.settings, presented)
    except AuthError as exc:
        failed = JSONResponse({"detail": exc.message, "code": exc.code}, status_code=401)
        clear_session_cookies(failed)
        return failed  # type: ignore[return-value]
    return _session_answer(tokens, request, response, runtime.settings, cookie=True)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    request: Request,
    db: SessionDep,
    runtime: RuntimeDep,
    body: RefreshRequest | None = None,
) -> Response:
    """End this session: its refresh token and every access token it issued are refused
    from now on, and the web app's cookies are cleared."""
    refresh_token = body.refresh_token if body is not None else None
    cookie = request.cookies.get(REFRESH_COOKIE)
    if cookie or request.cookies.get(ACCESS_COOKIE):
        check_csrf(request, request.method)
    session_id = None
    bearer = request.headers.get("authorization", "")
    access = (
        bearer[7:] if bearer.lower().startswith("bearer ") else request.cookies.get(ACCESS_COOKIE)
    )
    if access:
        try:
            session_id = decode_access_token(access, runtime.settings.signing_key()).session_id
        except AuthError:
            session_id = None  # an expired token still logs out through its refresh token
    await credentials.end_session(db, refresh_token=refresh_token or cookie, session_id=session_id)
    answer = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(answer)
    return answer


@router.post("/password")
async def change_password(
    body: PasswordChange,
    user: CurrentUser,
    request: Request,
    response: Response,
    db: SessionDep,
    runtime: RuntimeDep,
) -> TokenOut:
    """Change the caller's password: every session ends, and this caller gets a new one
    (in cookies when it came with them)."""
    user = await accounts.change_password(db, runtime.hasher, user, body.current, body.new)
    tokens = await credentials.start_session(db, runtime.settings, user)
    cookie = "authorization" not in request.headers and ACCESS_COOKIE in request.cookies
    return _session_answer(tokens, request, response, runtime.settings, cookie=cookie)


@router.get("/me")
async def me(user: CurrentUser) -> UserOut:
    """The account the token belongs to."""
    return UserOut.model_validate(user)


@router.patch("/me")
async def update_me(body: ProfileUpdate, user: CurrentUser, db: SessionDep) -> UserOut:
    """Change one's own preferences (the language of the web app and of the answers)."""
    return UserOut.model_validate(await accounts.set_language(db, user.id, body.language))


@router.get("/api-keys")
async def list_api_keys(user: CurrentUser, db: SessionDep) -> Page[ApiKeyOut]:
    """The caller's API keys, newest first (never their secrets)."""
    keys = await credentials.list_api_keys(db, user.id)
    return Page(data=[ApiKeyOut.model_validate(k) for k in keys], count=len(keys))


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
async def create_api_key(body: ApiKeyCreate, user: CurrentUser, db: SessionDep) -> ApiKeyCreated:
    """Create an `orch_` API key; its secret is in this answer and never again."""
    new = await credentials.create_api_key(db, user.id, body.name, body.expires_days)
    return ApiKeyCreated(**ApiKeyOut.model_validate(new.row).model_dump(), key=new.key)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_api_key(key_id: KeyId, user: CurrentUser, db: SessionDep) -> Response:
    """Revoke one of the caller's API keys; it is refused at once."""
    await credentials.delete_api_key(db, user.id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
