"""Run events to OpenAI chunks and answers.

A run's log holds tokens, thinking, tool calls, approval requests and `complete`; the
OpenAI shapes hold content and reasoning deltas, a finish reason and usage. Events with
no OpenAI counterpart ride along on an empty delta as `orchestrator` notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.core.errors import status_for_code
from orchestrator.engine.events import (
    ApprovalRequiredEvent,
    CompleteData,
    CompleteEvent,
    ErrorEvent,
    RunEventOut,
    StatusEvent,
    ThinkingEvent,
    TokenEvent,
    ToolEvent,
)
from orchestrator.openai_api._errors import error_body
from orchestrator.openai_api._schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    CompletionUsage,
    Delta,
    ErrorBody,
    RunEventNote,
)

# Budgets that cut an answer short: OpenAI calls that running out of length.
_CUT_SHORT = frozenset({"max_iterations", "token_budget", "time_budget"})


@dataclass
class RunFailure:
    """A run that ended without an answer: the HTTP status and error to report."""

    status: int
    error: ErrorBody


@dataclass
class CompletionTranslator:
    """Follows one run's events and says them in OpenAI's words."""

    completion_id: str
    model: str
    created: int
    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    error: dict[str, str] | None = None
    usage: CompletionUsage | None = None
    tools_used: list[str] = field(default_factory=list)
    conversation_id: str = ""
    finish_reason: str | None = None
    failure: RunFailure | None = None

    def first_chunk(self) -> ChatCompletionChunk:
        """The opening chunk: the assistant's role, no content yet."""
        return self._chunk(Delta(role="assistant", content=""))

    def chunks(self, event: RunEventOut) -> list[ChatCompletionChunk]:
        """The chunks one event becomes (often one, sometimes none)."""
        if isinstance(event, TokenEvent):
            self.text.append(event.data.text)
            return [self._chunk(Delta(content=event.data.text))]
        if isinstance(event, ThinkingEvent):
            self.thinking.append(event.data.text)
            return [self._chunk(Delta(reasoning_content=event.data.text))]
        if isinstance(event, ErrorEvent):
            self.error = {"message": event.data.message, "code": event.data.code}
            return []
        if isinstance(event, CompleteEvent):
            streamed = bool(self.text)
            self._complete(event.data)
            if self.failure is not None:
                return []
            unstreamed = (
                [] if streamed or not self.text else [self._chunk(Delta(content=self.text[0]))]
            )
            return [*unstreamed, self._chunk(Delta(), finish_reason=self.finish_reason)]
        if isinstance(event, ToolEvent | ApprovalRequiredEvent | StatusEvent):
            note = RunEventNote(type=event.type, data=event.data.model_dump(mode="json"))
            return [self._chunk(Delta(), note=note)]
        return []

    def usage_chunk(self) -> ChatCompletionChunk:
        """The last chunk when the caller asked for usage: no choices, only counts."""
        return ChatCompletionChunk(
            id=self.completion_id,
            created=self.created,
            model=self.model,
            choices=[],
            usage=self.usage
            or CompletionUsage(prompt_tokens=0, completion_tokens=0, total_tokens=0),
        )

    def completion(self) -> ChatCompletion:
        """The whole answer, once `complete` was seen."""
        message = AssistantMessage(
            content="".join(self.text), reasoning_content="".join(self.thinking) or None
        )
        reason = "length" if self.finish_reason == "length" else "stop"
        return ChatCompletion(
            id=self.completion_id,
            created=self.created,
            model=self.model,
            choices=[Choice(message=message, finish_reason=reason)],
            usage=self.usage
            or CompletionUsage(prompt_tokens=0, completion_tokens=0, total_tokens=0),
            conversation_id=self.conversation_id,
            tools_used=self.tools_used,
        )

    def _complete(self, data: CompleteData) -> None:
        if data.usage is not None:
            prompt, completion = data.usage.prompt_tokens, data.usage.completion_tokens
            self.usage = CompletionUsage(
                prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
            )
        self.conversation_id = data.conversation_id or ""
        self.tools_used = list(data.tools_used)
        if not self.text:
            self.text.append(data.content)  # an answer that was not streamed
        if data.status == "cancelled":
            self.failure = RunFailure(409, error_body(409, "the run was cancelled", "cancelled"))
        elif self.error is not None and self.error["code"] in _CUT_SHORT:
            self.finish_reason = "length"
        elif self.error is not None:
            code = self.error["code"]
            http = status_for_code(code) or 500
            self.failure = RunFailure(http, error_body(http, self.error["message"], code))
        else:
            self.finish_reason = "stop"

    def _chunk(
        self,
        delta: Delta,
        *,
        finish_reason: str | None = None,
        note: RunEventNote | None = None,
    ) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self.completion_id,
            created=self.created,
            model=self.model,
            choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)],
            orchestrator=note,
        )
