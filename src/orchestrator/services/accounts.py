"""Registration, login (with throttling) and user administration."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.auth import LoginThrottle, UserDataPurger
from orchestrator.core.config import Registration, Settings
from orchestrator.core.errors import (
    AccountPending,
    AuthError,
    Conflict,
    Forbidden,
    NotFound,
)
from orchestrator.core.security import PasswordHasher, hash_password
from orchestrator.db.models import User

log = logging.getLogger(__name__)
BAD_CREDENTIALS = "incorrect username or password"
_SIGNUP_LOCK = 7_316_852_002  # Postgres advisory lock that serialises sign-ups


async def _serialize_signups(db: AsyncSession) -> None:
    """Take the database's write lock first, so that "is this the first account?" and the
    insert happen as one step: concurrent first sign-ups make exactly one admin."""
    if db.bind.dialect.name == "postgresql":
        await db.execute(text(f"SELECT pg_advisory_xact_lock({_SIGNUP_LOCK})"))
    else:
        # A write statement (even one touching no row) opens SQLite's write transaction
        # now, waiting on the busy timeout; a read first would later fail to upgrade
        # with "database is locked" instead of waiting.
        await db.execute(
            update(User).where(User.id == -1).values(role=User.role),
            execution_options={"synchronize_session": False},
        )


async def register(
    db: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    username: str,
    password: str,
    email: str | None,
) -> User:
    """Create an account: the first becomes an active admin, later ones follow REGISTRATION."""
    password_hash = await hasher.hash(password)  # before the lock: hashing is slow
    await _serialize_signups(db)
    is_first = (await db.scalar(select(func.count()).select_from(User))) == 0
    if not is_first and settings.registration == Registration.CLOSED:
        await db.rollback()
        raise Forbidden(
            "registration is closed; ask an administrator for an account",
            code="registration_closed",
        )
    if await _find_username(db, username) is not None:
        await db.rollback()
        raise Conflict("that username is taken", code="username_taken")
    user = User(
        username=username,
        email=email,
        password_hash=password_hash,
        role="admin" if is_first else "user",
        is_active=is_first or settings.registration == Registration.OPEN,
    )
    db.add(user)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise Conflict("that username is taken", code="username_taken") from None
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


async def _find_username(db: AsyncSession, username: str) -> User | None:
    """The account with this username, whatever its case."""
    return await db.scalar(select(User).where(func.lower(User.username) == username.lower()))


async def authenticate(
    db: AsyncSession,
    throttle: LoginThrottle,
    hasher: PasswordHasher,
    username: str,
    password: str,
    client: str,
) -> User:
    """The user these credentials name; unknown user and wrong password fail alike."""
    key = (username.lower(), client)
    await throttle.check(key)
    user = await _find_username(db, username)
    await db.commit()  # end the read: do not hold a connection while hashing
    if not await hasher.verify(password, user.password_hash if user else None) or user is None:
        await throttle.failed(key)
        raise AuthError(BAD_CREDENTIALS, code="invalid_credentials")
    await throttle.succeeded(key)
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
        raise Conflict("the last active admin cannot be deactivated or demoted", code="last_admin")
    ends_sessions = (is_active is False and user.is_active) or (
        role is not None and role != user.role
    )
    if is_active is not None:
        user.is_active = is_active
    if role is not None:
        user.role = role
    if ends_sessions:  # tokens issued under the old state are refused from now on
        user.token_version += 1
    await db.commit()
    return user


async def set_language(db: AsyncSession, user_id: int, language: str | None) -> User:
    """The user's language ("en", "fr"; None: the browser's)."""
    row = await get_user(db, user_id)
    row.language = language
    await db.commit()
    return row


async def change_password(
    db: AsyncSession, hasher: PasswordHasher, user: User, current: str, new: str
) -> User:
    """Replace the user's password after checking the current one; ends every session."""
    row = await get_user(db, user.id)
    if not await hasher.verify(current, row.password_hash):
        raise AuthError("the current password is wrong", code="wrong_password")
    row.password_hash = await hasher.hash(new)
    row.token_version += 1
    await db.commit()
    return row


async def end_sessions(db: AsyncSession, user_id: int) -> User:
    """Refuse every token issued to the user so far (logout everywhere)."""
    row = await get_user(db, user_id)
    row.token_version += 1
    await db.commit()
    return row


async def delete_user(
    db: AsyncSession, user_id: int, purgers: Sequence[UserDataPurger] = ()
) -> None:
    """Remove a user and everything they own: sessions end first, then per-user data
    outside the database (workspace, memory vectors...), then the rows (they cascade)."""
    user = await get_user(db, user_id)
    if user.role == "admin" and user.is_active and await _admin_count(db) <= 1:
        raise Conflict("the last active admin cannot be removed", code="last_admin")
    user.is_active = False
    user.token_version += 1
    await db.commit()
    for purger in purgers:
        try:
            await purger.purge_user(user_id)
        except Exception:
            # The account goes anyway: its id is never reused, so what is left is
            # unreachable; the log says what to clean by hand.
            log.exception("could not purge user %d's data from %r", user_id, purger)
    await db.delete(user)
    await db.commit()
