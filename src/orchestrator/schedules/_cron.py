"""Cron timetables in IANA time zones: parsing (croniter) and the next due time.

Due times are computed on the wall clock of the schedule's zone (zoneinfo), then kept in
UTC. Across daylight-saving changes: a time the spring change skips runs once at the
first instant after the gap (croniter's behaviour); a time the autumn change repeats runs
once for a job with a fixed hour ("30 2 * * *"), and at each real occurrence for a job
whose hour field is a wildcard ("*/30 * * * *"), as Vixie cron does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from orchestrator.core.errors import InvalidInput

MAX_CRON_LENGTH = 200


class InvalidCron(InvalidInput):
    """A cron expression croniter cannot read (422; the message says why)."""

    code = "invalid_cron"


class InvalidTimeZone(InvalidInput):
    """A time zone that is not an IANA name (422)."""

    code = "invalid_timezone"


def parse_zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or `InvalidInput` saying it is unknown."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise InvalidTimeZone(f"unknown time zone {name!r}: use an IANA name like 'Europe/Paris'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidTimeZone(
            f"unknown time zone {name!r}: use an IANA name like 'Europe/Paris'"
        ) from None


def check_cron(expression: str) -> str:
    """The expression, normalised (single spaces); `InvalidInput` naming what is wrong."""
    text = " ".join(expression.split())
    fields = text.split(" ")
    if len(text) > MAX_CRON_LENGTH or len(fields) != 5:
        raise InvalidCron(
            f"invalid cron expression {expression!r}: five fields are expected "
            "(minute hour day-of-month month day-of-week), e.g. '0 7 * * 1-5'"
        )
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (CroniterError, ValueError, KeyError) as exc:
        raise InvalidCron(f"invalid cron expression {expression!r}: {exc}") from None
    return text


def _repeated_wall_time(moment: datetime) -> bool:
    """True for the second occurrence of a wall-clock time the autumn change repeats."""
    first, second = moment.replace(fold=0), moment.replace(fold=1)
    return first.utcoffset() != second.utcoffset() and moment.utcoffset() == second.utcoffset()


def next_due(expression: str, zone: str, after: datetime) -> datetime:
    """The first due time strictly after `after` (aware), in UTC."""
    tz = parse_zone(zone)
    fixed_hour = not expression.split(" ")[1].startswith("*")
    times = croniter(expression, after.astimezone(tz))
    while True:
        candidate: datetime = times.get_next(datetime)
        if fixed_hour and _repeated_wall_time(candidate):
            continue  # ran at this wall-clock time already, before the clocks went back
        return candidate.astimezone(UTC)
