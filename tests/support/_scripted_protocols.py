"""The HTTP side of the scripted model: Ollama's and OpenAI's wire formats."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from tests.support.scripted_model import Reply, ScriptedModel, ScriptedModelServer

CREATED_AT = "2025-01-01T00:00:00Z"
NO_REPLY = "scripted model: no reply queued for this request (call server.enqueue(...) first)"


class ConnectionCut(Exception):
    """Raised inside a streaming body: the ASGI server then drops the connection."""


def build_app(server: ScriptedModelServer) -> Starlette:
    """The Starlette app serving both protocols for `server`."""
    proto = _Protocols(server)
    return Starlette(
        routes=[
            Route("/api/chat", proto.ollama_chat, methods=["POST"]),
            Route("/api/tags", proto.ollama_tags, methods=["GET"]),
            Route("/api/show", proto.ollama_show, methods=["POST"]),
            Route("/api/embed", proto.ollama_embed, methods=["POST"]),
            Route("/api/version", proto.ollama_version, methods=["GET"]),
            Route("/api/pull", proto.ollama_pull, methods=["POST"]),
            Route("/v1/chat/completions", proto.openai_chat, methods=["POST"]),
            Route("/v1/models", proto.openai_models, methods=["GET"]),
            Route("/v1/embeddings", proto.openai_embeddings, methods=["POST"]),
        ]
    )


def vector(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for `text`."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def _count_words(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content") or "").split()) for m in messages)


class _Protocols:
    def __init__(self, server: ScriptedModelServer) -> None:
        self.server = server

    async def _body(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json() if request.method == "POST" else {}
        port = request.client.port if request.client else None
        self.server.record(request.method, request.url.path, body, port, dict(request.headers))
        return body

    async def _delay(self, reply: Reply) -> None:
        delay = self.server.token_delay if reply.token_delay is None else reply.token_delay
        if delay:
            await asyncio.sleep(delay)

    def _check(
        self, body: dict[str, Any], error: Callable[[int, str], Response]
    ) -> tuple[ScriptedModel | None, Response | None]:
        """Like the real servers: unknown model 404, tools for a model without them 400."""
        name = str(body.get("model") or "")
        model = self.server.model(name)
        if model is None:
            return None, error(404, f"model '{name}' not found")
        if body.get("tools") and "tools" not in model.capabilities:
            return model, error(400, f"registry.ollama.ai/library/{name} does not support tools")
        if body.get("think") and "thinking" not in model.capabilities:
            return model, error(400, f'"{name}" does not support thinking')
        return model, None

    # -- Ollama -----------------------------------------------------------------------
    @staticmethod
    def _ollama_error(status: int, message: str) -> Response:
        return JSONResponse({"error": message}, status_code=status)

    async def ollama_chat(self, request: Request) -> Response:
        body = await self._body(request)
        model, failure = self._check(body, self._ollama_error)
        if failure is not None or model is None:
            return failure or self._ollama_error(404, "no model")
        reply = self.server.next_reply(body)
        if reply is None:
            return self._ollama_error(500, NO_REPLY)
        if reply.error is not None:
            return self._ollama_error(*reply.error)
        if reply.raw is not None:
            return StreamingResponse(
                _chunks(reply.raw), reply.status, media_type="application/x-ndjson"
            )
        base = {"model": model.name, "created_at": CREATED_AT}
        calls = [{"function": {"name": name, "arguments": args}} for name, args in reply.tool_calls]
        final = {
            **base,
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": _count_words(body.get("messages") or []),
            "eval_count": len(reply.tokens()) + len(calls),
        }
        if not body.get("stream", True):
            message: dict[str, Any] = {"role": "assistant", "content": reply.text}
            if reply.thinking:
                message["thinking"] = reply.thinking
            if calls:
                message["tool_calls"] = calls
            return JSONResponse({**final, "message": message})

        async def lines() -> AsyncIterator[str]:
            for sent, (kind, piece) in enumerate(reply.tokens()):
                if reply.cut_after is not None and sent >= reply.cut_after:
                    raise ConnectionCut
                key = "thinking" if kind == "thinking" else "content"
                yield (
                    json.dumps(
                        {
                            **base,
                            "message": {"role": "assistant", "content": "", key: piece},
                            "done": False,
                        }
                    )
                    + "\n"
                )
                await self._delay(reply)
            if calls:
                message = {"role": "assistant", "content": "", "tool_calls": calls}
                yield json.dumps({**base, "message": message, "done": False}) + "\n"
            if reply.cut_after is not None:
                raise ConnectionCut
            yield json.dumps({**final, "message": {"role": "assistant", "content": ""}}) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def ollama_tags(self, request: Request) -> Response:
        await self._body(request)
        models = [
            {
                "name": m.name,
                "model": m.name,
                "modified_at": CREATED_AT,
                "size": 1000 + i,
                "digest": hashlib.sha256(m.name.encode()).hexdigest(),
                "details": {
                    "format": "gguf",
                    "family": "scripted",
                    "parameter_size": "1M",
                    "quantization_level": "Q4_0",
                },
            }
            for i, m in enumerate(self.server.models)
        ]
        return JSONResponse({"models": models})

    async def ollama_show(self, request: Request) -> Response:
        body = await self._body(request)
        model = self.server.model(str(body.get("model") or ""))
        if model is None:
            return self._ollama_error(404, f"model '{body.get('model')}' not found")
        return JSONResponse(
            {
                "modelfile": "",
                "parameters": "",
                "template": "",
                "details": {"format": "gguf", "family": "scripted"},
                "model_info": {
                    "general.architecture": "scripted",
                    "scripted.context_length": model.context_length,
                },
                "capabilities": list(model.capabilities),
                "modified_at": CREATED_AT,
            }
        )

    async def ollama_embed(self, request: Request) -> Response:
        body = await self._body(request)
        if self.server.model(str(body.get("model") or "")) is None:
            return self._ollama_error(404, f"model '{body.get('model')}' not found")
        texts = body.get("input") or []
        texts = [texts] if isinstance(texts, str) else texts
        await asyncio.sleep(self.server.embed_delay)
        vectors = [vector(t, self.server.embedding_dim) for t in texts]
        return JSONResponse(
            {"model": body["model"], "embeddings": vectors, "prompt_eval_count": len(texts)}
        )

    async def ollama_pull(self, request: Request) -> Response:
        """Like Ollama: 200 and NDJSON progress; an unknown model is an error line."""
        body = await self._body(request)
        name = str(body.get("model") or body.get("name") or "")
        model = self.server.pullable_model(name)
        digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        steps = self.server.pull_steps

        async def lines() -> AsyncIterator[str]:
            yield json.dumps({"status": "pulling manifest"}) + "\n"
            if model is None:
                yield json.dumps({"error": "pull model manifest: file does not exist"}) + "\n"
                return
            total = 1000 * steps
            for step in range(steps + 1):
                progress = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total}
                yield json.dumps({**progress, "completed": 1000 * step}) + "\n"
                if self.server.token_delay:
                    await asyncio.sleep(self.server.token_delay)
            for status in ("verifying sha256 digest", "writing manifest"):
                yield json.dumps({"status": status}) + "\n"
            self.server.finish_pull(model)
            yield json.dumps({"status": "success"}) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def ollama_version(self, request: Request) -> Response:
        await self._body(request)
        return JSONResponse({"version": "0.12.0-scripted"})

    # -- OpenAI -----------------------------------------------------------------------
    @staticmethod
    def _openai_error(status: int, message: str) -> Response:
        code = "model_not_found" if status == 404 else None
        return JSONResponse(
            {"error": {"message": message, "type": "invalid_request_error", "code": code}}, status
        )

    async def openai_chat(self, request: Request) -> Response:
        body = await self._body(request)
        model, failure = self._check(body, self._openai_error)
        if failure is not None or model is None:
            return failure or self._openai_error(404, "no model")
        reply = self.server.next_reply(body)
        if reply is None:
            return self._openai_error(500, NO_REPLY)
        if reply.error is not None:
            return self._openai_error(*reply.error)
        finish = "tool_calls" if reply.tool_calls else "stop"
        usage = {
            "prompt_tokens": _count_words(body.get("messages") or []),
            "completion_tokens": len(reply.tokens()) + len(reply.tool_calls),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        calls: list[dict[str, Any]] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": _args(args)},
            }
            for i, (name, args) in enumerate(reply.tool_calls)
        ]
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
            if calls:
                message["tool_calls"] = calls
            choice = {"index": 0, "message": message, "finish_reason": finish}
            return JSONResponse(
                {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion",
                    "created": 0,
                    "model": model.name,
                    "choices": [choice],
                    "usage": usage,
                }
            )
        base = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model.name,
        }

        def event(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return f"data: {json.dumps({**base, 'choices': [choice]})}\n\n"

        async def events() -> AsyncIterator[str]:
            yield event({"role": "assistant", "content": ""})
            for sent, (kind, piece) in enumerate(reply.tokens()):
                if reply.cut_after is not None and sent >= reply.cut_after:
                    raise ConnectionCut
                yield event(
                    {"reasoning_content": piece} if kind == "thinking" else {"content": piece}
                )
                await self._delay(reply)
            for index, call in enumerate(calls):
                head: dict[str, Any] = {
                    "index": index,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""},
                }
                yield event({"tool_calls": [head]})
                arguments = call["function"]["arguments"]
                step = max(1, len(arguments) // 3)
                for start in range(0, len(arguments), step):
                    part: dict[str, Any] = {
                        "index": index,
                        "function": {"arguments": arguments[start : start + step]},
                    }
                    yield event({"tool_calls": [part]})
            if reply.cut_after is not None:
                raise ConnectionCut
            yield event({}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                yield f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def openai_models(self, request: Request) -> Response:
        await self._body(request)
        data = [
            {"id": m.name, "object": "model", "created": 0, "owned_by": "scripted"}
            for m in self.server.models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def openai_embeddings(self, request: Request) -> Response:
        body = await self._body(request)
        if self.server.model(str(body.get("model") or "")) is None:
            return self._openai_error(404, f"model '{body.get('model')}' not found")
        texts = body.get("input") or []
        texts = [texts] if isinstance(texts, str) else texts
        await asyncio.sleep(self.server.embed_delay)
        data = [
            {"object": "embedding", "index": i, "embedding": vector(t, self.server.embedding_dim)}
            for i, t in enumerate(texts)
        ]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
            }
        )


async def _chunks(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)  # one chunk a write


def _args(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)
