"""Browser tests: the built web app on a real backend, driven by Debian's Chromium.

The web app is built once per session (scripts/build-frontend.sh: a no-op when nothing
changed), each test gets a fresh backend on SQLite whose model is the scripted one, and a
fresh browser context. A test fails on any console error or uncaught exception other than
the browser's own note of an HTTP error status (the app shows those to the user itself),
which catches Content-Security-Policy violations too. A screenshot of each test's last
screen goes to frontend/test-results/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Account, Api, require_service, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer, demo_reply
from tests.support.server import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "orchestrator" / "web" / "static"
RESULTS = ROOT / "frontend" / "test-results"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-1"
# The browser logs every 4xx/5xx answer as a console error; the app reports those itself.
EXPECTED_CONSOLE = re.compile(r"^Failed to load resource: the server responded with a status of")

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def built_frontend() -> Path:
    """The web app, built (or found up to date) once per session."""
    if shutil.which("npm") is None and not (STATIC / "index.html").exists():
        require_service("npm (Node.js, to build the web app)", False)
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-frontend.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert build.returncode == 0, f"building the web app failed:\n{build.stdout}\n{build.stderr}"
    assert (STATIC / "index.html").exists()
    return STATIC


@pytest.fixture(scope="module")
def browser(sqlite_template: Path) -> Iterator[Browser]:
    """Debian's Chromium (never a downloaded browser), one per test module.

    Playwright's sync API keeps an asyncio loop running in this thread while it is open, so
    it must not outlive these modules (later tests run their own loops), and the session
    fixtures that call asyncio.run (`sqlite_template`) are made before it starts.
    """
    require_service("Chromium", CHROMIUM.exists())
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@dataclass
class Site:
    """A running backend with the built app, and helpers to make accounts on it."""

    url: str
    model: ScriptedModelServer
    api: Api = field(init=False)

    def __post_init__(self) -> None:
        self.api = Api(self.url)

    def account(self, username: str) -> Account:
        return self.api.register(username, PASSWORD)


@pytest.fixture
def start_site(
    built_frontend: Path, settings: Settings, model: ScriptedModelServer
) -> Iterator[Callable[..., Site]]:
    """Starts a backend (settings overrides as keywords) whose model is the scripted one."""
    model.default = demo_reply  # what nobody scripted still gets a sensible answer
    with ExitStack() as stack:

        def start(*, connections_from_db: bool = False, **overrides: object) -> Site:
            """`connections_from_db`: the gateway reads the model connections from the
            database (OLLAMA_URL, the scripted model, seeds the first), as in production."""
            configured = settings.model_copy(
                update={"ollama_url": model.url, "default_model": "scripted", **overrides}
            )
            models = None if connections_from_db else scripted_gateway(configured, model)
            app = create_app(configured, models=models)
            site = Site(stack.enter_context(serve_in_thread(app)), model)
            stack.callback(site.api.client.close)
            return site

        yield start


@pytest.fixture
def site(start_site: Callable[..., Site]) -> Site:
    """A backend with open registration."""
    return start_site()


@dataclass
class Browsing:
    """A page, with what the console said."""

    page: Page
    problems: list[str]


@pytest.fixture
def browsing(
    browser: Browser, start_site: Callable[..., Site], request: pytest.FixtureRequest
) -> Iterator[Browsing]:
    """A fresh context and page; fails the test on console errors, screenshots the end.

    It depends on `start_site` so that pytest closes the page before it stops any server
    the test started: with `page` asked for before `site`, the server stopped first and
    the app's chat socket, reconnecting to it, logged a console error (a flaky failure).
    """
    # English unless a test asks for another language (the app follows the browser's).
    context = browser.new_context(viewport={"width": 1280, "height": 820}, locale="en-US")
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not EXPECTED_CONSOLE.match(message.text):
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    yield Browsing(page, problems)
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{request.node.name}.png"))
    context.close()
    assert problems == [], "\n".join(problems)


@pytest.fixture
def page(browsing: Browsing) -> Page:
    return browsing.page


def shot(page: Page, name: str) -> None:
    """A screenshot for the record (frontend/test-results/NAME.png)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{name}.png"))


def sign_in(page: Page, site: Site, username: str, password: str = PASSWORD) -> None:
    """Log in through the form and wait for the chat."""
    page.goto(f"{site.url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_test_id("current-user")).to_have_text(username)
