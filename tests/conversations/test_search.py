"""Search over titles and messages on SQLite and Postgres: ranked, accents folded both
ways, matched words marked, each user's own conversations only."""

from __future__ import annotations

from typing import Any

from tests.conftest import Account, Api

NOW = "2026-11-20T10:00:00Z"


def make(api: Api, user: Account, title: str, *texts: str) -> str:
    """A conversation holding `texts` as a chain of messages (through an import)."""
    messages = [
        {
            "id": i + 1,
            "parent_id": i or None,
            "role": "user" if i % 2 == 0 else "assistant",
            "content": text,
            "created_at": NOW,
        }
        for i, text in enumerate(texts)
    ]
    body = {"title": title, "created_at": NOW, "messages": messages}
    response = api.client.post("/conversations/import", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def find(api: Api, user: Account, query: str) -> list[dict[str, Any]]:
    response = api.client.get("/conversations", params={"query": query}, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def marked(hit: dict[str, Any]) -> list[str]:
    return [piece["text"] for piece in hit["match"]["snippet"] if piece["match"]]


def test_accents_are_folded_both_ways_and_matches_marked(any_db_api: Api) -> None:
    alice = any_db_api.register()
    accented = make(any_db_api, alice, "Job hunt", "Here is my résumé for the role", "Looks good")
    plain = make(any_db_api, alice, "Resume of the meeting", "We spoke about budgets")
    make(any_db_api, alice, "Weather", "Rain tomorrow")
    for query in ("resume", "résumé", "RÉSUMÉ", "résu"):
        hits = {h["id"]: h for h in find(any_db_api, alice, query)}
        assert set(hits) == {accented, plain}, query
        assert marked(hits[accented]) == ["résumé"]
        assert hits[accented]["match"]["message_id"] is not None
        assert marked(hits[plain]) == ["Resume"] and hits[plain]["match"]["message_id"] is None
    snippet = "".join(p["text"] for p in find(any_db_api, alice, "role")[0]["match"]["snippet"])
    assert snippet == "Here is my résumé for the role"


def test_results_are_ranked_and_need_every_word(any_db_api: Api) -> None:
    alice = any_db_api.register()
    filler = " ".join(f"word{i}" for i in range(80))
    weak = make(any_db_api, alice, "Notes", f"{filler} budget {filler}")
    strong = make(any_db_api, alice, "Money", "budget budget: the budget")
    both = make(any_db_api, alice, "Trip", "the travel budget for June")
    assert [h["id"] for h in find(any_db_api, alice, "budget")] == [strong, both, weak]
    assert [h["id"] for h in find(any_db_api, alice, "budget june")] == [both]
    hits = find(any_db_api, alice, "budget")
    ranks = [h["match"]["rank"] for h in hits]
    assert ranks == sorted(ranks, reverse=True) and hits[0]["id"] == strong
    assert hits[-1]["id"] == weak
    assert marked(hits[-1]) == ["budget"]
    assert hits[-1]["match"]["snippet"][0]["text"].startswith("…")


def test_search_sees_only_the_callers_conversations(any_db_api: Api) -> None:
    alice, bob = any_db_api.register(), any_db_api.register()
    make(any_db_api, alice, "Private", "my secret résumé")
    mine = make(any_db_api, bob, "Mine", "my own resume")
    assert [h["id"] for h in find(any_db_api, bob, "resume")] == [mine]
    assert [h["id"] for h in find(any_db_api, bob, "secret")] == []


def test_query_syntax_is_never_interpreted(any_db_api: Api) -> None:
    alice = any_db_api.register()
    cid = make(any_db_api, alice, "Quotes", 'he said "near" and OR then -minus')
    for query in ('"', "NEAR(a b)", "a OR", "* ^ -", "'; DROP TABLE messages; --", "a:*|b&!c"):
        response = any_db_api.client.get(
            "/conversations", params={"query": query}, headers=alice.headers
        )
        assert response.status_code == 200, (query, response.text)
    assert [h["id"] for h in find(any_db_api, alice, 'NEAR OR "minus"')] == [cid]
    too_long = any_db_api.client.get(
        "/conversations", params={"query": "x" * 201}, headers=alice.headers
    )
    assert too_long.status_code == 422
    # No words: nothing matches (the plain listing is the query-less call).
    assert find(any_db_api, alice, "!!!") == []
    listing = any_db_api.client.get("/conversations", headers=alice.headers).json()
    assert [c["id"] for c in listing["data"]] == [cid] and listing["data"][0]["match"] is None
