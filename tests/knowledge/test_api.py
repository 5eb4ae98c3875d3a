"""The knowledge API on a real server: collections and documents, background ingestion,
hybrid search, and another user's ids answering 404 on every route."""

from __future__ import annotations

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Api
from tests.knowledge import samples
from tests.knowledge.conftest import ingest, new_collection, upload, wait_done
from tests.support.server import serve_in_thread

FACTS = b"""# Lighthouses

## Eddystone

The Eddystone lighthouse stands on rocks fourteen kilometres south of Plymouth.
Its current tower, designed by James Douglass, was lit in 1882.

## Bell Rock

The Bell Rock lighthouse off Arbroath is the oldest surviving sea-washed lighthouse;
Robert Stevenson finished it in 1810.
"""


def test_collection_and_document_round_trip(kb_api: Api) -> None:
    user = kb_api.register()
    http = kb_api.client
    collection = new_collection(kb_api, user, "Coast")
    assert set(collection) == {"id", "name", "description", "created_at", "document_count"}
    assert collection["document_count"] == 0

    response = upload(kb_api, user, collection["id"], "lights.md", FACTS, "text/markdown")
    assert response.status_code == 202, response.text
    queued = response.json()
    assert (
        queued["status"] in ("queued", "processing", "ready") and queued["filename"] == "lights.md"
    )
    document = wait_done(kb_api, user, collection["id"], queued["id"])
    assert document["status"] == "ready" and document["chunks"] >= 2 and document["error"] is None
    pdf = ingest(
        kb_api,
        user,
        collection["id"],
        "report.pdf",
        samples.pdf(["Introduction to the survey.", "The survey counted 412 puffins on Skomer."]),
    )
    assert pdf["pages"] == 2

    listed = http.get(f"/knowledge/{collection['id']}/documents", headers=user.headers).json()
    assert listed["count"] == 2 and {d["id"] for d in listed["data"]} == {document["id"], pdf["id"]}
    assert (
        http.get(f"/knowledge/{collection['id']}", headers=user.headers).json()["document_count"]
        == 2
    )

    found = http.get(
        f"/knowledge/{collection['id']}/search",
        params={"query": "Who built the Bell Rock light?"},
        headers=user.headers,
    ).json()["data"]
    assert found[0]["filename"] == "lights.md" and "Robert Stevenson" in found[0]["text"]
    assert found[0]["heading"] == "Lighthouses > Bell Rock"
    assert set(found[0]) == {
        "document_id", "filename", "chunk_id", "text", "score", "page", "heading"
    }  # fmt: skip
    puffins = http.get(
        f"/knowledge/{collection['id']}/search",
        params={"query": "how many puffins were counted"},
        headers=user.headers,
    ).json()["data"]
    assert puffins[0]["document_id"] == pdf["id"] and puffins[0]["page"] == 2

    renamed = http.patch(
        f"/knowledge/{collection['id']}",
        json={"name": "Sea", "description": "coastal notes"},
        headers=user.headers,
    ).json()
    assert (renamed["name"], renamed["description"]) == ("Sea", "coastal notes")

    url = f"/knowledge/{collection['id']}/documents/{document['id']}"
    assert http.delete(url, headers=user.headers).status_code == 204
    assert http.get(url, headers=user.headers).status_code == 404
    again = http.get(
        f"/knowledge/{collection['id']}/search",
        params={"query": "Bell Rock lighthouse Stevenson"},
        headers=user.headers,
    ).json()["data"]
    assert all(p["document_id"] != document["id"] for p in again)

    assert http.delete(f"/knowledge/{collection['id']}", headers=user.headers).status_code == 204
    assert http.get(f"/knowledge/{collection['id']}", headers=user.headers).status_code == 404
    assert http.get("/knowledge", headers=user.headers).json() == {"data": [], "count": 0}


def test_another_users_collection_is_404_on_every_route(kb_api: Api) -> None:
    alice, bob = kb_api.register(), kb_api.register()
    http = kb_api.client
    mine = new_collection(kb_api, alice, "Alice's")
    document = ingest(kb_api, alice, mine["id"], "secret.txt", b"The vault code is 7741.")
    base = f"/knowledge/{mine['id']}"
    doc = f"{base}/documents/{document['id']}"
    missing = "/knowledge/00000000-0000-0000-0000-000000000000"
    for path in (base, missing):
        for method, url, kwargs in [
            ("GET", path, {}),
            ("PATCH", path, {"json": {"name": "mine now"}}),
            ("GET", f"{path}/documents", {}),
            ("GET", f"{path}/documents/{document['id']}", {}),
            ("DELETE", f"{path}/documents/{document['id']}", {}),
            ("GET", f"{path}/search", {"params": {"query": "vault code"}}),
            ("POST", f"{path}/documents", {"files": {"file": ("a.txt", b"hi", "text/plain")}}),
            ("DELETE", path, {}),
        ]:
            response = http.request(method, url, headers=bob.headers, **kwargs)
            assert response.status_code == 404, (method, url, response.text)
            assert response.json()["code"] == "not_found"
    # Bob's own collection does not reach Alice's passages, and her things are intact.
    his = new_collection(kb_api, bob, "Bob's")
    found = http.get(
        f"/knowledge/{his['id']}/search", params={"query": "vault code 7741"}, headers=bob.headers
    ).json()
    assert found == {"data": [], "count": 0}
    assert http.get("/knowledge", headers=bob.headers).json()["count"] == 1
    assert http.get(doc, headers=alice.headers).json()["status"] == "ready"
    assert http.get(base, headers=alice.headers).json()["name"] == "Alice's"


def test_collections_and_search_work_on_postgres_too(any_db_settings: Settings) -> None:
    with serve_in_thread(create_app(any_db_settings)) as url:
        api = Api(url)
        user, other = api.register(), api.register()
        collection = new_collection(api, user)
        ingest(api, user, collection["id"], "lights.md", FACTS)
        theirs = new_collection(api, other)
        ingest(api, other, theirs["id"], "lights.md", FACTS)
        found = api.client.get(
            f"/knowledge/{collection['id']}/search",
            params={"query": "Eddystone tower Douglass"},
            headers=user.headers,
        ).json()["data"]
        assert "James Douglass" in found[0]["text"]
        own = {p["document_id"] for p in found}
        docs = api.client.get(
            f"/knowledge/{collection['id']}/documents", headers=user.headers
        ).json()["data"]
        assert own == {docs[0]["id"]}  # the other user's copy never shows
        api.client.close()


def test_deleting_an_account_purges_its_knowledge(kb_api: Api, settings: Settings) -> None:
    admin, user = kb_api.register(), kb_api.register()
    collection = new_collection(kb_api, user)
    ingest(kb_api, user, collection["id"], "lights.md", FACTS)
    files = settings.data_dir / "knowledge" / "files" / str(user.id)
    assert any(files.iterdir())
    gone = kb_api.client.delete(f"/users/{user.id}", headers=admin.headers)
    assert gone.status_code == 204, gone.text
    assert not files.exists()
    import sqlite3

    with sqlite3.connect(settings.data_dir / "orchestrator.db") as db:
        assert db.execute("SELECT count(*) FROM knowledge_chunks").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM knowledge_fts").fetchone()[0] == 0
