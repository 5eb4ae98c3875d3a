"""The provider interface and the messages that cross it.

A provider streams typed chunks (`StreamChunk`): text and thinking deltas, whole tool
calls, and a final `Done` with usage. Errors come from `orchestrator.core.errors`
(`ProviderUnavailable`, `ModelNotFound`, `ToolsNotSupported`, `StreamInterrupted`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant", "tool"]
Capability = Literal["completion", "tools", "thinking", "embedding", "vision"]


class ToolCall(BaseModel):
    """One call the model asked for."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ImagePart(BaseModel):
    """An image sent with a user message (to models with vision)."""

    path: str  # where it is in the workspace, to name it when it cannot be shown
    media_type: str
    data: str  # base64


class ChatMessage(BaseModel):
    """One message of the conversation sent to the model."""

    role: Role
    content: str = ""
    images: list[ImagePart] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None  # role "tool": which call this answers
    name: str | None = None  # role "tool": the tool's name


class ToolSpec(BaseModel):
    """A tool as the model sees it."""

    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of an object


class GenerationOptions(BaseModel):
    """Sampling knobs; None leaves the provider's default."""

    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    # "required": the turn must call a tool, where the backend can enforce it
    # (OpenAI-compatible servers, the embedded model's grammar); None/"auto": model's choice.
    tool_choice: Literal["auto", "required"] | None = None
    # The context window to ask for (Ollama's num_ctx); from a model's settings.
    context_length: int | None = None


class TextDelta(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ThinkingDelta(BaseModel):
    type: Literal["thinking"] = "thinking"
    text: str


class ToolCallChunk(BaseModel):
    type: Literal["tool_call"] = "tool_call"
    call: ToolCall


class InvalidToolCall(BaseModel):
    """The model tried to call a tool but wrote something unusable; the engine tells it why."""

    type: Literal["invalid_tool_call"] = "invalid_tool_call"
    raw: str
    error: str


class Done(BaseModel):
    type: Literal["done"] = "done"
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


StreamChunk = Annotated[
    TextDelta | ThinkingDelta | ToolCallChunk | InvalidToolCall | Done, Field(discriminator="type")
]


class ModelInfo(BaseModel):
    """A model one provider offers (the gateway adds where it comes from)."""

    name: str
    provider: str  # the kind of server: ollama, openai, embedded
    capabilities: list[Capability] = Field(default_factory=list)
    context_length: int | None = None
    size_bytes: int | None = None
    demo: bool = False  # a tiny model that proves the pipeline, not a useful assistant
    # What picks this model: its name, or "NAME@CONNECTION" when two connections serve it.
    id: str = ""
    connection_id: str | None = None
    connection: str | None = None  # the connection's name
    eval_score: float | None = None  # task success of its latest evaluation (0-1), if any


class ProviderHealth(BaseModel):
    provider: str
    ok: bool
    detail: str = ""


@runtime_checkable
class ChatProvider(Protocol):
    """What every model backend offers."""

    name: str

    def chat(
        self,
        model: str,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None = None,
        *,
        think: bool | None = None,
        json_schema: dict[str, Any] | None = None,
        options: GenerationOptions | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Stream one model turn. Raises `ToolsNotSupported` before any chunk if the
        model cannot take `tools`; `json_schema` constrains the output where supported."""
        ...

    async def list_models(self) -> list[ModelInfo]:
        """The models this provider can serve now."""
        ...

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """One vector per text."""
        ...

    async def health(self) -> ProviderHealth:
        """Whether the backend answers."""
        ...
