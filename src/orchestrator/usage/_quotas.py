"""Quotas: tokens and runs per UTC day and runs at once, per role and per user.

The role `user` has the settings' defaults (`QUOTA_TOKENS_PER_DAY`, `QUOTA_RUNS_PER_DAY`,
`QUOTA_CONCURRENT_RUNS`); an admin's own quota for one user (`user_quotas`) replaces any
of them, for admins too. Admission counts and inserts under a lock on the user's row, so
two API processes cannot both let the last run in (on SQLite, one process holds the
database and its own lock serialises admissions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.core.errors import NotFound, QuotaExceeded
from orchestrator.db.models import ModelUsage, Run, User, UserQuota, utcnow

ACTIVE_STATUSES = ("queued", "running", "waiting")


def day_start(now: datetime | None = None) -> datetime:
    """The start of the current UTC day."""
    now = now or utcnow()
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def next_reset(now: datetime | None = None) -> datetime:
    """When the daily counts start again: the next UTC midnight."""
    return day_start(now) + timedelta(days=1)


@dataclass(frozen=True)
class QuotaLimits:
    """A user's limits in force; None: unlimited."""

    tokens_per_day: int | None = None
    runs_per_day: int | None = None
    concurrent_runs: int | None = None


@dataclass(frozen=True)
class QuotaUse:
    """What a user used today, and what runs now."""

    tokens_today: int
    runs_today: int
    active_runs: int


class Quotas:
    """Reads and sets quotas, admits runs and checks the token quota during a turn."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessions = sessions

    def role_limits(self, role: str) -> QuotaLimits:
        """The settings' defaults for a role (only `user` has any)."""
        if role != "user":
            return QuotaLimits()
        s = self.settings
        return QuotaLimits(s.quota_tokens_per_day, s.quota_runs_per_day, s.quota_concurrent_runs)

    async def override(self, db: AsyncSession, user_id: int) -> UserQuota | None:
        """The admin's own quota for `user_id`, if any (`NotFound` for no such user)."""
        if await db.scalar(select(User.id).where(User.id == user_id)) is None:
            raise NotFound("user not found")
        return await db.get(UserQuota, user_id)

    async def set_override(
        self,
        db: AsyncSession,
        user_id: int,
        *,
        tokens_per_day: int | None,
        runs_per_day: int | None,
        concurrent_runs: int | None,
    ) -> UserQuota:
        """Replace the user's own quota (None fields: the role's default)."""
        row = await self.override(db, user_id)
        if row is None:
            row = UserQuota(user_id=user_id)
            db.add(row)
        row.tokens_per_day = tokens_per_day
        row.runs_per_day = runs_per_day
        row.concurrent_runs = concurrent_runs
        row.updated_at = utcnow()
        await db.commit()
        return row

    async def limits(self, db: AsyncSession, user_id: int) -> QuotaLimits:
        """The limits in force for `user_id`."""
        row = (await db.execute(_LIMITS, {"user_id": user_id})).first()
        return self._limits_of_row(row)

    def _limits_of_row(
        self, row: Row[str, int, int | None, int | None, int | None] | None
    ) -> QuotaLimits:
        """The limits of a `_LIMITS` row (None: no such user, a plain user's)."""
        if row is None:
            return self.role_limits("user")
        defaults = self.role_limits(row.role or "user")
        if row.quota_user_id is None:  # no quota of their own
            return defaults
        return QuotaLimits(
            _first(row.tokens_per_day, defaults.tokens_per_day),
            _first(row.runs_per_day, defaults.runs_per_day),
            _first(row.concurrent_runs, defaults.concurrent_runs),
        )

    async def use(self, db: AsyncSession, user_id: int) -> QuotaUse:
        """The user's tokens and runs of today, and active runs (nested runs count with
        their parent)."""
        row = (await db.execute(_USE, {"user_id": user_id, "since": day_start()})).one()
        return QuotaUse(*row)

    async def admit(self, db: AsyncSession, user_id: int) -> None:
        """`QuotaExceeded` when a new run would go over one of the user's quotas. Call it
        in the transaction that inserts the run: the user's row stays locked until then."""
        await db.run_sync(lambda session: self.admit_on(session.connection(), user_id))

    def admit_on(self, connection: Connection, user_id: int) -> None:
        """`admit`, in the transaction of a synchronous `connection` (`db.session.transact`):
        two statements, the user's row locked by the first (on Postgres; on SQLite, one
        process holds the database and its own lock serialises admissions)."""
        row = connection.execute(_LIMITS_LOCKED, {"user_id": user_id}).first()
        limits = self._limits_of_row(row)
        if limits == QuotaLimits():
            return
        params = {"user_id": user_id, "since": day_start()}
        used = QuotaUse(*connection.execute(_USE, params).one())
        reset = next_reset().isoformat()
        if limits.concurrent_runs is not None and used.active_runs >= limits.concurrent_runs:
            raise QuotaExceeded(
                f"you have {used.active_runs} runs going (QUOTA_CONCURRENT_RUNS = "
                f"{limits.concurrent_runs}): wait for one to end, or cancel one",
                reset_at=None,
            )
        if limits.runs_per_day is not None and used.runs_today >= limits.runs_per_day:
            raise QuotaExceeded(
                f"you started {used.runs_today} runs today (QUOTA_RUNS_PER_DAY = "
                f"{limits.runs_per_day}); the count starts again at {reset}",
                reset_at=reset,
            )
        if limits.tokens_per_day is not None and used.tokens_today >= limits.tokens_per_day:
            raise QuotaExceeded(
                token_message(used.tokens_today, limits.tokens_per_day), reset_at=reset
            )

    def tokens_per_day(self, role: str, own: int | None) -> int | None:
        """The daily token quota in force for a user of `role` whose own quota (set by an
        admin) is `own` (None: the role's default)."""
        return _first(own, self.role_limits(role).tokens_per_day)

    async def token_limit(self, user_id: int) -> int | None:
        """The user's daily token quota in force (None: none)."""
        async with self.sessions() as db:
            return (await self.limits(db, user_id)).tokens_per_day

    async def check_tokens(self, user_id: int, limit: int) -> None:
        """`QuotaExceeded` once the user's tokens of today reach `limit`."""
        async with self.sessions() as db:
            used = await tokens_since(db, user_id, day_start())
        if used >= limit:
            raise QuotaExceeded(token_message(used, limit), reset_at=next_reset().isoformat())


