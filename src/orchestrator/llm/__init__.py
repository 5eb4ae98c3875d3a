"""Model providers (Ollama, OpenAI-compatible, embedded llama.cpp) behind one interface.

`ModelGateway` is the door the rest of the product uses: it lists and resolves models
and streams turns as `StreamChunk`s, with native tool calls or the text protocol.
"""

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
from orchestrator.llm.embedded import EmbeddedProvider
from orchestrator.llm.gateway import ModelGateway, default_providers
from orchestrator.llm.ollama import OllamaProvider
from orchestrator.llm.openai_compat import OpenAICompatProvider
from orchestrator.llm.text_protocol import TextProtocolParser, render_tool_section, to_text_messages

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
