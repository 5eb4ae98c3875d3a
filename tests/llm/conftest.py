"""Fixtures for the model layer: one scripted model server for the session, reset per
test, and providers pointed at it over real HTTP."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.core.config import Settings
from orchestrator.llm.ollama import OllamaProvider
from orchestrator.llm.openai_compat import OpenAICompatProvider
from tests.conftest import SCRIPTED_MODELS
from tests.support.scripted_model import ScriptedModelServer

DEFAULT_MODELS = SCRIPTED_MODELS


@pytest.fixture
def server(model: ScriptedModelServer) -> ScriptedModelServer:
    """The session's scripted model (tests/conftest.py `model`), reset for this test."""
    return model


@pytest.fixture
async def ollama(server: ScriptedModelServer) -> AsyncIterator[OllamaProvider]:
    """An Ollama provider on the scripted server."""
    provider = OllamaProvider(server.url)
    yield provider
    await provider.aclose()


@pytest.fixture
async def openai_compat(server: ScriptedModelServer) -> AsyncIterator[OpenAICompatProvider]:
    """An OpenAI-compatible provider on the scripted server."""
    provider = OpenAICompatProvider(server.openai_url)
    yield provider
    await provider.aclose()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def llm_settings(tmp_path: Path, server: ScriptedModelServer) -> Settings:
    """Settings with OLLAMA_URL on the scripted server."""
    return Settings(_env_file=None, data_dir=tmp_path, ollama_url=server.url)
