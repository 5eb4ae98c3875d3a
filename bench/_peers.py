"""The peer half of `bench.engine`: LangGraph's prebuilt ReAct agent and smolagents'
ToolCallingAgent on an instant fake model, run by the interpreter of `bench/.venv-peers`
(see `bench/peers.sh`). It never imports the orchestrator; it prints one JSON object.

    bench/.venv-peers/bin/python bench/_peers.py --steps 200 --tool-turns 1 11
    bench/.venv-peers/bin/python bench/_peers.py --tool-turns --concurrent 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

warnings.filterwarnings("ignore")  # create_react_agent's deprecation notice
logging.disable(logging.WARNING)


async def _aadd(a: int, b: int) -> str:
    return str(a + b)


def _add(a: int, b: int) -> str:
    return str(a + b)


def cpu_per_run(run: Callable[[], Any], runs: int, warmup: int, repeats: int) -> float:
    """Smallest CPU seconds per call of `run` over `repeats` timed rounds of `runs` calls."""
    for _ in range(warmup):
        run()
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(runs):
            run()
        best = min(best, (time.process_time() - started) / runs)
    return best


def acpu_per_run(factory: Callable[[], Any], runs: int, warmup: int, repeats: int) -> float:
    """`cpu_per_run` for a coroutine factory, every call awaited in one event loop."""

    async def main() -> float:
        for _ in range(warmup):
            await factory()
        best = float("inf")
        for _ in range(repeats):
            started = time.process_time()
            for _ in range(runs):
                await factory()
            best = min(best, (time.process_time() - started) / runs)
        return best

    return asyncio.run(main())


# -- LangGraph -------------------------------------------------------------------------


def langgraph_agent(tool_turns: int, latency: float = 0.0) -> Any:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import StructuredTool
    from langgraph.prebuilt import create_react_agent

    class InstantChatModel(BaseChatModel):
        """Calls `add` on each of the first `tool_turns` turns, then answers."""

        tool_turns: int = 1
        latency: float = 0.0

        @property
        def _llm_type(self) -> str:
            return "instant"

        def bind_tools(self, tools: Any, **kwargs: Any) -> InstantChatModel:  # type: ignore[override]
            return self

        def _reply(self, messages: list[BaseMessage]) -> ChatResult:
            turn = (len(messages) - 1) // 2  # user, then (assistant, tool) per turn
            if turn < self.tool_turns:
                call = {"name": "add", "args": {"a": turn, "b": 1}, "id": f"c{turn}"}
                message = AIMessage(content="", tool_calls=[{**call, "type": "tool_call"}])
            else:
                message = AIMessage(content="2")
            return ChatResult(generations=[ChatGeneration(message=message)])

        def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
            return self._reply(messages)

        async def _agenerate(
            self, messages: list[BaseMessage], *args: Any, **kwargs: Any
        ) -> ChatResult:
            if self.latency:
                await asyncio.sleep(self.latency)
            return self._reply(messages)

    add = StructuredTool.from_function(
        func=_add, coroutine=_aadd, name="add", description="Add two integers."
    )
    model = InstantChatModel(tool_turns=tool_turns, latency=latency)
    return create_react_agent(model, [add])


def langgraph_cpu(tool_turns: int, steps: int, repeats: int) -> dict[str, float]:
    """CPU seconds per run (`tool_turns` tool calls, then the answer), sync and async."""
    agent = langgraph_agent(tool_turns)
    request = {"messages": [("user", "add 1 and 1")]}
    out = agent.invoke(request)
    assert out["messages"][-1].content == "2", out
    assert len(out["messages"]) == 2 * tool_turns + 2, out
    runs = max(10, steps // tool_turns)
    return {
        "invoke": cpu_per_run(lambda: agent.invoke(request), runs, 10, repeats),
        "ainvoke": acpu_per_run(lambda: agent.ainvoke(request), runs, 10, repeats),
    }


def langgraph_concurrent(args: argparse.Namespace) -> tuple[float, float]:
    """(wall, CPU) seconds of `--concurrent` runs at once, each with model latency."""
    agent = langgraph_agent(args.concurrent_turns - 1, args.latency)
    request = {"messages": [("user", "add 1 and 1")]}

    async def main() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        outs = await asyncio.gather(*(agent.ainvoke(request) for _ in range(args.concurrent)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert all(o["messages"][-1].content == "2" for o in outs)
        return wall, cpu

    return asyncio.run(main())


# -- smolagents ------------------------------------------------------------------------


def smolagents_cpu(tool_turns: int, steps: int, repeats: int) -> dict[str, float]:
    """CPU seconds per run (`tool_turns` tool calls, then `final_answer`)."""
    from smolagents import Model, ToolCallingAgent, tool
    from smolagents.models import (
        ChatMessage,
        ChatMessageToolCall,
        ChatMessageToolCallFunction,
        MessageRole,
        TokenUsage,
    )
    from smolagents.monitoring import LogLevel

    @tool
    def add(a: int, b: int) -> str:
        """Add two integers.

        Args:
            a: The first integer.
            b: The second integer.
        """
        return str(a + b)

    class InstantModel(Model):
        """Calls `add` on each of the first `tool_turns` turns, then `final_answer`."""

        def __init__(self, tool_turns: int) -> None:
            super().__init__(model_id="instant")
            self.tool_turns = tool_turns
            self.calls = 0

        def generate(self, messages: Any, *args: Any, **kwargs: Any) -> ChatMessage:
            turn = self.calls % (self.tool_turns + 1)
            self.calls += 1
            if turn < self.tool_turns:
                name, arguments = "add", {"a": turn, "b": 1}
            else:
                name, arguments = "final_answer", {"answer": "2"}
            call = ChatMessageToolCall(
                function=ChatMessageToolCallFunction(name=name, arguments=arguments),
                id=f"c{self.calls}",
                type="function",
            )
            return ChatMessage(
                role=MessageRole.ASSISTANT,
                content="",
                tool_calls=[call],
                token_usage=TokenUsage(input_tokens=10, output_tokens=5),
            )

    agent = ToolCallingAgent(
        tools=[add],
        model=InstantModel(tool_turns),
        max_steps=tool_turns + 2,
        verbosity_level=LogLevel.OFF,
    )
    answer = agent.run("add 1 and 1")
    assert str(answer) == "2", answer
    assert len(agent.memory.steps) == tool_turns + 2, agent.memory.steps  # task + steps
    runs = max(10, steps // tool_turns)
    return {"run": cpu_per_run(lambda: agent.run("add 1 and 1"), runs, 10, repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200, help="tool steps timed per round")
    parser.add_argument("--tool-turns", type=int, nargs="*", default=[1, 11])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=0, help="0: skip the concurrent test")
    parser.add_argument("--concurrent-turns", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    out: dict[str, Any] = {"python": sys.version.split()[0]}
    try:
        import langgraph.version
        import smolagents

        out["versions"] = {
            "langgraph": langgraph.version.__version__,
            "smolagents": smolagents.__version__,
        }
    except (ImportError, AttributeError):
        pass
    for turns in args.tool_turns:
        out[f"langgraph/{turns}"] = langgraph_cpu(turns, args.steps, args.repeats)
        out[f"smolagents/{turns}"] = smolagents_cpu(turns, args.steps, args.repeats)
    if args.concurrent:
        out["langgraph_concurrent"] = langgraph_concurrent(args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
