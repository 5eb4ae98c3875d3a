"""Findings of the attacker's review of accounts, each pinned by a regression test."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.core.security import PasswordHasher, verify_password
from tests.conftest import TEST_SECRET, Api
from tests.support.server import serve_in_thread


class GatedVerify:
    """A password check that holds until the test opens the gate, counting how many run
    at once: a check on the event loop would freeze the whole server meanwhile."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.running = self.most = 0

    def __call__(self, password: str, password_hash: str | None) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.gate.wait(60)
            return verify_password(password, password_hash)
        finally:
            with self.lock:
                self.running -= 1


def test_a_flood_of_failed_logins_does_not_stall_other_routes(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"login_max_failures": 10_000, "login_max_client_failures": 10_000}
    )
    verify = GatedVerify()
    app = create_app(settings, hasher=PasswordHasher(2, verify_fn=verify))
    flood_size = 30

    async def run(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            answered: list[int] = []

            async def bad_login(n: int) -> None:
                reply = await client.post(
                    "/api/v1/auth/login", json={"username": "target", "password": f"wrong-{n}"}
                )
                answered.append(reply.status_code)

            flood = [asyncio.create_task(bad_login(n)) for n in range(flood_size)]
            while verify.running < 2:  # the hashing slots are taken: the flood is on
                await asyncio.sleep(0.01)
            for _ in range(5):
                health = await client.get("/system/health")
                assert health.status_code == 200
            assert answered == []  # every login of the flood is still waiting
            verify.gate.set()
            await asyncio.gather(*flood)
            return answered

    with serve_in_thread(app) as url:
        registered = httpx.post(
            f"{url}/api/v1/auth/register",
            json={"username": "target", "password": "correct-horse-1"},
        )
        assert registered.status_code == 201
        answered = asyncio.run(run(url))
    assert answered == [401] * flood_size
    assert verify.most == 2  # never more checks at once than hashing slots


def test_spraying_many_usernames_from_one_address_is_throttled(api: Api) -> None:
    codes = [
        api.client.post(
            "/auth/login", json={"username": f"victim{n}", "password": "guess-guess"}
        ).status_code
        for n in range(25)
    ]
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}, codes
    refused = api.client.post("/auth/login", json={"username": "other", "password": "x" * 8})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0


def test_concurrent_first_signups_make_exactly_one_admin(any_db_api: Api) -> None:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=any_db_api.base_url, timeout=120) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/auth/register",
                        json={"username": f"racer{n}", "password": "correct-horse-1"},
                    )
                    for n in range(20)
                )
            )

    answers = asyncio.run(run())
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
    roles = [a.json()["role"] for a in answers]
    assert roles.count("admin") == 1, roles


def test_usernames_differing_only_in_case_are_one_account(any_db_api: Api) -> None:
    alice = any_db_api.register("Alice")
    again = any_db_api.client.post(
        "/auth/register", json={"username": "aLICE", "password": "another-pass-1"}
    )
    assert again.status_code == 409 and again.json()["code"] == "username_taken"
    me = any_db_api.login("ALICE", alice.password)
    assert me.id == alice.id
    shown = any_db_api.client.get("/auth/me", headers=me.headers).json()
    assert shown["username"] == "Alice"


@pytest.mark.parametrize(
    "sub",
    [
        "9" * 40,  # overflows every integer column
        str(2**63),
        "\u0661",  # ARABIC-INDIC DIGIT ONE: int() reads it as 1
        "\uff11",  # FULLWIDTH DIGIT ONE
        " 1",
        "1_0",
        "+1",
        "01",
        "-1",
        "0",
        "1" * 5000,
        1,  # not a string
    ],
)
def test_a_signed_token_with_a_strange_sub_is_401(api: Api, sub: object) -> None:
    api.register()  # user 1 exists: a lenient parse would log in as them
    now = datetime.now(UTC)
    token = jwt.encode(
        {"sub": sub, "ver": 0, "exp": now + timedelta(minutes=5)}, TEST_SECRET, algorithm="HS256"
    )
    answer = api.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401, answer.text


@pytest.mark.parametrize("ver", [1, -1, "0", 2**40, None, 0.0, True])
def test_a_token_with_another_version_is_401(api: Api, ver: object) -> None:
    user = api.register()
    now = datetime.now(UTC)
    token = jwt.encode(
        {"sub": str(user.id), "ver": ver, "exp": now + timedelta(minutes=5)},
        TEST_SECRET,
        algorithm="HS256",
    )
    answer = api.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401, answer.text
