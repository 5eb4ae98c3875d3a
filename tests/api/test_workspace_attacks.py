"""Attacks on the workspace routes: the file tools' escape tests, repeated over HTTP.

A secret lives outside the user's workspace (beside it, and in another user's
workspace); no route may read, list, zip, overwrite or delete it, whatever the path
looks like on the wire: `..`, encoded dots and slashes, absolute paths, links, NUL,
over-long names. Raw request targets go through `http.client`, which sends them
exactly as written (httpx would normalise the dots away before they reach us).
"""

from __future__ import annotations

import http.client
import io
import os
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Account, Api
from tests.support.server import serve_in_thread


@dataclass
class Scene:
    """A server, a user, their workspace, and secrets outside it."""

    api: Api
    user: Account
    root: Path  # the user's workspace
    secret: Path  # beside the workspaces, in DATA_DIR
    neighbour: Path  # a file in another user's workspace
    text: str
    before: set[str]  # what DATA_DIR and the other workspace held

    def untouched(self) -> None:
        """The secrets are intact and nothing appeared outside the user's workspace."""
        assert self.secret.read_text() == self.text
        assert self.neighbour.read_text() == self.text
        assert _outside(self.secret.parent, self.neighbour.parent) == self.before


def _outside(data_dir: Path, neighbour_root: Path) -> set[str]:
    names = {p.name for p in data_dir.iterdir() if not p.name.startswith("orchestrator.db")}
    return names | {f"other/{p.name}" for p in neighbour_root.iterdir()}


@pytest.fixture
def scene(settings: Settings) -> Iterator[Scene]:
    with serve_in_thread(create_app(settings)) as url:
        api = Api(url)
        user, other = api.register(), api.register()
        # Touch both workspaces so that they exist, then plant the secrets.
        for who in (user, other):
            put = api.client.put("/workspace/files/hello.txt", content=b"hi", headers=who.headers)
            assert put.status_code == 201, put.text
        text = f"TOP-SECRET-{uuid.uuid4().hex}"
        secret = settings.data_dir / "secret.txt"
        secret.write_text(text)
        neighbour = settings.workspaces_dir / str(other.id) / "private.txt"
        neighbour.write_text(text)
        root = settings.workspaces_dir / str(user.id)
        before = _outside(settings.data_dir, neighbour.parent)
        yield Scene(api, user, root, secret, neighbour, text, before)
        api.client.close()


