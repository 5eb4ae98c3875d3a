"""A real server on a scripted model with sample tools, for the usage and quota tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Api, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools


@pytest.fixture
def usage_api(settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    """A server whose first account (the admin) is made at once."""
    settings = settings.model_copy(update={"ollama_url": model.url, "default_model": "scripted"})
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        yield api
        api.client.close()
