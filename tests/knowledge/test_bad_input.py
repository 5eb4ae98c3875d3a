"""Bad uploads get a clear 4xx at once, or end as a `failed` document with a reason:
never a 500, never stuck in `processing`, and a failed document keeps no passages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from orchestrator.core.config import Settings
from tests.conftest import Account, Api
from tests.knowledge import samples
from tests.knowledge.conftest import new_collection, upload, wait_done


def chunk_rows(settings: Settings) -> tuple[int, int]:
    """Passages in the table and in the keyword index, all users together."""
    with sqlite3.connect(settings.data_dir / "orchestrator.db") as db:
        rows = db.execute("SELECT count(*) FROM knowledge_chunks").fetchone()[0]
        fts = db.execute("SELECT count(*) FROM knowledge_fts").fetchone()[0]
    return rows, fts


def failed(api: Api, user: Account, collection_id: str, name: str, data: bytes) -> str:
    response = upload(api, user, collection_id, name, data)
    assert response.status_code == 202, response.text
    document = wait_done(api, user, collection_id, response.json()["id"])
    assert document["status"] == "failed" and document["chunks"] == 0, document
    assert document["error"]
    return str(document["error"])


def test_unreadable_documents_fail_with_a_reason_and_leave_nothing(
    kb_api: Api, settings: Settings
) -> None:
    user = kb_api.register()
    collection = new_collection(kb_api, user)["id"]
    corrupt = b"%PDF-1.7\n1 0 obj <</Type /Catalog /Pages 9 0 R>>\nendobj\ntrailer <<>>\n%%EOF"
    assert "damaged" in failed(kb_api, user, collection, "broken.pdf", corrupt)
    locked = samples.encrypted_pdf("The merger closes in May.")
    assert "encrypted" in failed(kb_api, user, collection, "locked.pdf", locked)
    assert "no text" in failed(kb_api, user, collection, "blank.txt", b"   \n\n \t ")
    assert "no text" in failed(kb_api, user, collection, "blank.pdf", samples.pdf(["", ""]))
    assert "UTF-8" in failed(kb_api, user, collection, "latin.txt", "caf\xe9".encode("latin-1"))
    pages = "\f".join(f"Page {n}: the ledger entry for day {n}." for n in range(10_000))
    reason = failed(kb_api, user, collection, "huge.txt", pages.encode())
    assert "too large" in reason and "KNOWLEDGE_MAX_CHUNKS" in reason
    assert chunk_rows(settings) == (0, 0)
    found = kb_api.client.get(
        f"/knowledge/{collection}/search", params={"query": "ledger merger"}, headers=user.headers
    ).json()
    assert found["count"] == 0


def test_bad_uploads_are_refused_at_once_with_a_clear_error(kb_api: Api) -> None:
    user = kb_api.register()
    collection = new_collection(kb_api, user)["id"]
    cases = [
        ("empty.txt", b"", "text/plain", 422, "empty"),
        ("photo.png", b"\x89PNG\r\n\x1a\n....", "image/png", 415, "not supported"),
        ("fake.pdf", b"\x89PNG\r\n\x1a\n....", "application/pdf", 415, "not a PDF"),
        ("fake.docx", b"just text", "text/plain", 415, "not a DOCX"),
        ("program.txt", b"MZ\x90\x00\x03\x00", "text/plain", 415, "binary"),
        ("noname", b"hello", "application/octet-stream", 415, "not supported"),
    ]
    for name, data, content_type, code, words in cases:
        response = upload(kb_api, user, collection, name, data, content_type)
        assert response.status_code == code, (name, response.text)
        assert words in response.json()["detail"], (name, response.text)
    missing_file = kb_api.client.post(
        f"/knowledge/{collection}/documents", data={"x": "1"}, headers=user.headers
    )
    assert missing_file.status_code == 422
    listed = kb_api.client.get(f"/knowledge/{collection}/documents", headers=user.headers)
    assert listed.json()["count"] == 0  # nothing refused was kept


def test_a_file_named_with_dots_and_slashes_is_kept_by_its_last_name_only(
    kb_api: Api, settings: Settings
) -> None:
    user = kb_api.register()
    collection = new_collection(kb_api, user)["id"]
    response = upload(
        kb_api, user, collection, "../../x", b"Plain words about otters.", "text/plain"
    )
    assert response.status_code == 202, response.text
    document = wait_done(kb_api, user, collection, response.json()["id"])
    assert document["filename"] == "x" and document["status"] == "ready"
    stored = settings.data_dir / "knowledge" / "files" / str(user.id) / document["id"]
    assert stored.read_bytes() == b"Plain words about otters."
    for folder in (settings.data_dir, settings.data_dir.parent, settings.data_dir / "knowledge"):
        assert not (Path(folder) / "x").exists()


def test_an_upload_over_max_upload_mb_is_413(kb_api: Api) -> None:
    user = kb_api.register()
    collection = new_collection(kb_api, user)["id"]
    big = b"a" * (50 * 1024 * 1024 + 200 * 1024)
    response = upload(kb_api, user, collection, "big.txt", big, "text/plain")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
