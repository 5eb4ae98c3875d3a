"""A scripted model served over real HTTP on loopback, speaking Ollama's protocol
(/api/chat, /api/tags, /api/show, /api/embed, /api/version) and OpenAI's
(/v1/chat/completions, /v1/models, /v1/embeddings). Tests queue the replies, in the
spirit of simonw/llm's `MockModel.enqueue()`; no test depends on a real model's whims.

    plain = ScriptedModel("plain", capabilities=("completion",))   # no native tools
    with ScriptedModelServer(models=["scripted", plain]) as server:
        server.enqueue(text="Hello there")                        # streamed word by word
        server.enqueue(thinking="Let me see", text="4")
        server.enqueue(tool_calls=[("calculate", {"expression": "2+2"})])
        server.enqueue(error=(400, "registry.ollama.ai/library/x does not support tools"))
        server.enqueue(text="a long answer", cut_after=3)         # dropped after 3 tokens
        server.enqueue(text="slow", token_delay=0.05)
        settings = Settings(ollama_url=server.url, openai_base_url=server.openai_url)
        ...
        server.chat_requests[-1].body["tools"]                   # what the model was sent
        server.allow_pull("qwen3:0.6b")       # /api/pull streams progress, then lists it

    async with ScriptedModelServer() as server: ...              # the same from async code

Each chat request (either protocol) takes the next queued reply. With an empty queue
the server answers HTTP 500 "no scripted reply queued" so that a test fails loudly,
unless `default=` (a function of the request body returning a `Reply`) is given.
Like the real servers: a model that is not listed answers 404, and a model whose
capabilities lack "tools" answers 400 "... does not support tools" when sent tools.
`reset()` clears replies and recorded requests (handy with a session-wide server).

Standalone, for browser and end-to-end tests (point OLLAMA_URL at it):

    python -m tests.support.scripted_model --port 11434 [--token-delay 0.02]

It then follows `demo_reply`: asked to calculate something, it calls `calculate`
(natively, or in the text protocol - a ```tool block, or a JSON object when the request
constrains the output with `format`), then answers with the tool's result; otherwise
it streams back a short answer. The model "scripted-text" has no native tools, to
show the text protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import uvicorn

from tests.support._scripted_protocols import build_app

__all__ = ["RecordedRequest", "Reply", "ScriptedModel", "ScriptedModelServer", "demo_reply"]

ToolCallSpec = tuple[str, dict[str, Any] | str]  # (name, arguments; a str is sent as raw JSON text)
_TOKEN = re.compile(r"\s*\S+|\s+")


@dataclass(frozen=True)
class ScriptedModel:
    """A model the server lists; capabilities as Ollama's /api/show reports them."""

    name: str
    capabilities: tuple[str, ...] = ("completion", "tools", "thinking")
    context_length: int = 8192


