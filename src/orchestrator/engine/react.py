"""The ReAct loop: THINK (stream a model turn) -> ACT (run its tool calls) -> OBSERVE,
until the model answers without calling a tool or a budget runs out.

`ReactEngine.run` is an async generator of typed events; it knows nothing of HTTP or
storage. Mistakes the model makes (unknown tool, bad arguments, broken JSON, the same
call again and again) go back to it as observations; programming errors propagate.
Cancelling the consuming task cancels the model stream and any running tool.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from orchestrator.engine.events import (
    ApprovalRequiredData,
    StatusData,
    ThinkingData,
    TokenData,
    ToolData,
    Usage,
)
from orchestrator.engine.repair import argument_help, repair_call
from orchestrator.engine.retrieval import ToolRetriever
from orchestrator.llm.base import (
    ChatMessage,
    Done,
    GenerationOptions,
    InvalidToolCall,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
)

MAX_IDENTICAL_CALLS = 2
# Steps in a row whose only output was unusable tool calls: then the turn ends, saying so,
# rather than spending every remaining step on a model that cannot write a call.
MAX_INVALID_STEPS = 3
StopReason = Literal[
    "answer", "max_iterations", "time_budget", "token_budget", "invalid_tool_calls"
]


class ModelClient(Protocol):
    """What the engine needs from the model gateway."""

    def chat(
        self,
        model: str | None,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None = None,
        *,
        think: bool | None = None,
        json_schema: dict[str, Any] | None = None,
        options: GenerationOptions | None = None,
    ) -> AsyncIterator[StreamChunk]: ...


@dataclass(frozen=True)
class ChatCall:
    """The arguments of one `ModelClient.chat` call, to pass on (changed or not)."""

    model: str | None
    messages: list[ChatMessage]
    tools: list[ToolSpec] | None = None
    think: bool | None = None
    json_schema: dict[str, Any] | None = None
    options: GenerationOptions | None = None

    def send(self, models: ModelClient) -> AsyncIterator[StreamChunk]:
        """The call, made on `models`."""
        return models.chat(
            self.model,
            self.messages,
            self.tools,
            think=self.think,
            json_schema=self.json_schema,
            options=self.options,
        )


class WrappedModels:
    """A model client around another: each call goes through `stream` (what subclasses
    change); any other attribute (`list_models`, `resolve`...) is the wrapped client's."""

    def __init__(self, models: ModelClient) -> None:
        self.models = models

    def __getattr__(self, name: str) -> Any:
        if name == "models":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.models, name)

    def chat(
        self,
        model: str | None,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None = None,
        *,
        think: bool | None = None,
        json_schema: dict[str, Any] | None = None,
        options: GenerationOptions | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """`ModelClient.chat`, through `stream`."""
        return self.stream(ChatCall(model, messages, tools, think, json_schema, options))

    def stream(self, call: ChatCall) -> AsyncIterator[StreamChunk]:
        """Make the call on the wrapped client (override to change or watch it)."""
        return call.send(self.models)


ToolEvent = ToolData | ApprovalRequiredData | StatusData


class ToolRunner(Protocol):
    """Runs one tool call; the last event it yields is the call's final `ToolData`."""

    def run(self, call: ToolCall, key: str) -> AsyncGenerator[ToolEvent, None]: ...


@dataclass(frozen=True)
class Limits:
    """Budgets of one agent turn."""

    max_iterations: int = 10
    max_seconds: float | None = None
    max_tokens: int | None = None


@dataclass
class Final:
    """The engine's last event: the answer and why the loop stopped."""

    content: str
    stop_reason: StopReason
    tools_used: list[str] = field(default_factory=list)
    messages: list[ChatMessage] = field(default_factory=list)
    tokens: int = 0
    tool_calls: list[ToolData] = field(default_factory=list)  # each call's final state
    usage: Usage = field(default_factory=Usage)  # the turn's tokens in and out, every step
    repairs: int = 0  # calls mended before they ran (see `engine.repair`)
    offered: list[list[str]] = field(default_factory=list)  # the tools offered at each step
    # Why it stopped, when the reason needs one (the last invalid call); keyword-only.
    detail: str = field(default="", kw_only=True)


EngineEvent = TokenData | ThinkingData | ToolData | ApprovalRequiredData | StatusData | Final


@dataclass
class _Turn:
    text: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    invalid: list[InvalidToolCall] = field(default_factory=list)
    tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ReactEngine:
    """Drives one agent turn over a model client and a tool runner."""

    def __init__(
        self,
        models: ModelClient,
        tools: ToolRunner,
        *,
        clock: Callable[[], float] = time.monotonic,
        retriever: ToolRetriever | None = None,
        repair: bool = False,
    ) -> None:
        self.models = models
        self.tools = tools
        self.clock = clock
        self.retriever = retriever  # None: every tool is offered at every step
        self.repair = repair  # mend near-miss names and arguments (see `engine.repair`)

    async def run(
        self,
        messages: list[ChatMessage],
        *,
        model: str | None,
        tools: list[ToolSpec],
        limits: Limits = Limits(),
        key_prefix: str = "",
        think: bool | None = None,
    ) -> AsyncIterator[EngineEvent]:
        """Stream the turn's events; the last one is a `Final`."""
        history = list(messages)
        started = self.clock()
        seen: Counter[str] = Counter()
        tools_used: list[str] = []
        calls: list[ToolData] = []
        tokens = 0
        usage = Usage()
        repairs = 0
        offered_log: list[list[str]] = []
        task = next((m.content for m in reversed(messages) if m.role == "user"), "")
        specs = {t.name: t for t in tools}
        called: set[str] = set()  # tools this turn has called: always offered again
        invalid_steps = 0

        def final(content: str, stop: StopReason, detail: str = "") -> Final:
            """The turn's end, with everything gathered so far."""
            return Final(
                content,
                stop,
                tools_used,
                history,
                tokens,
                calls,
                usage,
                repairs,
                offered_log,
                detail=detail,
            )

        for step in range(limits.max_iterations):
            turn = _Turn()
            offered = tools
            if self.retriever is not None:
                offered = await self.retriever.select(task, tools, called)
            offered_log.append([t.name for t in offered])
            stream = self.models.chat(model, history, offered or None, think=think)
            async with aclosing(stream) as chunks:  # type: ignore[type-var]
                async for chunk in chunks:
                    event = _absorb(turn, chunk)
                    if event is not None:
                        yield event
            tokens += turn.tokens
            usage += Usage(
                prompt_tokens=turn.prompt_tokens, completion_tokens=turn.completion_tokens
            )
            content = "".join(turn.text)
            if not turn.calls and not turn.invalid:
                yield final(content, "answer")
                return
            if self.repair:
                mended = [repair_call(call, tools) for call in turn.calls]
                repairs += sum(1 for m in mended if m.changes)
                turn.calls = [m.call for m in mended]
            called.update(call.name for call in turn.calls if call.name in specs)
            invalid_steps = invalid_steps + 1 if turn.invalid and not turn.calls else 0
            if invalid_steps >= MAX_INVALID_STEPS:
                yield final(content, "invalid_tool_calls", turn.invalid[-1].error)
                return
            history.append(ChatMessage(role="assistant", content=content, tool_calls=turn.calls))
            for bad in turn.invalid:
                history.append(
                    _observation(
                        f"invalid-{step}",
                        "invalid_tool_call",
                        f"Your tool call could not be used: {bad.error}",
                    )
                )
            for index, call in enumerate(turn.calls):
                signature = f"{call.name}:{json.dumps(call.arguments, sort_keys=True)}"
                seen[signature] += 1
                if seen[signature] > MAX_IDENTICAL_CALLS:
                    result = (
                        f"Refused: you already made this exact call {MAX_IDENTICAL_CALLS} "
                        "times. Use the results you have, or answer."
                    )
                else:
                    result = "(no result)"
                    async with aclosing(
                        self.tools.run(call, f"{key_prefix}s{step}c{index}")
                    ) as run:
                        async for tool_event in run:
                            yield tool_event
                            if isinstance(tool_event, ToolData) and tool_event.status != "started":
                                result = tool_event.result or ""
                                calls.append(tool_event)
                                if tool_event.status == "finished":
                                    tools_used.append(call.name)
                                elif self.repair and call.name in specs:
                                    result = _with_help(result, specs[call.name])
                history.append(_observation(call.id, call.name, result))
            stop: StopReason | None = None
            if limits.max_tokens is not None and tokens >= limits.max_tokens:
                stop = "token_budget"
            elif limits.max_seconds is not None and self.clock() - started >= limits.max_seconds:
                stop = "time_budget"
            if stop is not None:
                yield final(content, stop)
                return
        yield final("".join(turn.text), "max_iterations")


def _absorb(turn: _Turn, chunk: StreamChunk) -> TokenData | ThinkingData | None:
    """Record a chunk in the turn; return the event to stream, if any."""
    if isinstance(chunk, TextDelta):
        turn.text.append(chunk.text)
        return TokenData(text=chunk.text)
    if isinstance(chunk, ThinkingDelta):
        return ThinkingData(text=chunk.text)
    if isinstance(chunk, ToolCallChunk):
        turn.calls.append(chunk.call)
    elif isinstance(chunk, InvalidToolCall):
        turn.invalid.append(chunk)
    elif isinstance(chunk, Done):
        turn.tokens += (chunk.completion_tokens or 0) + (chunk.prompt_tokens or 0)
        turn.prompt_tokens += chunk.prompt_tokens or 0
        turn.completion_tokens += chunk.completion_tokens or 0
    return None


def _with_help(result: str, spec: ToolSpec) -> str:
    """A call its tool refused for bad arguments: the observation adds the parameters, so
    the model's next try (the loop goes on) can correct them."""
    if result.startswith(f"bad arguments for {spec.name}:"):
        return f"{result}\n{argument_help(spec)}"
    return result


def _observation(call_id: str, name: str, result: str) -> ChatMessage:
    return ChatMessage(role="tool", content=result, tool_call_id=call_id, name=name)
