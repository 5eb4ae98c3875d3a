"""A real server on the scripted model, and OpenAI clients on it as a user's script makes them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Api, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools


@pytest.fixture
def v1_api(settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    """A real server whose agents talk to the scripted model; `/v1` keep-alives every 0.2 s."""
    settings = settings.model_copy(
        update={"ollama_url": model.url, "approval_timeout": 20.0, "sse_keepalive_seconds": 0.2}
    )
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        yield api
        api.client.close()


def openai_client(api: Api, key: str) -> OpenAI:
    """The official client, pointed at our `/v1` with the user's key."""
    return OpenAI(base_url=f"{api.base_url}/v1", api_key=key, max_retries=0, timeout=30)


@pytest.fixture
def v1_any_db_api(any_db_settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    """The same server on SQLite, then on Postgres."""
    settings = any_db_settings.model_copy(update={"ollama_url": model.url})
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        yield api
        api.client.close()
