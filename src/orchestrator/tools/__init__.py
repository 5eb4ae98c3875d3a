"""Tools the agents call: the interface, the registry and the built-in catalogue."""

from orchestrator.tools.base import Risk, Tool, ToolContext, tool
from orchestrator.tools.registry import ToolRegistry

__all__ = ["Risk", "Tool", "ToolContext", "ToolRegistry", "tool"]
