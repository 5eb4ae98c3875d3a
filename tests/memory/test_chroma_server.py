"""CHROMA_URL: memories in a real Chroma server (`chroma run`, shipped with chromadb)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.memory import NewMemory
from tests.conftest import Api
from tests.memory.conftest import MemoryWorld
from tests.support.server import free_port, serve_in_thread


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Chroma server on loopback for this module."""
    binary = Path(sys.executable).parent / "chroma"
    if not binary.exists() and shutil.which("chroma") is None:
        pytest.skip("the chroma command (from chromadb) is not installed")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [str(binary), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the Chroma server did not start")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_memories_live_in_the_chroma_server_when_chroma_url_is_set(
    world: MemoryWorld, chroma_url: str
) -> None:
    world.settings = world.settings.model_copy(update={"chroma_url": chroma_url})
    store = world.open()
    try:
        await store.add_many(
            world.alice,
            [NewMemory("I grow tomatoes on my balcony"), NewMemory("I am learning Japanese")],
        )
        await store.add(world.bob, NewMemory("I grow roses"))
        found = await store.search(world.alice, "Which vegetables do I grow?", limit=5)
        assert [f.memory.content for f in found] == [
            "I grow tomatoes on my balcony",
            "I am learning Japanese",
        ]
    finally:
        await store.close()
    assert not (world.settings.data_dir / "memory").exists()  # nothing embedded on this side
    collections = httpx.get(
        f"{chroma_url}/api/v2/tenants/default_tenant/databases/default_database/collections"
    ).json()
    assert sorted(c["metadata"]["user_id"] for c in collections) == [world.alice, world.bob]


def test_unreachable_chroma_server_answers_503_not_500(settings: Settings) -> None:
    settings = settings.model_copy(update={"chroma_url": f"http://127.0.0.1:{free_port()}"})
    with serve_in_thread(create_app(settings)) as url:
        api = Api(url)
        user = api.register()
        added = api.client.post("/memory", json={"content": "x"}, headers=user.headers)
        listed = api.client.get("/memory", headers=user.headers)
        api.client.close()
    assert added.status_code == 503 and added.json()["code"] == "memory_unavailable"
    assert listed.json() == {"data": [], "count": 0}  # the list is SQL's: it still answers
