"""Facts about the host and the time: safe to share with any user."""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import time
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import psutil
from pydantic import Field

from orchestrator.core.errors import ToolArgumentError, ToolError
from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.sandbox import sandbox_status

_MIB = 1024 * 1024


@tool(category="system", risk=Risk.READ)
async def get_system_info(ctx: ToolContext) -> dict[str, Any]:
    """Describe the machine: OS, CPU, memory, disk space of the workspace, sandbox."""
    return await asyncio.to_thread(_system_info, ctx)


def _system_info(ctx: ToolContext) -> dict[str, Any]:
    # Deliberately no host name, user names, paths or environment: only public facts.
    memory = psutil.virtual_memory()
    disk = shutil.disk_usage(ctx.workspace)
    try:
        distribution = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        distribution = ""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "os": platform.system(),
        "kernel": platform.release(),
        "distribution": distribution,
        "architecture": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in load] if load else None,
        "memory_total_mib": memory.total // _MIB,
        "memory_available_mib": memory.available // _MIB,
        "workspace_disk_free_mib": disk.free // _MIB,
        "workspace_disk_total_mib": disk.total // _MIB,
        "uptime_seconds": round(time.time() - psutil.boot_time()),
        "command_sandbox": sandbox_status(ctx.settings).level,
    }


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone(name: str) -> ZoneInfo:
    """The zone, or a ToolArgumentError the model can act on (a region alone is no zone)."""
    known = _known_zones()
    if name not in known and name.upper() not in ("UTC", "GMT"):
        inside = sorted(z for z in known if z.startswith(f"{name}/"))[:5]
        hint = f"; zones in it: {', '.join(inside)}..." if inside else ""
        raise ToolArgumentError(
            f"unknown time zone {name!r}{hint}; use an IANA name such as 'Europe/Paris'"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a directory, a broken file...
        raise ToolArgumentError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'"
        ) from None


@tool(category="utility", risk=Risk.SAFE)
async def get_datetime(
    ctx: ToolContext,
    timezone: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$",
            description="IANA time zone such as 'Europe/Paris' or 'UTC'; default: the server's",
        ),
    ] = None,
) -> dict[str, Any]:
    """The current date and time, in a given time zone."""
    now = datetime.now().astimezone() if timezone is None else datetime.now(_zone(timezone))
    offset = now.utcoffset()
    return {
        "timezone": timezone or now.tzname(),
        "iso": now.isoformat(timespec="seconds"),
        "date": now.date().isoformat(),
        "time": now.strftime("%H:%M:%S"),
        "weekday": now.strftime("%A"),
        "utc_offset": now.strftime("%z"),
        "offset_hours": offset.total_seconds() / 3600 if offset is not None else 0.0,
        "unix": int(now.timestamp()),
    }


@tool(category="system", risk=Risk.READ)
async def list_models(ctx: ToolContext) -> dict[str, Any]:
    """List the language models this server can use, with their capabilities."""
    if ctx.list_models is None:
        raise ToolError("the model list is not available in this context")
    models = await ctx.list_models()
    return {
        "models": [
            {
                "name": m.name,
                "id": m.id or m.name,  # what picks it: NAME@CONNECTION when two serve it
                "connection": m.connection,
                "provider": m.provider,
                "capabilities": [str(c) for c in m.capabilities],
                "context_length": m.context_length,
                "demo": m.demo,
            }
            for m in models[:100]
        ]
    }