def token_message(used: int, limit: int) -> str:
    return (
        f"the token quota is used up: {used} tokens today (QUOTA_TOKENS_PER_DAY = {limit}); "
        f"it starts again at {next_reset().isoformat()}"
    )


async def tokens_since(db: AsyncSession, user_id: int, since: datetime) -> int:
    """Tokens in and out the user's model calls used since `since`."""
    total = await db.scalar(_TOKENS, {"user_id": user_id, "since": since})
    return int(total or 0)


def _first(own: int | None, default: int | None) -> int | None:
    return own if own is not None else default


# Built once: every admission asks. The user `:user_id`'s role and own quota (None
# columns without one).
_LIMITS = (
    select(
        User.role,
        UserQuota.user_id.label("quota_user_id"),
        UserQuota.tokens_per_day,
        UserQuota.runs_per_day,
        UserQuota.concurrent_runs,
    )
    .outerjoin(UserQuota, UserQuota.user_id == User.id)
    .where(User.id == bindparam("user_id"))
)
_LIMITS_LOCKED = _LIMITS.with_for_update(of=User)
_TOKENS = select(func.coalesce(func.sum(ModelUsage.tokens_in + ModelUsage.tokens_out), 0)).where(
    ModelUsage.user_id == bindparam("user_id"), ModelUsage.created_at >= bindparam("since")
)
_TOP_RUNS = select(func.count()).where(
    Run.user_id == bindparam("user_id"), Run.parent_run_id.is_(None)
)
# What the user used (`QuotaUse`, in its order) since `:since`, in one statement.
_USE = select(
    _TOKENS.scalar_subquery(),
    _TOP_RUNS.where(Run.created_at >= bindparam("since")).scalar_subquery(),
    _TOP_RUNS.where(Run.status.in_(ACTIVE_STATUSES)).scalar_subquery(),
)
