"""Sign-up, login and the current account."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from orchestrator.api.deps import CurrentUser, RuntimeDep, SessionDep
from orchestrator.core.security import create_access_token
from orchestrator.schemas.users import LoginRequest, RegisterRequest, TokenOut, UserOut
from orchestrator.services import accounts

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(body: RegisterRequest, db: SessionDep, runtime: RuntimeDep) -> UserOut:
    """Create an account; the first one is the admin, later ones follow REGISTRATION."""
    user = await accounts.register(db, runtime.settings, body.username, body.password, body.email)
    return UserOut.model_validate(user)


@router.post("/login")
async def login(
    body: LoginRequest, request: Request, db: SessionDep, runtime: RuntimeDep
) -> TokenOut:
    """Exchange a username and password for an access token."""
    client = request.client.host if request.client else "unknown"
    user = await accounts.authenticate(
        db, runtime.login_throttle, body.username, body.password, client
    )
    settings = runtime.settings
    token = create_access_token(
        user.id, settings.signing_key(), settings.access_token_expire_minutes
    )
    return TokenOut(access_token=token, user=UserOut.model_validate(user))


@router.get("/me")
async def me(user: CurrentUser) -> UserOut:
    """The account the token belongs to."""
    return UserOut.model_validate(user)
