"""Due times on the wall clock of IANA zones, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.core.errors import InvalidInput
from orchestrator.schedules import check_cron, next_due, parse_zone


def _series(cron: str, zone: str, start: datetime, count: int) -> list[datetime]:
    times, moment = [], start
    for _ in range(count):
        moment = next_due(cron, zone, moment)
        times.append(moment)
    return times


def test_daily_job_keeps_its_local_hour_across_the_spring_change_in_new_york() -> None:
    # 2026-03-08: clocks go from 02:00 EST to 03:00 EDT; 09:00 local moves from 14:00 to
    # 13:00 UTC.
    times = _series("0 9 * * *", "America/New_York", datetime(2026, 3, 7, 0, tzinfo=UTC), 3)
    assert times == [
        datetime(2026, 3, 7, 14, tzinfo=UTC),
        datetime(2026, 3, 8, 13, tzinfo=UTC),
        datetime(2026, 3, 9, 13, tzinfo=UTC),
    ]


def test_time_skipped_by_the_spring_change_runs_once_just_after_the_gap() -> None:
    # 2026-03-29 in Paris: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    times = _series("30 2 * * *", "Europe/Paris", datetime(2026, 3, 28, 12, tzinfo=UTC), 3)
    assert times == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 CEST, the first instant after
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 31, 0, 30, tzinfo=UTC),
    ]


def test_fixed_time_repeated_by_the_autumn_change_runs_once() -> None:
    # 2026-10-25 in Paris: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    times = _series("30 2 * * *", "Europe/Paris", datetime(2026, 10, 24, 12, tzinfo=UTC), 3)
    assert times == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST; not again at 02:30 CET
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 27, 1, 30, tzinfo=UTC),
    ]


def test_interval_job_runs_at_each_real_half_hour_through_the_autumn_change() -> None:
    times = _series("*/30 * * * *", "Europe/Paris", datetime(2026, 10, 24, 23, 40, tzinfo=UTC), 5)
    assert times == [
        datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),  # 02:00 CET, the repeated hour
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("cron", "says"),
    [
        ("61 * * * *", "out of range"),
        ("* * *", "five fields"),
        ("* * * * * *", "five fields"),
        ("every day", "five fields"),
        ("a b c d e", "not acceptable"),
        ("0 7 * * mon-xyz", "invalid cron expression"),
    ],
)
def test_bad_cron_expression_is_refused_with_its_reason(cron: str, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_cron(cron)
    assert says in refused.value.message and repr(cron) in refused.value.message


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "", "../../etc/passwd", "/etc/localtime", "UTC+2"]
)
def test_unknown_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(InvalidInput, match="unknown time zone"):
        parse_zone(zone)


def test_cron_expression_is_normalised() -> None:
    assert check_cron("  0   7 * *  1-5 ") == "0 7 * * 1-5"
