"""The argv and file descriptors of one command: bubblewrap's, or the plain shell's."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from orchestrator.tools.sandbox._cgroup import CommandCgroup, controller_base

SANDBOX_WORKDIR = "/workspace"
SANDBOX_UID = 65534
SEARCH_PATH = "/usr/bin:/bin:/usr/local/bin:/usr/sbin:/sbin"
PRLIMIT = "/usr/bin/prlimit"  # inside the sandbox /usr is the host's, read-only
_SANDBOX_TMP = "/tmp"  # noqa: S108 - inside the sandbox: its own private tmpfs
TOOLCHAIN_DIR = "/opt/toolchain/bin"
_SANDBOX_PATH = f"/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:{TOOLCHAIN_DIR}"
# Self-contained binaries from the project's own environment that Debian does not ship
# (ruff is one static executable): shown read-only at TOOLCHAIN_DIR inside the sandbox.
TOOLCHAIN_BINARIES = ("ruff",)
# Only files that hold no secrets; /etc/shadow, ssh host keys, /etc/ssl/private stay out.
_ETC_FILES = (
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "nsswitch.conf",
    "os-release",
    "debian_version",
    "mime.types",
)
# With the network on: resolving names and checking certificates as the host does.
_NETWORK_ETC = ("resolv.conf", "hosts", "host.conf", "gai.conf", "ssl", "ca-certificates")
_SYNTHETIC_ETC = {
    "/etc/passwd": "root:x:0:0:root:/root:/usr/sbin/nologin\n"
    f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/tmp:/bin/sh\n",
    "/etc/group": f"root:x:0:\nsandbox:x:{SANDBOX_UID}:\n",
    "/etc/hosts": "127.0.0.1 localhost\n::1 localhost\n",
}


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """Per-command limits; `processes` counts every process and thread of the command."""

    cpu_seconds: int = 60
    address_space_bytes: int = 1024**3
    file_size_bytes: int = 256 * 1024**2
    open_files: int = 256
    processes: int = 128
    memory_bytes: int = 1024**3  # every process of the command together (memory cgroup)
    tmp_bytes: int = 256 * 1024**2  # size of the private /tmp (tmpfs counts as memory)


@dataclass(frozen=True)
class BwrapFeatures:
    """What this bubblewrap supports (0.4 in old distributions, 0.8+ today)."""

    version: str
    disable_userns: bool
    tmpfs_size: bool
    perms: bool


@cache
def bwrap_features(bwrap: str) -> BwrapFeatures:
    """Read `bwrap --help` once per binary."""
    env = {"PATH": SEARCH_PATH}
    help_text = subprocess.run([bwrap, "--help"], capture_output=True, env=env, timeout=5)
    version = subprocess.run([bwrap, "--version"], capture_output=True, env=env, timeout=5)
    text = help_text.stdout.decode(errors="replace")
    return BwrapFeatures(
        version=version.stdout.decode(errors="replace").strip() or "bubblewrap",
        disable_userns="--disable-userns" in text,
        tmpfs_size="--size" in text,
        perms="--perms" in text,
    )


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    """A program run as argv (not through the shell), e.g. a long-lived server.

    `env` reaches the program through bwrap's own environment, never its argv (which
    any local user can read in /proc). `ro_paths` are host folders shown read-only at
    the same place; `network` keeps the host's network (off: none at all).
    """

    argv: Sequence[str]
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    ro_paths: Sequence[Path] = ()
    network: bool = False


class Launch:
    """Context manager: pipes and cgroup set up on enter, our copies closed on exit."""

    def __init__(
        self,
        bwrap: str | None,
        workspace: Path,
        command: str,
        limits: ResourceLimits,
        *,
        use_cgroup: bool = True,
        program: ProgramSpec | None = None,
        use_memory_cgroup: bool = True,
        seccomp: bytes | None = None,
    ) -> None:
        self.bwrap, self.workspace, self.command, self.limits = bwrap, workspace, command, limits
        self.program = program
        self.features = bwrap_features(bwrap) if bwrap else None
        self.info_read: int | None = None  # bwrap writes the namespace init's pid here
        self.cgroup: CommandCgroup | None = None
        self.argv: list[str] = []
        self._use_cgroup = use_cgroup
        self._use_memory_cgroup = use_memory_cgroup
        self._seccomp = seccomp
        self._child_ends: list[int] = []

    def __enter__(self) -> Launch:
        pids = controller_base("pids") if self._use_cgroup else None
        memory = controller_base("memory") if self._use_memory_cgroup else None
        if pids is not None or memory is not None:
            self.cgroup = CommandCgroup.create(
                pids=pids,
                memory=memory,
                processes=self.limits.processes,
                memory_bytes=self.limits.memory_bytes,
            )
        if self.bwrap is None:
            self.argv = self._target()
            return self
        self.info_read, info_write = os.pipe2(os.O_CLOEXEC)
        self._child_ends.append(info_write)
        self.argv = self._bwrap_argv(info_write)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_child_ends()
        if self.info_read is not None:
            with contextlib.suppress(OSError):
                os.close(self.info_read)
            self.info_read = None

    def close_child_ends(self) -> None:
        """Our copies of the fds the child inherited; close them once it started."""
        for fd in self._child_ends:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._child_ends.clear()

    def _pipe_with(self, data: bytes) -> int:
        """A readable fd the child inherits, holding `data` (a memfd: any size fits)."""
        fd = os.memfd_create("sandbox-data", os.MFD_CLOEXEC)
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        self._child_ends.append(fd)
        return fd

    def _bwrap_argv(self, info_fd: int) -> list[str]:
        assert self.bwrap is not None and self.features is not None
        features, limits = self.features, self.limits
        args = [self.bwrap, "--unshare-user"]
        if features.disable_userns:
            args.append("--disable-userns")  # no nested user namespace to regain caps in
        args += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL"]
        network = self.program is not None and self.program.network
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        if not network:
            args.append("--unshare-net")
        args += ["--unshare-cgroup-try", "--hostname", "sandbox"]
        args += ["--die-with-parent", "--new-session"]
        if self.program is None:  # a program's environment comes through bwrap's own
            args.append("--clearenv")
            for name, value in _sandbox_env().items():
                args += ["--setenv", name, value]
        args += ["--ro-bind", "/usr", "/usr", *_root_links(), *_etc_binds()]
        if network:  # name resolution and certificates, as the host has them
            args += _etc_binds(_NETWORK_ETC)
        for host, name in toolchain_binaries().items():
            args += ["--ro-bind", host, f"{TOOLCHAIN_DIR}/{name}"]
        for dest, text in _SYNTHETIC_ETC.items():
            if network and dest == "/etc/hosts":
                continue
            if features.perms:
                args += ["--perms", "0644"]
            args += ["--ro-bind-data", str(self._pipe_with(text.encode())), dest]
        args += ["--proc", "/proc", "--dev", "/dev"]
        if features.tmpfs_size:
            args += ["--size", str(limits.tmp_bytes)]
        args += ["--tmpfs", _SANDBOX_TMP]
        args += ["--bind", str(self.workspace), SANDBOX_WORKDIR]
        for path in self.program.ro_paths if self.program else ():
            args += ["--ro-bind", str(path), str(path)]
        # The root is bwrap's own tmpfs; make it read-only so that only /workspace and
        # /tmp take writes (both are separate mounts and stay writable).
        args += ["--remount-ro", "/", "--chdir", SANDBOX_WORKDIR]
        args += ["--info-fd", str(info_fd)]
        if self._seccomp is not None:
            args += ["--seccomp", str(self._pipe_with(self._seccomp))]
        # Options travel through --args FD, not argv: bwrap stays pid 1 of the sandbox,
        # and its argv (/proc/1/cmdline) would show the host's paths to the command.
        options = "".join(f"{arg}\0" for arg in args[1:]).encode()
        args = [args[0], "--args", str(self._pipe_with(options)), "--"]
        if os.path.exists(PRLIMIT):
            args += [
                PRLIMIT,
                f"--cpu={limits.cpu_seconds}",
                f"--as={limits.address_space_bytes}",
                f"--fsize={limits.file_size_bytes}",
                f"--nofile={limits.open_files}",
                f"--nproc={limits.processes}",
                "--core=0",
                "--",
            ]
        return [*args, *self._target()]

    def _target(self) -> list[str]:
        return list(self.program.argv) if self.program else ["/bin/sh", "-c", self.command]

    def popen_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for Popen / asyncio.create_subprocess_exec."""
        sandboxed = self.bwrap is not None
        rlimits = not sandboxed or not os.path.exists(PRLIMIT)
        cgroup, limits = self.cgroup, self.limits

        def prepare_child() -> None:  # runs in the child between fork and exec
            if cgroup is not None:
                cgroup.join()
            if rlimits:
                set_rlimits(limits)

        return {
            "stdin": subprocess.DEVNULL,
            "pass_fds": tuple(self._child_ends),
            # The server's environment never reaches bwrap, let alone the command.
            "env": self._env(),
            "cwd": "/" if sandboxed else str(self.workspace),
            "start_new_session": True,
            "preexec_fn": prepare_child if (cgroup or rlimits) else None,
        }

    def _env(self) -> dict[str, str]:
        if self.program is not None:
            base = _sandbox_env() if self.bwrap else _plain_env(self.workspace)
            return {**base, **self.program.env}
        return {"PATH": SEARCH_PATH} if self.bwrap else _plain_env(self.workspace)


