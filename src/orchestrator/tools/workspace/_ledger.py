"""WORKSPACE_QUOTA_MB as a running count instead of a walk on every write.

A user's workspace has a small count file beside it, `WORKSPACES_DIR/.usage/<id>`
(outside the tree commands see, so nothing in the sandbox can rewrite it). Every change
of the count happens under an exclusive `flock` on that file, so processes sharing the
data dir (API processes, workers) agree on it:

- a write first *claims* its bytes (refused when they do not fit), then writes its
  temporary file, then is put in place under the lock, where the size of the file it
  really replaces is settled; a write given up hands its claim back;
- a delete measures what it frees and removes it under the lock.

The count is rebuilt by a full walk (`usage_bytes`) when the file is missing or
unreadable, when the workspace directory is not the one it counted (a new user with
the same id, a restore), every `RESYNC_SECONDS` (writers the count does not see: MCP
servers working in the workspace), and after a command or any other change made behind
its back (`invalidate`). A walk starts a new *generation*: claims made before it are
void, since the walk counted what was on disk instead. What a walk may count twice (an
upload's temporary file in flight) errs on the safe side until the next walk.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.config import Settings
from orchestrator.tools.workspace._fs import DIR_FLAGS
from orchestrator.tools.workspace._usage import quota_error, usage_bytes

RESYNC_SECONDS = 60.0
LEDGER_DIR = ".usage"
_FORMAT = "v1"
# The temporary files of writes in flight: a delete does not count them as freed, since
# the write that owns them hands its own claim back.
IN_FLIGHT = re.compile(r"\.tmp-[0-9a-f]{16}|\.upload-[0-9a-f]{16}\.part")


@dataclass
class Count:
    """The count as one holder of the lock sees it; change `used` to change it."""

    used: int
    generation: int


class UsageLedger:
    """The shared byte count of one workspace (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        root: Path,
        *,
        resync_seconds: float = RESYNC_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.root = root
        self.resync_seconds = resync_seconds
        self.clock = clock

    @classmethod
    def for_root(cls, settings: Settings, root: Path) -> UsageLedger | None:
        """The ledger of a user's workspace under WORKSPACES_DIR; None for any other
        directory (a throwaway evaluation workspace is walked instead)."""
        base = settings.workspaces_dir
        if root.parent != base or not root.name.isdigit():
            return None
        return cls(base / LEDGER_DIR / root.name, root)

    @contextmanager
    def hold(self) -> Iterator[Count]:
        """The count, locked against every other process until the block ends; what the
        block sets `used` to is stored."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 256, 0).decode("ascii", errors="replace").split()
            root = os.stat(self.root, follow_symlinks=False)
            now = self.clock()
            state = _parse(raw)
            if (
                state is None
                or (state[3], state[4]) != (root.st_dev, root.st_ino)
                or state[2] <= 0
                or now - state[2] >= self.resync_seconds
            ):
                generation = state[1] + 1 if state is not None else int(now * 1000)
                state = (self._walk(), generation, now, root.st_dev, root.st_ino)
                _store(fd, state)
            count = Count(used=state[0], generation=state[1])
            yield count
            if count.used != state[0]:
                _store(fd, (max(count.used, 0), *state[1:]))
        finally:
            os.close(fd)  # releases the lock

    def invalidate(self) -> None:
        """Something changed the workspace behind the count's back (a command, a revert,
        an archive unpacked): the next holder walks it again."""
        if not self.path.exists():
            return
        fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = _parse(os.pread(fd, 256, 0).decode("ascii", errors="replace").split())
            if state is not None:
                _store(fd, (state[0], state[1], 0.0, state[3], state[4]))
        finally:
            os.close(fd)

    def used(self) -> int:
        """The count now (walking first if it is due)."""
        with self.hold() as count:
            return count.used

    def claim(self, quota_bytes: int | None, replacing: int = 0) -> Claim:
        """Start a write that will replace a file of `replacing` bytes (0: a new file)."""
        return Claim(self, quota_bytes, replacing)

    def _walk(self) -> int:
        fd = os.open(self.root, DIR_FLAGS)
        try:
            return usage_bytes(fd)
        finally:
            os.close(fd)


class Claim:
    """The bytes one write holds in the count: grown as its data comes, settled when the
    file is put in place, handed back when the write is given up."""

    def __init__(self, ledger: UsageLedger, quota_bytes: int | None, replacing: int) -> None:
        self.ledger = ledger
        self.quota_bytes = quota_bytes
        self.replacing = replacing
        self.held = 0
        self.generation: int | None = None
        self.settled = False

    def _current(self, count: Count) -> None:
        if count.generation != self.generation:  # a walk counted the disk instead
            self.held, self.generation = 0, count.generation

    def grow(self, size: int) -> None:
        """The write will be `size` bytes: `WorkspaceQuotaExceeded` if that does not fit
        (replacing the old file counts only the difference)."""
        with self.ledger.hold() as count:
            self._current(count)
            others = count.used - self.held
            if self.quota_bytes is not None:
                room = max(self.quota_bytes - (others - self.replacing), 0)
                if size > room:
                    raise quota_error(self.quota_bytes, others, size)
            want = size - self.replacing
            if want > self.held:  # a smaller file frees its bytes only once in place
                count.used += want - self.held
                self.held = want

    def commit(self, size: int, replaced_now: Callable[[], int], put: Callable[[], None]) -> None:
        """Put the file in place (`put`, under the lock) and settle the count with the size
        of the file it really replaced (`replaced_now`, read under the lock too)."""
        with self.ledger.hold() as count:
            self._current(count)
            replaced = replaced_now()
            put()
            count.used += size - replaced - self.held
            self.held, self.settled = 0, True

    def abort(self) -> None:
        """Hand back what the claim holds (the write was given up)."""
        if self.settled or self.held == 0:
            return
        with self.ledger.hold() as count:
            if count.generation == self.generation:
                count.used -= self.held
            self.held, self.settled = 0, True


def replaced_bytes(parent_fd: int, name: str) -> int:
    """What putting a file in place of `name` frees: its size, if it is a regular file
    with no other link."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 else 0


