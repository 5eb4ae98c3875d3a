"""A discovered MCP tool as a registry `Tool`: its schema is the server's own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from orchestrator.core.errors import ToolArgumentError
from orchestrator.tools.base import Risk, Tool, ToolContext

Invoke = Callable[[ToolContext, dict[str, Any]], Awaitable[str]]


class _AnyArguments(BaseModel):
    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class McpTool(Tool):
    """A tool of an MCP server; arguments are checked against the server's JSON schema."""

    schema: dict[str, Any] = field(default_factory=dict, repr=False)
    server_id: str = ""
    remote_name: str = ""
    invoke: Invoke | None = field(default=None, repr=False)
    _validator: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def parameters(self) -> dict[str, Any]:
        """The server's input schema."""
        return self.schema

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check arguments against the server's schema; `ToolArgumentError` says what is wrong."""
        if not self._validator:
            import jsonschema  # lazily: only MCP calls need it

            cls = jsonschema.validators.validator_for(self.schema)
            self._validator.append(cls(self.schema))
        errors = sorted(self._validator[0].iter_errors(dict(arguments)), key=lambda e: e.path)
        if errors:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e.absolute_path) or 'arguments'}: {e.message[:200]}"
                for e in errors[:5]
            )
            raise ToolArgumentError(f"bad arguments for {self.name}: {problems}")
        return dict(arguments)

    def source_of(self, arguments: Mapping[str, Any]) -> str | None:
        """Where a call's content came from: its URL/path argument, else the server."""
        return super().source_of(arguments) or f"the MCP server {self.category[4:]}"

    async def __call__(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> str:
        """Validate, call the server, and render its result as text."""
        assert self.invoke is not None
        return await self.invoke(ctx, self.validate(arguments))


def make_tool(
    *,
    name: str,
    description: str,
    risk: str,
    schema: dict[str, Any],
    server_id: str,
    server_name: str,
    remote_name: str,
    invoke: Invoke,
) -> McpTool:
    """An `McpTool` that calls `invoke(ctx, arguments)`."""

    async def unused(ctx: ToolContext, **arguments: Any) -> str:  # Tool needs a function
        return await invoke(ctx, arguments)

    return McpTool(
        name=name,
        description=description or f"{remote_name} (from the MCP server {server_name})",
        category=f"mcp:{server_name}",
        risk=Risk(risk),
        function=unused,
        arguments_model=_AnyArguments,
        schema=schema,
        server_id=server_id,
        remote_name=remote_name,
        invoke=invoke,
        untrusted=True,  # an MCP server's answer is content from outside: it taints the run
    )