def raw(scene: Scene, method: str, target: str, body: bytes | None = None) -> tuple[int, bytes]:
    """Send `target` byte for byte (no normalisation); returns status and body."""
    parts = urlsplit(scene.api.base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        headers = dict(scene.user.headers)
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


FILES = "/api/v1/workspace/files/"
TRAVERSALS = [
    "../secret.txt",
    "../../secret.txt",
    "./../../secret.txt",
    "sub/../../../secret.txt",
    "..",
    "%2e%2e/%2e%2e/secret.txt",
    "%2E%2E%2F%2E%2E%2Fsecret.txt",
    "..%2F..%2Fsecret.txt",
    "sub%2F..%2F..%2F..%2Fsecret.txt",
    "%2e%2e%2f2%2fprivate.txt",
    "../2/private.txt",
]


def _assert_refused(scene: Scene, status: int, body: bytes, *, allowed: tuple[int, ...]) -> None:
    assert status in allowed, (status, body)
    assert scene.text.encode() not in body
    if status >= 400 and body:
        assert b"detail" in body  # a JSON error, never a traceback


def test_download_upload_delete_refuse_dot_dot_and_encoded_escapes(scene: Scene) -> None:
    for path in TRAVERSALS:
        for method in ("GET", "PUT", "DELETE"):
            status, body = raw(scene, method, FILES + path, b"pwned" if method == "PUT" else None)
            _assert_refused(scene, status, body, allowed=(400, 403, 404))
            scene.untouched()
    assert sorted(p.name for p in scene.root.iterdir()) == ["hello.txt"]


def test_backslashes_are_name_characters_not_separators(scene: Scene) -> None:
    status, _ = raw(scene, "PUT", FILES + "..%5c..%5csecret.txt", b"inside")
    assert status == 201
    assert (scene.root / "..\\..\\secret.txt").read_bytes() == b"inside"
    scene.untouched()


def test_list_and_archive_refuse_dot_dot_escapes(scene: Scene) -> None:
    for path in ("..", "../..", "%2e%2e", "sub/../..", "../2", "..%2F2", "./.."):
        for route in ("/api/v1/workspace/files?path=", "/api/v1/workspace/archive?path="):
            status, body = raw(scene, "GET", route + path)
            _assert_refused(scene, status, body, allowed=(400, 403, 404))
            assert b"private.txt" not in body and b"secret.txt" not in body


def test_the_workspace_itself_is_not_a_file(scene: Scene) -> None:
    for target in (FILES, FILES + ".", FILES + "./", FILES + "%2e"):
        for method in ("GET", "PUT", "DELETE"):
            status, body = raw(scene, method, target, b"x" if method == "PUT" else None)
            assert status == 400 and b"detail" in body, (method, target, status, body)
    assert scene.root.is_dir() and (scene.root / "hello.txt").read_bytes() == b"hi"


ABSOLUTE = [
    FILES + "/etc/passwd",
    FILES + "%2Fetc%2Fpasswd",
    FILES + "{secret}",
    "/api/v1/workspace/files?path=/etc",
    "/api/v1/workspace/files?path=%2F",
    "/api/v1/workspace/archive?path=/",
    "/api/v1/workspace/archive?path={parent}",
]


def test_routes_refuse_absolute_paths(scene: Scene) -> None:
    for template in ABSOLUTE:
        target = template.format(secret=scene.secret, parent=scene.secret.parent)
        for method in ("GET", "PUT", "DELETE") if target.startswith(FILES) else ("GET",):
            status, body = raw(scene, method, target, body=b"pwned" if method == "PUT" else None)
            _assert_refused(scene, status, body, allowed=(400, 403))
            assert b"root:" not in body
    scene.untouched()
    assert Path("/etc/passwd").read_bytes() != b"pwned"


def test_routes_refuse_symlinks_to_files_and_folders_outside(scene: Scene) -> None:
    (scene.root / "link.txt").symlink_to(scene.secret)
    (scene.root / "door").symlink_to(scene.secret.parent, target_is_directory=True)
    http_ = scene.api.client
    headers = scene.user.headers
    for path in ("link.txt", "door/secret.txt"):
        answer = http_.get(f"/workspace/files/{path}", headers=headers)
        assert answer.status_code == 403 and scene.text not in answer.text
    assert (
        http_.put("/workspace/files/link.txt", content=b"pwned", headers=headers).status_code == 403
    )
    for path in ("door/planted.txt", "door/deeper/planted.txt", "door/secret.txt"):
        answer = http_.put(f"/workspace/files/{path}", content=b"pwned", headers=headers)
        assert answer.status_code in (400, 403), answer.text
    assert http_.delete("/workspace/files/door/secret.txt", headers=headers).status_code in (
        400,
        403,
    )
    assert http_.get("/workspace/files", params={"path": "door"}, headers=headers).status_code in (
        400,
        403,
    )
    assert http_.get(
        "/workspace/archive", params={"path": "door"}, headers=headers
    ).status_code in (400, 403)
    zipped = http_.get("/workspace/archive", headers=headers)
    assert zipped.status_code == 200 and scene.text.encode() not in zipped.content
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert "link.txt" not in names and not any(n.startswith("door") for n in names)
    listed = http_.get("/workspace/files", headers=headers).json()["data"]
    assert {e["name"]: e["type"] for e in listed}["link.txt"] == "symlink"
    # Deleting a link removes the link itself, never what it points to.
    assert http_.delete("/workspace/files/link.txt", headers=headers).status_code == 204
    assert http_.delete("/workspace/files/door", headers=headers).status_code == 204
    assert not (scene.root / "door").is_symlink() and not (scene.root / "link.txt").exists()
    scene.untouched()


def test_routes_refuse_a_hard_link_to_a_file_outside(scene: Scene) -> None:
    os.link(scene.secret, scene.root / "hard.txt")
    http_ = scene.api.client
    answer = http_.get("/workspace/files/hard.txt", headers=scene.user.headers)
    assert answer.status_code == 403 and "hard links" in answer.json()["detail"]
    answer = http_.put("/workspace/files/hard.txt", content=b"pwned", headers=scene.user.headers)
    assert answer.status_code == 403
    zipped = http_.get("/workspace/archive", headers=scene.user.headers).content
    assert scene.text.encode() not in zipped
    scene.untouched()


def test_routes_refuse_nul_bytes(scene: Scene) -> None:
    for method in ("GET", "PUT", "DELETE"):
        status, body = raw(scene, method, FILES + "notes%00../../secret.txt", b"x")
        _assert_refused(scene, status, body, allowed=(400,))
        assert b"NUL" in body
    status, body = raw(scene, "GET", "/api/v1/workspace/files?path=a%00b")
    _assert_refused(scene, status, body, allowed=(400,))
    scene.untouched()


def test_routes_refuse_over_long_names_with_a_4xx(scene: Scene) -> None:
    long_name = "a" * 300
    for method in ("GET", "PUT", "DELETE"):
        status, body = raw(scene, method, FILES + long_name, b"x")
        assert status in (400, 404) and b"detail" in body, (method, status, body)
    deep = "/".join(["abcdefgh"] * 500)  # 4,499 characters, over the 4,096 limit
    for method in ("GET", "PUT", "DELETE"):
        status, body = raw(scene, method, FILES + deep, b"x")
        assert status == 400 and b"4096" in body, (method, status, body)
    status, body = raw(scene, "GET", "/api/v1/workspace/files?path=" + deep)
    assert status in (400, 422) and b"detail" in body
    assert sorted(p.name for p in scene.root.iterdir()) == ["hello.txt"]


def test_download_of_a_fifo_is_refused_without_hanging(scene: Scene) -> None:
    os.mkfifo(scene.root / "pipe")
    answer = scene.api.client.get("/workspace/files/pipe", headers=scene.user.headers)
    assert answer.status_code == 400 and "not a regular file" in answer.json()["detail"]


def test_another_users_files_are_never_visible(scene: Scene) -> None:
    http_ = scene.api.client
    bob = scene.api.register()
    headers = bob.headers
    answer = http_.put("/workspace/files/hello.txt", content=b"bob's", headers=headers)
    assert answer.status_code == 201
    # Alice's hello.txt is not Bob's: same path, his own file; her private file is 404.
    assert http_.get("/workspace/files/hello.txt", headers=headers).content == b"bob's"
    assert http_.get("/workspace/files/hello.txt", headers=scene.user.headers).content == b"hi"
    listed = http_.get("/workspace/files", headers=headers).json()
    assert [e["name"] for e in listed["data"]] == ["hello.txt"]
    for method in ("GET", "DELETE"):
        answer = http_.request(method, "/workspace/files/private.txt", headers=headers)
        assert answer.status_code == 404 and answer.json()["code"] == "path_not_found"
    zipped = http_.get("/workspace/archive", headers=headers).content
    assert zipfile.ZipFile(io.BytesIO(zipped)).namelist() == ["hello.txt"]
    assert http_.get("/workspace/files", headers={}).status_code == 401
    scene.untouched()


ACTIVE = [
    ("page.html", b"<script>alert(document.cookie)</script>"),
    ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ("page.xhtml", b'<html xmlns="http://www.w3.org/1999/xhtml"><script>1</script></html>'),
    ("notes.txt", b"<html><script>alert(1)</script></html>"),  # sniffing must not help
    ("noext", b"<html><script>alert(1)</script></html>"),
]


def test_downloads_cannot_run_script_in_our_origin(scene: Scene) -> None:
    http_ = scene.api.client
    for name, content in ACTIVE:
        put = http_.put(f"/workspace/files/{name}", content=content, headers=scene.user.headers)
        assert put.status_code == 201
        answer = http_.get(f"/workspace/files/{name}", headers=scene.user.headers)
        assert answer.status_code == 200 and answer.content == content
        csp = answer.headers["content-security-policy"]
        assert csp.startswith("sandbox") and "default-src 'none'" in csp
        assert "script-src" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        kind = answer.headers["content-type"].split(";")[0]
        if kind in ("text/html", "image/svg+xml", "application/xhtml+xml"):
            assert answer.headers["content-disposition"].startswith("attachment"), name
        else:
            assert kind in ("text/plain", "application/octet-stream"), name
