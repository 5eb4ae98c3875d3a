"""A tool is an async function with a typed signature.

    @tool(category="utility", risk=Risk.SAFE)
    async def calculate(ctx: ToolContext, expression: Annotated[str, Field(max_length=500)]) -> str:
        '''Evaluate an arithmetic expression.'''

The name comes from the function, the description from its docstring and the JSON
schema from its type hints (pydantic); arguments are validated before the call, and a
bad argument becomes a `ToolArgumentError` the model can read and correct.

A tool that brings content from outside into the turn (a web page, a search result,
an MCP server's answer, an uploaded document) declares `untrusted=True`: once such a
call has finished, the tool gate makes every later `exec` or `network` call of the run
wait for approval, naming the call that tainted it (see `Tool.source_of`). A tool whose
content is untrusted only for some arguments (`read_file` on `uploads/`) declares
`untrusted_when=predicate` instead.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from orchestrator.core.config import Settings
from orchestrator.core.errors import ToolArgumentError, ToolError
from orchestrator.llm.base import ToolSpec

if TYPE_CHECKING:  # memory's tools import this module
    from orchestrator.llm.base import ModelInfo
if TYPE_CHECKING:  # memory's and knowledge's tools import this module
    from orchestrator.knowledge import TurnKnowledge
    from orchestrator.memory import UserMemory


class Risk(StrEnum):
    """What a tool can do to the world; approval policy keys on it."""

    SAFE = "safe"  # pure computation
    READ = "read"  # reads the user's workspace or the host's public facts
    WRITE = "write"  # changes the user's workspace
    EXEC = "exec"  # runs commands
    NETWORK = "network"  # talks to other machines


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What one tool call may touch."""

    user_id: int
    workspace: Path  # the user's workspace root; exists
    settings: Settings
    run_id: str | None = None
    # Live output of long tools (execute_command streams stdout/stderr through it).
    on_output: Callable[[str], Awaitable[None]] | None = None
    # Hands a sub-task to another agent as a nested run: (agent, task) -> its answer.
    delegate: Callable[[str, str], Awaitable[str]] | None = None
    # The calling user's memories (remember/recall/forget); None where memory is off.
    memory: UserMemory | None = None
    # The models the server can use (list_models); None where no gateway is wired.
    list_models: Callable[[], Awaitable[list[ModelInfo]]] | None = None
    # The calling user's knowledge bases for this turn (search_knowledge); None: off.
    knowledge: TurnKnowledge | None = None


ToolFunction = Callable[..., Awaitable[Any]]
# The workspace paths a call will change, from its validated arguments: lets the change
# recorder keep exactly those. A tool without it that can write (risk write or exec) is
# recorded by comparing the whole workspace before and after.
TouchedPaths = Callable[[dict[str, Any]], list[str]]
# Arguments that name where an untrusted tool's content comes from, most telling first.
SOURCE_ARGUMENTS = ("url", "path", "file", "filename", "uri", "query", "collection")


@functools.lru_cache(maxsize=1024)  # MCP servers' tools bring models of their own
def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    # Each turn offers every tool: building the schemas anew was a third of a chat
    # turn's CPU on the event loop (bench/runs, py-spy).
    schema = _inline_refs(model.model_json_schema())
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


