"""Property-based pass over the OpenAPI schema: no input an API client can send makes
the server answer 5xx. Runs against a real server, logged in, with a scripted model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from orchestrator.app import create_app
from tests.conftest import Api, make_settings, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer, demo_reply
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools

schema = schemathesis.openapi.from_dict(create_app(make_settings(Path("/tmp"))).openapi())


@pytest.fixture(scope="module")
def fuzz_target(
    tmp_path_factory: pytest.TempPathFactory, scripted: ScriptedModelServer
) -> Iterator[tuple[str, dict[str, str]]]:
    """A server with an admin logged in (so admin routes are reached too)."""
    scripted.default = demo_reply
    settings = make_settings(
        tmp_path_factory.mktemp("fuzz"), ollama_url=scripted.url, approval_timeout=0.5
    )
    from orchestrator.db.migrate import upgrade

    upgrade(settings)
    app = create_app(settings, models=scripted_gateway(settings, scripted), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        admin = api.register("fuzzadmin")
        yield url, admin.headers
    scripted.default = None


@schema.parametrize()
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(
    case: schemathesis.Case, fuzz_target: tuple[str, dict[str, str]]
) -> None:
    url, headers = fuzz_target
    case.call_and_validate(base_url=url, headers=headers, checks=[not_a_server_error], timeout=30)
