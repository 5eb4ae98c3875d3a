"""The seccomp filter every sandboxed command runs under, compiled once with libseccomp.

Everything is allowed except what a command never needs and an attacker reaches for
to escape or to spy: tracing other processes, mounting, entering or making namespaces,
the kernel keyring, eBPF, userfaultfd, perf events, loading kernels or modules, reading
other processes' memory, and raw or packet sockets. A refused call fails with EPERM, as
if it were forbidden by permissions, so programs fail cleanly instead of crashing.
Syscalls of another ABI (32-bit x86 on x86-64) kill the process: libseccomp's default
for a foreign architecture, which closes the old `int 0x80` way around filters.

The filter reaches bubblewrap as BPF bytes through `--seccomp FD`; bwrap installs it
(with no_new_privs) just before it runs the command.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from functools import cache

DENIED_SYSCALLS = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "userfaultfd",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
)
_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
_SOCK_TYPE_MASK = 0xF  # the type without SOCK_NONBLOCK / SOCK_CLOEXEC


@dataclass(frozen=True, slots=True)
class SeccompFilter:
    """The compiled filter, or why there is none."""

    program: bytes | None
    reason: str

    @property
    def on(self) -> bool:
        """Whether commands run under it."""
        return self.program is not None


@cache
def seccomp_filter() -> SeccompFilter:
    """Compile the filter for this machine (once per process)."""
    try:
        import pyseccomp as seccomp  # loads the system's libseccomp.so.2
    except (ImportError, OSError, RuntimeError) as exc:
        return SeccompFilter(
            None, f"libseccomp cannot be loaded ({exc}); apt-get install libseccomp2"
        )
    try:
        program = _compile(seccomp)
    except OSError as exc:
        return SeccompFilter(None, f"libseccomp could not build the filter: {exc}")
    denied = len(DENIED_SYSCALLS) + 3  # + namespace clones, clone3, raw/packet sockets
    return SeccompFilter(program, f"{denied} kinds of system calls refused (EPERM)")


def _compile(seccomp: object) -> bytes:
    sc: object = seccomp
    refuse = sc.ERRNO(errno.EPERM)  # type: ignore[attr-defined]
    rules = sc.SyscallFilter(sc.ALLOW)  # type: ignore[attr-defined]
    arg = sc.Arg  # type: ignore[attr-defined]
    for name in DENIED_SYSCALLS:
        try:
            rules.add_rule(refuse, name)
        except (OSError, ValueError):  # a syscall this architecture does not have
            continue
    for flag in _NAMESPACE_FLAGS:  # clone() into new namespaces: unshare by another name
        rules.add_rule(refuse, "clone", arg(0, sc.MASKED_EQ, flag, flag))  # type: ignore[attr-defined]
    # clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc use clone.
    rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # type: ignore[attr-defined]
    rules.add_rule(refuse, "socket", arg(0, sc.EQ, socket.AF_PACKET))  # type: ignore[attr-defined]
    for family in (socket.AF_INET, socket.AF_INET6):
        rules.add_rule(
            refuse,
            "socket",
            arg(0, sc.EQ, family),  # type: ignore[attr-defined]
            arg(1, sc.MASKED_EQ, _SOCK_TYPE_MASK, socket.SOCK_RAW),  # type: ignore[attr-defined]
        )
    fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    with os.fdopen(fd, "w+b") as buffer:
        rules.export_bpf(buffer)
        buffer.seek(0)
        return buffer.read()