@dataclass(frozen=True)
class Tool:
    """A registered tool: metadata, argument model and the function itself."""

    name: str
    description: str
    category: str
    risk: Risk
    function: ToolFunction = field(repr=False)
    arguments_model: type[BaseModel] = field(repr=False)
    touches: TouchedPaths | None = field(default=None, repr=False)

    @property
    def changes_workspace(self) -> bool:
        """Whether a call may change the workspace (and so is recorded)."""
        return self.touches is not None or self.risk in (Risk.WRITE, Risk.EXEC)

    # Its results are content from outside (web, MCP, uploads): they taint the run.
    untrusted: bool = False
    # Or only for some (validated) arguments: e.g. a file read beneath uploads/.
    untrusted_when: Callable[[Mapping[str, Any]], bool] | None = field(default=None, repr=False)

    def brings_untrusted(self, arguments: Mapping[str, Any]) -> bool:
        """Whether a finished call with these arguments brought untrusted content in."""
        if self.untrusted:
            return True
        if self.untrusted_when is None:
            return False
        try:
            return self.untrusted_when(arguments)
        except (ToolError, KeyError, TypeError):
            return True  # arguments it cannot read: the safe side

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments (a copy: the caller may change it)."""
        return copy.deepcopy(_schema_of(self.arguments_model))

    def source_of(self, arguments: Mapping[str, Any]) -> str | None:
        """Where a call's content came from, as a person reads it (URL, file, query...)."""
        for name in SOURCE_ARGUMENTS:
            value = arguments.get(name)
            if isinstance(value, str) and value:
                return value[:500]
        return None

    def spec(self) -> ToolSpec:
        """The tool as the model sees it: one object for the tool's life, which callers
        read and never change (every turn offers every tool: copying the schemas anew
        took about 1 ms of a chat turn for the 40 built-ins)."""
        return self._spec

    @functools.cached_property
    def _spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check arguments against the schema; `ToolArgumentError` says what is wrong."""
        try:
            parsed = self.arguments_model.model_validate(dict(arguments))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                for err in exc.errors(include_url=False)
            )
            raise ToolArgumentError(f"bad arguments for {self.name}: {problems}") from None
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}

    async def __call__(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> str:
        """Validate, run, and render the result as the text the model observes."""
        result = await self.function(ctx, **self.validate(arguments))
        if isinstance(result, str):
            return result
        return json.dumps(result, ensure_ascii=False, default=str)


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with nested models written in place of `$ref`s to `$defs`: grammar
    builders (llama.cpp) and many model servers do not follow references."""
    defs = schema.pop("$defs", {})

    def inline(node: Any, depth: int = 0) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/") and depth < 20:
                target = dict(defs.get(ref.removeprefix("#/$defs/"), {}))
                target.pop("title", None)
                extra = {k: v for k, v in node.items() if k != "$ref"}
                return inline({**target, **extra}, depth + 1)
            return {k: inline(v, depth) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v, depth) for v in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


def _describe(function: Callable[..., Any]) -> str:
    doc = inspect.getdoc(function) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def tool(
    *,
    category: str,
    risk: Risk,
    name: str | None = None,
    touches: TouchedPaths | None = None,
    untrusted: bool = False,
    untrusted_when: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Callable[[ToolFunction], Tool]:
    """Turn `async def f(ctx: ToolContext, ...)` into a `Tool` (`untrusted`: see above)."""

    def wrap(function: ToolFunction) -> Tool:
        if not inspect.iscoroutinefunction(function):
            raise TypeError(f"tool {function.__name__} must be an async function")
        hints = get_type_hints(function, include_extras=True)
        params = list(inspect.signature(function).parameters.values())
        if not params or params[0].name != "ctx":
            raise TypeError(f"tool {function.__name__} must take ctx: ToolContext first")
        fields: dict[str, Any] = {}
        for param in params[1:]:
            if param.name not in hints:
                raise TypeError(f"tool {function.__name__}: parameter {param.name} needs a type")
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[param.name] = (hints[param.name], default)
        # Built on the first call or schema request, not at start: ~40 built-in tools are
        # registered at every start, most of them unused by a given instance.
        model = create_model(  # type: ignore[call-overload]
            f"{function.__name__}_arguments",
            __config__=ConfigDict(extra="forbid", defer_build=True),
            **fields,
        )
        return Tool(
            name=name or function.__name__,
            description=_describe(function),
            category=category,
            risk=risk,
            function=function,
            arguments_model=model,
            touches=touches,
            untrusted=untrusted,
            untrusted_when=untrusted_when,
        )

    return wrap
