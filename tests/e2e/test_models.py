"""The Models page in the browser: an admin adds an Ollama connection and sees its models
(a shared name qualified by its connection), sees why a bad URL does not answer, and
pulls a model with a progress bar."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, shot, sign_in
from tests.support.scripted_model import ScriptedModel, ScriptedModelServer

pytestmark = pytest.mark.browser


@pytest.fixture
def gpu_box() -> Iterator[ScriptedModelServer]:
    """A second Ollama server, with a model of its own and one the first also serves."""
    with ScriptedModelServer(
        ["scripted", ScriptedModel("llava-lite", ("completion", "vision"))]
    ) as server:
        yield server


def add_connection(page: Page, name: str, url: str) -> None:
    form = page.get_by_test_id("connection-add")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Base URL").fill(url)
    form.get_by_role("button", name="Add").click()


def test_admin_adds_a_connection_and_sees_its_models(
    page: Page, start_site: Callable[..., Site], gpu_box: ScriptedModelServer
) -> None:
    site = start_site(connections_from_db=True)
    site.account("root")
    sign_in(page, site, "root")
    page.get_by_role("link", name="Models").click()
    expect(page.get_by_test_id("health-ollama")).to_have_text("ok")

    add_connection(page, "gpu-box", gpu_box.url)
    card = page.get_by_test_id("connection-gpu-box")
    expect(card.get_by_test_id("health-gpu-box")).to_have_text("ok")
    vision = card.get_by_test_id("model-llava-lite")
    expect(vision).to_contain_text("llava-lite")
    expect(vision.get_by_test_id("capability-vision")).to_be_visible()
    expect(card.get_by_test_id("model-scripted@gpu-box")).to_contain_text("scripted@gpu-box")
    expect(
        page.get_by_test_id("connection-ollama").get_by_test_id("model-scripted@ollama")
    ).to_be_visible()
    shot(page, "models-connections")

    add_connection(page, "nowhere", "http://127.0.0.1:9")
    expect(page.get_by_test_id("health-nowhere")).to_have_text("unreachable")
    expect(page.get_by_test_id("health-detail-nowhere")).to_contain_text("cannot reach Ollama")

    gpu_box.allow_pull("qwen3:0.6b")
    gpu_box.token_delay = 0.05  # slow enough to see the bar move
    pull_form = card.get_by_role("form", name="Pull a model onto gpu-box")
    pull_form.get_by_label("Model to pull").fill("qwen3:0.6b")
    pull_form.get_by_role("button", name="Pull").click()
    expect(card.get_by_role("progressbar")).to_be_visible()
    expect(card.get_by_test_id("pull-gpu-box")).to_contain_text("success")
    expect(card.get_by_test_id("model-qwen3:0.6b")).to_be_visible()

    pull_form.get_by_label("Model to pull").fill("no-such-model")
    pull_form.get_by_role("button", name="Pull").click()
    expect(card.get_by_test_id("pull-gpu-box")).to_contain_text("file does not exist")
    shot(page, "models-pull")
