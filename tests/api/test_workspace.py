"""The workspace over HTTP on a real server: list, upload, download, delete, zip, limits."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Account, Api
from tests.support.server import serve_in_thread


@pytest.fixture
def user(api: Api) -> Account:
    return api.register()


def put(api: Api, user: Account, path: str, content: bytes) -> httpx.Response:
    return api.client.put(f"/workspace/files/{path}", content=content, headers=user.headers)


def test_upload_creates_folders_and_lists_download_replace(api: Api, user: Account) -> None:
    created = put(api, user, "reports/2025/q1.csv", b"a,b\n1,2\n")
    assert created.status_code == 201, created.text
    info = created.json()
    assert info["name"] == "q1.csv" and info["path"] == "reports/2025/q1.csv"
    assert info["type"] == "file" and info["size"] == 8 and info["modified"]
    replaced = put(api, user, "reports/2025/q1.csv", b"a,b\n3,4\n5,6\n")
    assert replaced.status_code == 200 and replaced.json()["size"] == 12

    top = api.client.get("/workspace/files", headers=user.headers).json()
    assert top["count"] == 1 and top["data"][0] == {
        **top["data"][0],
        "name": "reports",
        "path": "reports",
        "type": "directory",
        "size": None,
    }
    inner = api.client.get(
        "/workspace/files", params={"path": "reports/2025"}, headers=user.headers
    )
    assert [(e["name"], e["size"]) for e in inner.json()["data"]] == [("q1.csv", 12)]

    got = api.client.get("/workspace/files/reports/2025/q1.csv", headers=user.headers)
    assert got.status_code == 200 and got.content == b"a,b\n3,4\n5,6\n"
    assert got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"].startswith("inline")
    attached = api.client.get(
        "/workspace/files/reports/2025/q1.csv", params={"download": 1}, headers=user.headers
    )
    assert attached.headers["content-disposition"] == (
        "attachment; filename=\"q1.csv\"; filename*=UTF-8''q1.csv"
    )


def test_directories_are_listed_first_and_unicode_names_round_trip(api: Api, user: Account) -> None:
    for path in ("b.txt", "a-dir/x.txt", "Été/notes ünï.md", "C.txt"):
        assert put(api, user, path, b"x").status_code == 201
    listed = api.client.get("/workspace/files", headers=user.headers).json()["data"]
    assert [e["name"] for e in listed] == ["a-dir", "Été", "b.txt", "C.txt"]
    got = api.client.get("/workspace/files/Été/notes ünï.md", headers=user.headers)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/markdown")
    assert "filename*=UTF-8''notes%20%C3%BCn%C3%AF.md" in got.headers["content-disposition"]


def test_multipart_upload_stores_the_file_field(api: Api, user: Account) -> None:
    answer = api.client.put(
        "/workspace/files/uploads/photo.png",
        files={"file": ("whatever.bin", b"\x89PNG\r\n\x1a\nrest", "image/png")},
        headers=user.headers,
    )
    assert answer.status_code == 201, answer.text
    got = api.client.get("/workspace/files/uploads/photo.png", headers=user.headers)
    assert got.content == b"\x89PNG\r\n\x1a\nrest" and got.headers["content-type"] == "image/png"
    missing = api.client.put(
        "/workspace/files/x.txt", files={"other": ("a.txt", b"a")}, headers=user.headers
    )
    assert missing.status_code == 422 and "'file'" in missing.json()["detail"]
    assert api.client.get("/workspace/files/x.txt", headers=user.headers).status_code == 404


def test_empty_upload_and_any_content_type_are_stored_raw(api: Api, user: Account) -> None:
    assert put(api, user, "empty.txt", b"").status_code == 201
    got = api.client.get("/workspace/files/empty.txt", headers=user.headers)
    assert got.status_code == 200 and got.content == b""
    answer = api.client.put(
        "/workspace/files/data.json",
        content=b"\x00\x01not json",
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 201
    answer = api.client.put(
        "/workspace/files/img.png",
        content=b"plain text really",
        headers={**user.headers, "Content-Type": "text/definitely-wrong"},
    )
    assert answer.status_code == 201
    assert api.client.get("/workspace/files/data.json", headers=user.headers).content == (
        b"\x00\x01not json"
    )


def test_delete_file_and_folder(api: Api, user: Account) -> None:
    put(api, user, "keep.txt", b"k")
    put(api, user, "tree/a/b/c.txt", b"c")
    put(api, user, "tree/d.txt", b"d")
    assert api.client.delete("/workspace/files/keep.txt", headers=user.headers).status_code == 204
    gone = api.client.get("/workspace/files/keep.txt", headers=user.headers)
    assert gone.status_code == 404 and gone.json()["code"] == "path_not_found"
    assert api.client.delete("/workspace/files/tree", headers=user.headers).status_code == 204
    assert api.client.get("/workspace/files", headers=user.headers).json() == {
        "data": [],
        "count": 0,
    }
    again = api.client.delete("/workspace/files/tree", headers=user.headers)
    assert again.status_code == 404
    for root in ("", ".", "./"):
        answer = api.client.delete(f"/workspace/files/{root}", headers=user.headers)
        assert answer.status_code in (400, 405), answer.text


def test_archive_zips_a_folder_or_the_whole_workspace(api: Api, user: Account) -> None:
    put(api, user, "proj/src/main.py", b"print('hi')\n" * 100)
    put(api, user, "proj/README.md", b"# Proj\n")
    put(api, user, "other.txt", b"o")
    api.client.put("/workspace/files/proj/empty/.keep", content=b"", headers=user.headers)
    answer = api.client.get("/workspace/archive", params={"path": "proj"}, headers=user.headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert 'filename="proj.zip"' in answer.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == [
        "proj/README.md",
        "proj/empty/",
        "proj/empty/.keep",
        "proj/src/",
        "proj/src/main.py",
    ]
    assert archive.read("proj/src/main.py") == b"print('hi')\n" * 100
    whole = api.client.get("/workspace/archive", headers=user.headers)
    assert 'filename="workspace.zip"' in whole.headers["content-disposition"]
    assert "other.txt" in zipfile.ZipFile(io.BytesIO(whole.content)).namelist()
    not_dir = api.client.get(
        "/workspace/archive", params={"path": "other.txt"}, headers=user.headers
    )
    assert not_dir.status_code == 400
    missing = api.client.get("/workspace/archive", params={"path": "nope"}, headers=user.headers)
    assert missing.status_code == 404


def test_bad_requests_get_clear_4xx(api: Api, user: Account) -> None:
    put(api, user, "file.txt", b"f")
    cases = [
        ("GET", "/workspace/files/nope.txt", 404),
        ("GET", "/workspace/files", 404, {"path": "nope"}),
        ("GET", "/workspace/files", 400, {"path": "file.txt"}),
        ("PUT", "/workspace/files/file.txt/inside.txt", 400),
        ("GET", "/workspace/files/file.txt/inside.txt", 400),
    ]
    for method, url, expected, *params in cases:
        answer = api.client.request(
            method, url, params=params[0] if params else None, content=b"x", headers=user.headers
        )
        assert answer.status_code == expected, (method, url, answer.text)
        assert answer.json()["detail"]
    put(api, user, "adir/x.txt", b"x")
    answer = put(api, user, "adir", b"over a folder")
    assert answer.status_code == 400 and "directory" in answer.json()["detail"]


@pytest.fixture
def small_api(settings: Settings) -> Iterator[Api]:
    """A server with MAX_UPLOAD_MB=1 and WORKSPACE_QUOTA_MB=2."""
    settings = settings.model_copy(update={"max_upload_mb": 1, "workspace_quota_mb": 2})
    with serve_in_thread(create_app(settings)) as url:
        api = Api(url)
        yield api
        api.client.close()


MB = 1024 * 1024


def _leftovers(settings: Settings) -> list[str]:
    return sorted(str(p.name) for p in Path(settings.workspaces_dir).rglob("*.part"))


def test_upload_over_max_upload_mb_is_413_naming_the_limit(
    small_api: Api, settings: Settings
) -> None:
    user = small_api.register()
    declared = put(small_api, user, "big.bin", b"x" * (MB + 128 * 1024))
    assert declared.status_code == 413 and "MAX_UPLOAD_MB (1 MB)" in declared.json()["detail"]

    def stream() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(5):
            yield b"y" * (256 * 1024)

    streamed = small_api.client.put(
        "/workspace/files/big.bin", content=stream(), headers=user.headers
    )
    assert streamed.status_code == 413 and "MAX_UPLOAD_MB" in streamed.json()["detail"]
    just_over = put(small_api, user, "big.bin", b"z" * (MB + 1))  # within the slack: route says no
    assert just_over.status_code == 413 and "MAX_UPLOAD_MB" in just_over.json()["detail"]
    assert put(small_api, user, "ok.bin", b"z" * MB).status_code == 201
    listed = small_api.client.get("/workspace/files", headers=user.headers).json()["data"]
    assert [e["name"] for e in listed] == ["ok.bin"]
    assert _leftovers(settings) == []


def test_upload_over_the_workspace_quota_is_413_naming_the_limit(
    small_api: Api, settings: Settings
) -> None:
    user = small_api.register()
    for name in ("a.bin", "b.bin"):
        assert put(small_api, user, name, b"a" * (900 * 1024)).status_code == 201
    over = put(small_api, user, "c.bin", b"c" * (400 * 1024))
    assert over.status_code == 413, over.text
    assert over.json()["code"] == "workspace_quota_exceeded"
    assert "WORKSPACE_QUOTA_MB = 2 MB" in over.json()["detail"]
    # Replacing a file only counts the difference; deleting makes room.
    assert put(small_api, user, "a.bin", b"A" * (1000 * 1024)).status_code == 200
    assert (
        small_api.client.delete("/workspace/files/b.bin", headers=user.headers).status_code == 204
    )
    assert put(small_api, user, "c.bin", b"c" * (400 * 1024)).status_code == 201
    assert _leftovers(settings) == []
    other = small_api.register()  # the quota is per user
    assert put(small_api, other, "a.bin", b"a" * (900 * 1024)).status_code == 201
