"""The catalogue of tools, filled through the `orchestrator.tools` entry-point group.

The built-ins register through the same entry point a third-party package uses:

    [project.entry-points."orchestrator.tools"]
    mytools = "mypackage:register"        # def register(registry: ToolRegistry) -> None
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points

from orchestrator.core.errors import Conflict, ToolNotFound
from orchestrator.llm.base import ToolSpec
from orchestrator.tools.base import Tool

ENTRY_POINT_GROUP = "orchestrator.tools"
log = logging.getLogger(__name__)


class ToolRegistry:
    """Tools by name."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.register(item)

    def register(self, item: Tool) -> None:
        if item.name in self._tools:
            raise Conflict(f"a tool named {item.name!r} is already registered")
        self._tools[item.name] = item

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolNotFound(
                f"unknown tool {name!r}; available: {', '.join(sorted(self._tools))}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(sorted(self._tools.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._tools)

    def specs(self, names: Iterable[str] | None = None) -> list[ToolSpec]:
        """Specs of the named tools (all when None), for the model."""
        chosen = self if names is None else [self.get(n) for n in names]
        return [t.spec() for t in chosen]

    def extended(self, tools: Iterable[Tool]) -> ToolRegistry:
        """A new registry: these tools plus `tools` (a name already taken is skipped)."""
        extended = ToolRegistry(self._tools.values())
        for item in tools:
            if item.name not in extended:
                extended.register(item)
        return extended

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> ToolRegistry:
        """A registry filled by every installed plugin, built-ins included."""
        registry = cls()
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            register = ep.load()
            register(registry)
            log.debug("tools from %s: %d in total", ep.name, len(registry))
        return registry