def freed_bytes(parent_fd: int, name: str) -> int:
    """What removing `name` (a file, a link or a whole tree) frees of the count: each
    file whose every link goes with it, writes in flight left out."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except OSError:
        return 0
    if stat.S_ISREG(st.st_mode):
        return st.st_size if st.st_nlink == 1 and not IN_FLIGHT.fullmatch(name) else 0
    if not stat.S_ISDIR(st.st_mode):
        return 0
    links: dict[tuple[int, int], list[int]] = {}  # inode: [size, nlink, links seen]
    try:
        for _dir, _subdirs, files, dir_fd in os.fwalk(
            name, dir_fd=parent_fd, follow_symlinks=False
        ):
            for file in files:
                if IN_FLIGHT.fullmatch(file):
                    continue
                try:
                    info = os.stat(file, dir_fd=dir_fd, follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    seen = links.setdefault(
                        (info.st_dev, info.st_ino), [info.st_size, info.st_nlink, 0]
                    )
                    seen[2] += 1
    except OSError:
        return 0  # an unreadable tree frees nothing we can vouch for: the walk will tell
    return sum(size for size, nlink, seen in links.values() if seen >= nlink)


State = tuple[int, int, float, int, int]  # used, generation, synced at, root dev, root ino


def _parse(raw: list[str]) -> State | None:
    if len(raw) != 6 or raw[0] != _FORMAT:
        return None
    try:
        used, generation = int(raw[1]), int(raw[2])
        return used, generation, float(raw[3]), int(raw[4]), int(raw[5])
    except ValueError:
        return None


def _store(fd: int, state: State) -> None:
    used, generation, synced, dev, ino = state
    data = f"{_FORMAT} {used} {generation} {synced:.3f} {dev} {ino}\n".encode("ascii")
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))