@dataclass
class Reply:
    """One scripted answer: thinking, then text, then tool calls - or an HTTP error."""

    text: str = ""
    thinking: str = ""
    tool_calls: list[ToolCallSpec] = field(default_factory=list)
    error: tuple[int, str] | None = None
    cut_after: int | None = None  # drop the connection after this many tokens
    token_delay: float | None = None  # seconds between tokens (None: the server's default)
    raw: list[bytes] | None = None  # Ollama's protocol only: these chunks as the answer body
    status: int = 200  # with `raw`: the answer's HTTP status

    def tokens(self) -> list[tuple[str, str]]:
        """(kind, piece) in streaming order, kind "thinking" or "text"."""
        return [("thinking", t) for t in _TOKEN.findall(self.thinking)] + [
            ("text", t) for t in _TOKEN.findall(self.text)
        ]


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    body: dict[str, Any]
    client_port: int | None = None  # the client's end of the connection: which one it reused
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent (empty for other endpoints)."""
        return list(self.body.get("messages") or [])

    @property
    def tool_names(self) -> list[str]:
        """Names of the native tools sent."""
        return [tool["function"]["name"] for tool in self.body.get("tools") or []]


class ScriptedModelServer:
    """The scripted model on 127.0.0.1 (a free port unless `port` is given); see module docs."""

    def __init__(
        self,
        models: Iterable[ScriptedModel | str] = ("scripted",),
        *,
        token_delay: float = 0.0,
        default: Callable[[dict[str, Any]], Reply] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        embedding_dim: int = 8,
        embed_delay: float = 0.0,
    ) -> None:
        self.host, self.port = host, port
        self.token_delay = token_delay
        self.default = default
        self.embedding_dim = embedding_dim
        self.embed_delay = embed_delay  # seconds each embedding request takes
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._models: list[ScriptedModel] = []
        self._pullable: dict[str, ScriptedModel] = {}
        self.pull_steps = 4  # progress lines of a pull, after "pulling manifest"
        self.set_models(models)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- script -----------------------------------------------------------------------
    def enqueue(
        self,
        text: str = "",
        *,
        thinking: str = "",
        tool_calls: Sequence[ToolCallSpec] = (),
        error: tuple[int, str] | None = None,
        cut_after: int | None = None,
        token_delay: float | None = None,
    ) -> None:
        """Queue the reply to the next chat request."""
        self.enqueue_reply(Reply(text, thinking, list(tool_calls), error, cut_after, token_delay))

    def enqueue_raw(self, *chunks: bytes, status: int = 200) -> None:
        """Queue an answer sent as is (Ollama's protocol): `chunks` one by one, for
        malformed, split or error lines."""
        self.enqueue_reply(Reply(raw=list(chunks), status=status))

    def enqueue_reply(self, reply: Reply) -> None:
        """Queue a prepared `Reply`."""
        with self._lock:
            self._replies.append(reply)

    def set_models(self, models: Iterable[ScriptedModel | str]) -> None:
        """Replace the listed models (a plain name gets completion, tools and thinking)."""
        with self._lock:
            self._models = [m if isinstance(m, ScriptedModel) else ScriptedModel(m) for m in models]

    def allow_pull(self, model: ScriptedModel | str) -> None:
        """Let /api/pull download `model` (a pull of any other name fails like Ollama's)."""
        model = model if isinstance(model, ScriptedModel) else ScriptedModel(model)
        with self._lock:
            self._pullable[model.name] = model

    def pullable_model(self, name: str) -> ScriptedModel | None:
        """The model a pull of `name` gets, if the "registry" has it."""
        with self._lock:
            return self._pullable.get(name) or self._pullable.get(name.removesuffix(":latest"))

    def finish_pull(self, model: ScriptedModel) -> None:
        """A pull is done: the model is listed from now on."""
        with self._lock:
            if all(m.name != model.name for m in self._models):
                self._models.append(model)

    def reset(self) -> None:
        """Forget queued replies, recorded requests and pullable models."""
        with self._lock:
            self._replies.clear()
            self._requests.clear()
            self._pullable.clear()

    @property
    def pending(self) -> int:
        """How many queued replies are left."""
        with self._lock:
            return len(self._replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The chat requests received (either protocol), oldest first."""
        return [r for r in self.requests if r.path in ("/api/chat", "/v1/chat/completions")]

    # -- used by the HTTP handlers ------------------------------------------------------
    def model(self, name: str) -> ScriptedModel | None:
        """The listed model called `name` (Ollama's implicit ":latest" accepted)."""
        with self._lock:
            for model in self._models:
                if name in (model.name, f"{model.name}:latest") or model.name == f"{name}:latest":
                    return model
        return None

    @property
    def models(self) -> list[ScriptedModel]:
        """The listed models."""
        with self._lock:
            return list(self._models)

    def record(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        client_port: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Remember a request."""
        with self._lock:
            self._requests.append(RecordedRequest(method, path, body, client_port, headers or {}))

    def next_reply(self, body: dict[str, Any]) -> Reply | None:
        """The reply for a chat request: queued, else the default, else None."""
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        return self.default(body) if self.default else None

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL for Ollama clients (OLLAMA_URL)."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        """Base URL for OpenAI clients (OPENAI_BASE_URL)."""
        return f"{self.url}/v1"

    def start(self) -> None:
        """Serve in a background thread; returns once the server accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(self._config())
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="scripted-model", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the scripted model server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def serve_forever(self) -> None:
        """Serve in the foreground (the standalone mode)."""
        uvicorn.Server(self._config()).run()

    def _config(self) -> uvicorn.Config:
        return uvicorn.Config(
            build_app(self),
            host=self.host,
            port=self.port,
            log_config=None,
            log_level="critical",  # a deliberately cut stream is not worth a traceback
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


_ASKS_TO_CALCULATE = re.compile(
    r"(?:calculate|compute|what is|what's)\s+([-+*/().\d\s^%]*\d[-+*/().\d\s^%]*)", re.I
)


def demo_reply(body: dict[str, Any]) -> Reply:
    """Scripted default behaviour for end-to-end demos (see the module docstring)."""
    messages = body.get("messages") or [{}]
    last = messages[-1]
    content = str(last.get("content") or "")
    tools = [tool["function"]["name"] for tool in body.get("tools") or []]
    system = " ".join(str(m.get("content")) for m in messages if m.get("role") == "system")
    text_protocol = "## Tools" in system and not tools
    as_json = text_protocol and isinstance(body.get("format"), dict)  # constrained output
    thinking = "The user wants an answer; keep it short." if body.get("think") else ""

    def answer(text: str) -> Reply:
        if as_json:
            return Reply(text=json.dumps({"response": text}), thinking=thinking)
        if text_protocol:
            return Reply(text=f"```response\n{text}\n```", thinking=thinking)
        return Reply(text=text, thinking=thinking)

    if last.get("role") == "tool":
        return answer(f"The result is {content.strip()}.")
    if text_protocol and content.startswith("Result of "):
        return answer(f"The result is {content.split(chr(10), 1)[-1].strip()}.")
    match = _ASKS_TO_CALCULATE.search(content)
    if match and ("calculate" in tools or "calculate" in system):
        expression = match.group(1).strip()
        if tools:
            return Reply(tool_calls=[("calculate", {"expression": expression})], thinking=thinking)
        call = json.dumps({"tool": "calculate", "params": {"expression": expression}})
        text = call if as_json else f"I will use the calculator.\n```tool\n{call}\n```"
        return Reply(text=text, thinking=thinking)
    return answer(f"You said: {content.strip()[:200]}. This is the scripted demo model.")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the scripted model standalone with the demo behaviour."""
    parser = argparse.ArgumentParser(
        description="Scripted Ollama/OpenAI-compatible model for demos and tests"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument(
        "--token-delay", type=float, default=0.02, help="seconds between streamed tokens"
    )
    parser.add_argument(
        "--models",
        default="scripted,scripted-text=completion",
        help="comma-separated NAME[=CAP+CAP...]; default capabilities: completion+tools+thinking",
    )
    args = parser.parse_args(argv)
    models = []
    for spec in filter(None, args.models.split(",")):
        name, _, caps = spec.partition("=")
        models.append(ScriptedModel(name, tuple(caps.split("+"))) if caps else ScriptedModel(name))
    server = ScriptedModelServer(
        models, token_delay=args.token_delay, default=demo_reply, host=args.host, port=args.port
    )
    print(f"scripted model on {server.url} (Ollama) and {server.openai_url} (OpenAI)", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
