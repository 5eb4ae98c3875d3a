"""Model providers (Ollama, OpenAI-compatible, embedded llama.cpp) behind one interface.

`ModelGateway` is the door the rest of the product uses: it lists and resolves models
and streams turns as `StreamChunk`s, with native tool calls or the text protocol.
"""

import importlib

from orchestrator.llm.base import (
    ChatMessage,
    ChatProvider,
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
from orchestrator.llm.text_protocol import TextProtocolParser, render_tool_section, to_text_messages

# The providers pull in their client libraries (openai alone takes a second to import):
# they load on first use, so a process that never talks to OpenAI never pays for it.
_LAZY = {
    "EmbeddedProvider": "orchestrator.llm.embedded",
    "ModelGateway": "orchestrator.llm.gateway",
    "default_providers": "orchestrator.llm.gateway",
    "OllamaProvider": "orchestrator.llm.ollama",
    "OpenAICompatProvider": "orchestrator.llm.openai_compat",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ChatMessage",
    "ChatProvider",
    "Done",
    "EmbeddedProvider",
    "GenerationOptions",
    "InvalidToolCall",
    "ModelGateway",
    "ModelInfo",
    "OllamaProvider",
    "OpenAICompatProvider",
    "ProviderHealth",
    "StreamChunk",
    "TextDelta",
    "TextProtocolParser",
    "ThinkingDelta",
    "ToolCall",
    "ToolCallChunk",
    "ToolSpec",
    "default_providers",
    "render_tool_section",
    "to_text_messages",
]
