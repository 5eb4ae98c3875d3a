"""Runs nobody starts by hand: cron schedules in IANA time zones, and webhook triggers.

book = ScheduleBook(sessions, runs)          # a user's schedules (owner-scoped)
scheduler = Scheduler(sessions, runs, poll_seconds=10)
await scheduler.start()                      # one run per due time, across processes
triggers = TriggerBook(sessions, runs, SecretBox(key))
run_id = await triggers.deliver(trigger_id, timestamp, signature, body)
"""

from orchestrator.schedules._cron import check_cron, next_due, parse_zone
from orchestrator.schedules._schedules import ScheduleBook, Scheduler, schedule_origin
from orchestrator.schedules._triggers import (
    HOOK_MAX_BYTES,
    MAX_SKEW_SECONDS,
    TriggerBook,
    read_capped,
    sign,
    trigger_origin,
)

__all__ = [
    "HOOK_MAX_BYTES",
    "MAX_SKEW_SECONDS",
    "ScheduleBook",
    "Scheduler",
    "TriggerBook",
    "check_cron",
    "next_due",
    "parse_zone",
    "read_capped",
    "schedule_origin",
    "sign",
    "trigger_origin",
]
