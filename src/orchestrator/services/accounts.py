"""Registration, login (with throttling) and user administration."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.core.config import Registration, Settings
from orchestrator.core.errors import (
    AccountPending,
    AuthError,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
)
from orchestrator.core.security import hash_password, verify_password
from orchestrator.db.models import User

BAD_CREDENTIALS = "incorrect username or password"


@dataclass
class LoginThrottle:
    """Counts failed logins per (username, client); too many lock that pair out for a while."""

    max_failures: int
    lockout_seconds: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def check(self, key: tuple[str, str]) -> None:
        """Raise `RateLimited` while `key` is locked out."""
        recent = self._recent(key)
        if len(recent) >= self.max_failures:
            retry_after = int(recent[0] + self.lockout_seconds - self.clock()) + 1
            raise RateLimited(
                f"too many failed logins; try again in {retry_after} s", retry_after=retry_after
            )

    def failed(self, key: tuple[str, str]) -> None:
        self._failures.setdefault(key, []).append(self.clock())

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: tuple[str, str]) -> list[float]:
        horizon = self.clock() - self.lockout_seconds
        recent = [t for t in self._failures.get(key, []) if t > horizon]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent


async def register(
    db: AsyncSession, settings: Settings, username: str, password: str, email: str | None
) -> User:
    """Create an account: the first becomes an active admin, later ones follow REGISTRATION."""
    is_first = (await db.scalar(select(func.count()).select_from(User))) == 0
    if not is_first and settings.registration == Registration.CLOSED:
        raise Forbidden("registration is closed; ask an administrator for an account")
    user = User(
        username=username,
        email=email,
        password_hash=hash_password(password),
        role="admin" if is_first else "user",
        is_active=is_first or settings.registration == Registration.OPEN,
    )
    db.add(user)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise Conflict("that username is taken") from None
    return user


async def create_user(
    db: AsyncSession, username: str, password: str, *, admin: bool = False
) -> User:
    """Create an active account directly (CLI `user create`)."""
    user = User(
        username=username,
        password_hash=hash_password(password),
        role="admin" if admin else "user",
        is_active=True,
    )
    db.add(user)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise Conflict(f"user {username!r} already exists") from None
    return user


async def authenticate(
    db: AsyncSession, throttle: LoginThrottle, username: str, password: str, client: str
) -> User:
    """The user these credentials name; unknown user and wrong password fail alike."""
    key = (username.lower(), client)
    throttle.check(key)
    user = await db.scalar(select(User).where(User.username == username))
    if not verify_password(password, user.password_hash if user else None) or user is None:
        throttle.failed(key)
        raise AuthError(BAD_CREDENTIALS)
    throttle.succeeded(key)
    if not user.is_active:
        raise AccountPending("your account is waiting for an administrator's approval")
    return user


async def list_users(db: AsyncSession) -> list[User]:
    return list(await db.scalars(select(User).order_by(User.id)))


async def get_user(db: AsyncSession, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


async def _admin_count(db: AsyncSession) -> int:
    query = select(func.count()).select_from(User)
    return await db.scalar(query.where(User.role == "admin", User.is_active)) or 0


async def update_user(
    db: AsyncSession, user_id: int, *, is_active: bool | None, role: str | None
) -> User:
    """Activate, deactivate or change the role of a user; the last admin stays one."""
    user = await get_user(db, user_id)
    loses_admin = (
        user.role == "admin"
        and user.is_active
        and (is_active is False or (role is not None and role != "admin"))
    )
    if loses_admin and await _admin_count(db) <= 1:
        raise Conflict("the last active admin cannot be deactivated or demoted")
    if is_active is not None:
        user.is_active = is_active
    if role is not None:
        user.role = role
    await db.commit()
    return user


async def delete_user(db: AsyncSession, user_id: int) -> None:
    """Remove a user and everything they own."""
    user = await get_user(db, user_id)
    if user.role == "admin" and user.is_active and await _admin_count(db) <= 1:
        raise Conflict("the last active admin cannot be removed")
    await db.delete(user)
    await db.commit()
