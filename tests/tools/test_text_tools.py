"""hash, encode, diff_text, convert_units and list_models: exact answers, clear errors."""

from __future__ import annotations

import hashlib
import json

import pytest

from orchestrator.core.errors import ToolArgumentError, ToolError
from orchestrator.tools.workspace import Workspace
from tests.tools.conftest import Secret, ToolCall


async def test_hash_of_text_and_of_a_file(call: ToolCall, workspace: Workspace) -> None:
    out = json.loads(await call("hash", text="hello"))
    assert out["digest"] == hashlib.sha256(b"hello").hexdigest()
    (workspace.root / "f.bin").write_bytes(b"\x00\x01data")
    out = json.loads(await call("hash", path="f.bin", algorithm="md5"))
    assert out["digest"] == hashlib.md5(b"\x00\x01data").hexdigest() and out["size"] == 6
    with pytest.raises(ToolArgumentError, match="exactly one"):
        await call("hash", text="a", path="f.bin")
    with pytest.raises(ToolArgumentError, match="bad arguments"):
        await call("hash", text="a", algorithm="crc-who-knows")


async def test_hash_cannot_read_outside(call: ToolCall, secret: Secret) -> None:
    with pytest.raises(ToolError):
        await call("hash", path="../outside/secret.txt")


@pytest.mark.parametrize(
    ("scheme", "encoded"),
    [
        ("base64", "aMOpbGxvIHdvcmxkIQ=="),
        ("base64url", "aMOpbGxvIHdvcmxkIQ"),
        ("hex", "68c3a96c6c6f20776f726c6421"),
        ("url", "h%C3%A9llo%20world%21"),
    ],
)
async def test_encode_round_trips(call: ToolCall, scheme: str, encoded: str) -> None:
    assert await call("encode", text="héllo world!", scheme=scheme) == encoded
    assert await call("encode", text=encoded, scheme=scheme, decode=True) == "héllo world!"


async def test_encode_bad_input_is_a_clear_error(call: ToolCall) -> None:
    with pytest.raises(ToolArgumentError, match="not valid hex"):
        await call("encode", text="zz", scheme="hex", decode=True)
    with pytest.raises(ToolArgumentError, match="not valid base64"):
        await call("encode", text="@@@", scheme="base64", decode=True)


async def test_diff_text_is_a_unified_diff(call: ToolCall) -> None:
    out = await call("diff_text", a="one\ntwo\nthree\n", b="one\n2\nthree\n")
    assert "--- a\n+++ b\n" in out and "-two\n+2\n" in out
    assert await call("diff_text", a="same", b="same") == "the texts are identical"


async def test_convert_units(call: ToolCall) -> None:
    out = json.loads(await call("convert_units", value=10, from_unit="km", to_unit="mile"))
    assert abs(out["result"] - 6.21371) < 1e-4
    out = json.loads(await call("convert_units", value=100, from_unit="degC", to_unit="degF"))
    assert abs(out["result"] - 212) < 1e-9
    with pytest.raises(ToolArgumentError, match="cannot convert"):
        await call("convert_units", value=1, from_unit="kg", to_unit="metre")
    with pytest.raises(ToolArgumentError, match="unknown unit"):
        await call("convert_units", value=1, from_unit="florps", to_unit="metre")
    with pytest.raises(ToolArgumentError):
        await call("convert_units", value=1, from_unit="__import__('os')", to_unit="m")


async def test_list_models_without_a_gateway_says_so(call: ToolCall) -> None:
    with pytest.raises(ToolError, match="not available"):
        await call("list_models")
