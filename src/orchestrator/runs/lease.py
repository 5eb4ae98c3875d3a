"""The fencing token of a run's writers: the lease they were opened under.

A run's lease (`runs.lease_owner`) says which process may execute it. A holder that
stalls past its lease (load, a long GC pause, SIGSTOP) may find, when it wakes, that
another process has taken the run over. Its writers carry the `Lease` they were opened
under, and every write and publish checks it atomically against the current holder -
a conditional update of the run's row in the database, a script against the run's owner
key in Redis - so a holder that lost its lease can no longer add to the log or to the
live stream (`LeaseLost`), even before its heartbeat notices and cancels its task.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Lease:
    """Held by `owner` on the row of run `run_id` (a child run writes under its root's)."""

    run_id: str
    owner: str


class LeaseLost(Exception):
    """The lease a writer was opened under now belongs to another process."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(f"run {lease.run_id}: lease of {lease.owner} taken over")
        self.lease = lease


# The lease the current task executes under (set by the executor that holds it; the
# runs a run delegates to execute in its task, under the same lease).
held_lease: ContextVar[Lease | None] = ContextVar("held_lease", default=None)
