"""Any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio, Ollama's /v1...)
through the official `openai` client: SSE streaming with tool-call deltas joined into
whole calls, reasoning deltas as thinking, /models and /embeddings."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, NoReturn

import openai
from openai.types.chat import ChatCompletionChunk

from orchestrator.core.errors import (
    LLMError,
    ModelNotFound,
    ProviderUnavailable,
    StreamInterrupted,
    ToolsNotSupported,
)
from orchestrator.llm._json_repair import loads_lenient
from orchestrator.llm.base import (
    ChatMessage,
    Done,
    GenerationOptions,
    InvalidToolCall,
    ModelInfo,
    ProviderHealth,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
)

_NO_TOOLS = re.compile(
    r"does not support tools|tools? (?:are |is )?not supported|--jinja", re.IGNORECASE
)
_REASONING_KEYS = ("reasoning_content", "reasoning")


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


class OpenAICompatProvider:
    """Models served by an OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 300.0,
        connect_timeout: float = 5.0,
        max_retries: int = 0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key or "none",  # local servers ignore it; the client insists on one
            timeout=openai.Timeout(timeout, connect=connect_timeout),
            max_retries=max_retries,  # fail fast: the gateway and the engine decide what to retry
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()

    async def chat(
        self,
        model: str,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None = None,
        *,
        think: bool | None = None,
        json_schema: dict[str, Any] | None = None,
        options: GenerationOptions | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Stream one turn from /chat/completions (`think` is left to the server)."""
        request: dict[str, Any] = {
            "model": model,
            "messages": [_to_openai_message(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = [_to_openai_tool(t) for t in tools]
            if options is not None and options.tool_choice:
                request["tool_choice"] = options.tool_choice
        if json_schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": json_schema, "strict": True},
            }
        if options is not None:
            values = {
                "temperature": options.temperature,
                "max_tokens": options.max_tokens,
                "seed": options.seed,
            }
            request.update({key: value for key, value in values.items() if value is not None})
        started = False
        try:
            stream = await self._client.chat.completions.create(**request)
            async with aclosing(self._read(stream)) as chunks:
                async for chunk in chunks:
                    started = True
                    yield chunk
        except openai.OpenAIError as exc:
            self._raise(exc, model, started, with_tools=bool(tools))

    async def _read(
        self, stream: openai.AsyncStream[ChatCompletionChunk]
    ) -> AsyncGenerator[StreamChunk, None]:
        calls: dict[int, _PartialCall] = {}
        finish: str | None = None
        usage = None
        async for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices[:1]:
                delta = choice.delta
                for key in _REASONING_KEYS:
                    if text := (delta.model_extra or {}).get(key):
                        yield ThinkingDelta(text=str(text))
                if delta.content:
                    yield TextDelta(text=delta.content)
                for part in delta.tool_calls or []:
                    call = calls.setdefault(part.index, _PartialCall())
                    call.id = part.id or call.id
                    if part.function is not None:
                        call.name += part.function.name or ""
                        call.arguments += part.function.arguments or ""
                if choice.finish_reason:
                    finish = choice.finish_reason
                    for index in sorted(calls):
                        yield _whole_call(calls[index], index)
                    calls.clear()
        if finish is None:
            raise StreamInterrupted(
                f"the server at {self.base_url} ended the stream before the answer was done"
            )
        yield Done(
            finish_reason=finish,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
        )

    def _raise(
        self, exc: openai.OpenAIError, model: str, started: bool, with_tools: bool = False
    ) -> NoReturn:
        """Map a client error onto the LLMError tree."""
        where = f"the OpenAI-compatible server at {self.base_url}"
        if isinstance(exc, openai.APIConnectionError):
            reason = f"{exc} ({exc.__cause__})" if exc.__cause__ else str(exc)
            if started:
                raise StreamInterrupted(f"{where} broke off the answer: {reason}") from exc
            raise ProviderUnavailable(
                f"cannot reach {where}: {reason}", reason="unreachable"
            ) from exc
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            raise LLMError(
                f"{where} refused the credentials ({exc.status_code}): check the API key",
                reason="unauthorized",
            ) from exc
        if isinstance(exc, openai.NotFoundError) and not model:
            raise LLMError(
                f"{where} has no /models (404): an OpenAI-compatible base URL usually ends in /v1",
                reason="not_api",
            ) from exc
        if isinstance(exc, openai.APIResponseValidationError):
            raise LLMError(
                f"{where} answered something that is not an OpenAI-compatible API "
                "(an HTML page?): is the URL right?",
                reason="not_api",
            ) from exc
        if isinstance(exc, openai.NotFoundError):
            raise ModelNotFound(
                f"{where} has no model {model!r}: {_message(exc)}", model=model
            ) from exc
        if (
            isinstance(exc, openai.BadRequestError)
            and with_tools
            and _NO_TOOLS.search(_message(exc))
        ):
            raise ToolsNotSupported(
                f"model {model!r} does not support native tools", model=model
            ) from exc
        if isinstance(exc, openai.APIStatusError):
            raise LLMError(
                f"{where} refused the request ({exc.status_code}): {_message(exc)}"
            ) from exc
        if started:
            raise StreamInterrupted(f"{where} broke off the answer: {exc}") from exc
        raise LLMError(f"{where} failed: {exc}") from exc

    async def list_models(self) -> list[ModelInfo]:
        """The server's /models (capabilities unknown: the gateway tries native tools first)."""
        try:
            page = await self._client.models.list()
            ids = [model.id for model in page.data]
        except openai.OpenAIError as exc:
            self._raise(exc, "", started=False)
        except (AttributeError, TypeError, ValueError) as exc:  # a body that is no model list
            raise LLMError(
                f"the server at {self.base_url} answered something that is not an "
                "OpenAI-compatible API (an HTML page?): is the URL right?",
                reason="not_api",
            ) from exc
        return [ModelInfo(name=model_id, provider=self.name) for model_id in ids]

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """One vector per text, from /embeddings."""
        try:
            reply = await self._client.embeddings.create(
                model=model, input=texts, encoding_format="float"
            )
        except openai.OpenAIError as exc:
            self._raise(exc, model, started=False)
        return [list(item.embedding) for item in sorted(reply.data, key=lambda item: item.index)]

    async def health(self) -> ProviderHealth:
        """Ask /models."""
        try:
            models = await self.list_models()
        except LLMError as exc:
            return ProviderHealth(provider=self.name, ok=False, detail=exc.message)
        return ProviderHealth(
            provider=self.name, ok=True, detail=f"{len(models)} models at {self.base_url}"
        )


def _whole_call(call: _PartialCall, index: int) -> StreamChunk:
    call_id = call.id or f"call_{index}"
    raw = call.arguments.strip()
    try:
        arguments = loads_lenient(raw) if raw else {}
    except ValueError as exc:
        return InvalidToolCall(
            raw=f"{call.name}({call.arguments})", error=f"arguments of {call.name} are {exc}"
        )
    if not isinstance(arguments, dict):
        return InvalidToolCall(
            raw=f"{call.name}({call.arguments})", error="tool arguments must be a JSON object"
        )
    if not call.name:
        return InvalidToolCall(raw=call.arguments, error="the tool call has no function name")
    return ToolCallChunk(call=ToolCall(id=call_id, name=call.name, arguments=arguments))


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        detail = body.get("message") or body.get("error")
        if isinstance(detail, dict):
            detail = detail.get("message")
        if detail:
            return str(detail)
    return exc.message


def _to_openai_message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        out["content"] = [
            {"type": "text", "text": message.content},
            *(
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:{image.media_type};base64,{image.data}"},
                }
                for image in message.images
            ),
        ]
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": json.dumps(call.arguments, ensure_ascii=False),
                },
            }
            for call in message.tool_calls
        ]
        out["content"] = message.content or None
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    return out


def _to_openai_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }
