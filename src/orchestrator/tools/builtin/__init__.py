"""The nine core tools, registered through the same entry point plugins use."""

from __future__ import annotations

from orchestrator.tools.base import Tool
from orchestrator.tools.builtin.commands import execute_command
from orchestrator.tools.builtin.files import list_directory, read_file, search_files, write_file
from orchestrator.tools.builtin.info import get_datetime, get_system_info
from orchestrator.tools.builtin.maths import calculate
from orchestrator.tools.builtin.web import http_request
from orchestrator.tools.registry import ToolRegistry

CORE_TOOLS: tuple[Tool, ...] = (
    execute_command,
    read_file,
    write_file,
    list_directory,
    search_files,
    get_system_info,
    get_datetime,
    calculate,
    http_request,
)


def register(registry: ToolRegistry) -> None:
    """Add the core tools to a registry (the `orchestrator.tools` entry point `core`)."""
    for item in CORE_TOOLS:
        registry.register(item)


__all__ = ["CORE_TOOLS", "register"]
