"""QUOTA_CONCURRENT_RUNS and SQLite under a burst: one user's parallel chats either run or
get a 429 quota_exceeded, none dies of "database is locked", and others chat on."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Api, scripted_gateway
from tests.support.scripted_model import Reply, ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools


def test_parallel_chats_of_one_user_run_or_get_429_and_none_hits_a_locked_database(
    settings: Settings, model: ScriptedModelServer
) -> None:
    # Each answer streams for about 0.4 s: the user's burst surely has more than 5 runs
    # going at once, however fast a turn is (instant answers ended before the next began).
    model.default = lambda body: Reply("ok " * 20, token_delay=0.02)
    settings = settings.model_copy(update={"ollama_url": model.url, "quota_concurrent_runs": 5})
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        admin, user, other = api.register(), api.register(), api.register()

        def chat(headers: dict[str, str]) -> httpx.Response:
            with httpx.Client(base_url=f"{url}/api/v1", timeout=120) as client:
                return client.post("/chat", json={"message": "hi"}, headers=headers)

        with ThreadPoolExecutor(max_workers=50) as pool:
            burst = list(pool.map(chat, [user.headers] * 100 + [admin.headers] * 100))
        answers = [r for r in burst if r.status_code == 200]
        refused = [r for r in burst if r.status_code == 429]
        assert len(answers) + len(refused) == len(burst), {r.status_code for r in burst}
        assert all(r.json()["status"] == "succeeded" for r in answers)
        assert all(r.json()["code"] == "quota_exceeded" for r in refused)
        assert all("reset_at" in r.json() for r in refused)
        assert len(answers[:]) >= 100  # the admin is exempt: all of theirs ran
        assert refused  # the user went over 5 at once
        runs = api.client.get("/runs?limit=500", headers=user.headers).json()["data"]
        assert all(r["status"] == "succeeded" for r in runs)  # no run died of a lock
        assert not any("locked" in (r["error"] or "") for r in runs)
        assert chat(other.headers).status_code == 200  # another user is not held back
        api.client.close()