def _sandbox_env() -> dict[str, str]:
    return {"PATH": _SANDBOX_PATH, "HOME": _SANDBOX_TMP, "LANG": "C.UTF-8", "TERM": "dumb"}


@cache
def toolchain_binaries() -> dict[str, str]:
    """Host path -> name of the extra binaries commands see (those installed here)."""
    found: dict[str, str] = {}
    for name in TOOLCHAIN_BINARIES:
        host = Path(sys.prefix) / "bin" / name
        if host.is_file() and not host.is_symlink():
            with host.open("rb") as file:
                if file.read(4) == b"\x7fELF":
                    found[str(host)] = name
    return found


def _root_links() -> list[str]:
    """/bin, /lib... as on the host: symlinks into /usr on merged-/usr systems."""
    args: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    return args


def _etc_binds(names: Sequence[str] = _ETC_FILES) -> list[str]:
    args: list[str] = []
    for name in names:
        host = Path("/etc") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/etc/{name}"]
        elif host.exists():
            args += ["--ro-bind", str(host), f"/etc/{name}"]
    return args


def _plain_env(workspace: Path) -> dict[str, str]:
    return {"PATH": _SANDBOX_PATH, "HOME": str(workspace), "LANG": "C.UTF-8", "TERM": "dumb"}


def set_rlimits(limits: ResourceLimits) -> None:
    """Apply the limits to the calling process (a child, before exec)."""
    # No RLIMIT_NPROC here: outside a user namespace it counts every process of the
    # server's user, so it would break the server rather than bound the command.
    for which, value in (
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_AS, limits.address_space_bytes),
        (resource.RLIMIT_FSIZE, limits.file_size_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(which, (value, value))
