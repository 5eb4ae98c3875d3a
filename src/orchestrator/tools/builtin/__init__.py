"""The built-in catalogue, registered through the same entry point plugins use.

One module per family: files (read, write, list, search, grep, info), edit (edit,
patch, delete, move, folders), archive, data (DuckDB), text (hash, encode, diff,
units), web (HTTP, reading pages), search, dev (Python, git, checks), commands, info.
"""

from __future__ import annotations

from orchestrator.tools.base import Tool
from orchestrator.tools.builtin.archive import ARCHIVE_TOOLS
from orchestrator.tools.builtin.commands import execute_command
from orchestrator.tools.builtin.data import DATA_TOOLS
from orchestrator.tools.builtin.dev import DEV_TOOLS
from orchestrator.tools.builtin.edit import EDIT_TOOLS
from orchestrator.tools.builtin.files import (
    file_info,
    grep,
    list_directory,
    read_file,
    search_files,
    write_file,
)
from orchestrator.tools.builtin.info import get_datetime, get_system_info, list_models
from orchestrator.tools.builtin.maths import calculate
from orchestrator.tools.builtin.search import SEARCH_TOOLS
from orchestrator.tools.builtin.text import TEXT_TOOLS
from orchestrator.tools.builtin.web import http_request, web_read
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
CATALOGUE_TOOLS: tuple[Tool, ...] = (
    grep,
    file_info,
    *EDIT_TOOLS,
    *ARCHIVE_TOOLS,
    *DATA_TOOLS,
    *TEXT_TOOLS,
    web_read,
    *SEARCH_TOOLS,
    *DEV_TOOLS,
    list_models,
)


def register(registry: ToolRegistry) -> None:
    """Add the built-in tools to a registry (the `orchestrator.tools` entry point `core`)."""
    for item in (*CORE_TOOLS, *CATALOGUE_TOOLS):
        registry.register(item)


__all__ = ["CATALOGUE_TOOLS", "CORE_TOOLS", "register"]
