"""Run one shell command in a user's workspace, isolated from the host.

With bubblewrap (`SANDBOX=auto|bwrap`) the command gets its own user, pid, network,
IPC, UTS (and cgroup) namespaces, runs as uid 65534 with no capabilities and no
network, sees `/usr` read-only, a handful of harmless `/etc` files, a private `/tmp`,
and the workspace read-write at `/workspace`. It never sees DATA_DIR, the secret key
or the server's environment.

A seccomp filter (libseccomp, through `--seccomp FD`) refuses the system calls used to
escape or spy: ptrace, mount, unshare/setns, keyctl, bpf, userfaultfd, perf events,
kexec, modules, process_vm_*, raw and packet sockets. bwrap's own options reach it
through `--args FD`, so `/proc/1/cmdline` in the sandbox shows no host path.

Limits: rlimits (CPU seconds, address space, file size, open files, processes) are set
by `prlimit` inside the sandbox; a `pids` cgroup caps the process count where one is
writable (needed when the server runs as root: the kernel exempts root from
RLIMIT_NPROC), and a `memory` cgroup caps the memory of all its processes together
(the result says "memory limit" when it ended the command). WORKSPACE_QUOTA_MB holds:
no file may outgrow what is left of the quota (RLIMIT_FSIZE), the workspace's size is
watched while the command runs, and what a command wrote over the quota is removed
(the result says "workspace quota" and names it). A wall-clock timeout, and
cancellation, kill the whole tree: the pid namespace's init is killed, and we wait
until it is gone, which the kernel allows only once every process in the namespace -
double-forked daemons included - has died.

`SANDBOX=none` (an explicit admin opt-out) runs `/bin/sh -c` directly in the
workspace with a cleared environment, rlimits and the timeout, as the server's user.

    runner = SandboxedCommandRunner(settings)
    result = await runner.run("ls -la", workspace.root, timeout=10, on_output=send)

A long-lived program (an MCP server) runs the same way, as an argv with pipes:

    process = await SandboxedProcess.start(settings, ["mcp-server-time"], workspace.root)
    ...  # process.stdin / process.stdout
    await process.stop()  # the whole tree is gone when this returns
"""

from orchestrator.tools.sandbox._launch import (
    SANDBOX_WORKDIR,
    TOOLCHAIN_DIR,
    ResourceLimits,
    toolchain_binaries,
)
from orchestrator.tools.sandbox._process import SandboxedProcess
from orchestrator.tools.sandbox._runner import (
    MAX_OUTPUT_BYTES,
    CommandResult,
    OutputCallback,
    SandboxedCommandRunner,
)
from orchestrator.tools.sandbox._status import (
    SandboxFeature,
    SandboxStatus,
    find_bwrap,
    sandbox_status,
)

__all__ = [
    "MAX_OUTPUT_BYTES",
    "SANDBOX_WORKDIR",
    "TOOLCHAIN_DIR",
    "CommandResult",
    "OutputCallback",
    "ResourceLimits",
    "SandboxFeature",
    "SandboxStatus",
    "SandboxedCommandRunner",
    "SandboxedProcess",
    "find_bwrap",
    "sandbox_status",
    "toolchain_binaries",
]
