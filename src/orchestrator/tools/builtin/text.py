"""Text utilities: hashes, encodings, diffs and unit conversion."""

from __future__ import annotations

import asyncio
import base64
import binascii
import difflib
import hashlib
import urllib.parse
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from orchestrator.core.errors import ToolArgumentError
from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.workspace import MAX_PATH_LENGTH, Workspace, ops

if TYPE_CHECKING:
    import pint

MAX_TEXT = 200_000
MAX_HASH_FILE = 1024**3
Algorithm = Literal["md5", "sha1", "sha256", "sha512", "blake2b", "sha3_256"]


def _hash_file(ws: Workspace, path: str, algorithm: str) -> tuple[str, int]:
    digest = hashlib.new(algorithm)
    data, size = ops.read_bytes(ws, path, MAX_HASH_FILE)
    if size > MAX_HASH_FILE:
        raise ToolArgumentError(f"{path!r} is over 1 GiB; too large to hash here")
    digest.update(data)
    return digest.hexdigest(), size


@tool(category="text", risk=Risk.READ)
async def hash(
    ctx: ToolContext,
    algorithm: Annotated[Algorithm, Field(description="Hash function")] = "sha256",
    text: Annotated[
        str | None, Field(max_length=MAX_TEXT, description="Text to hash (UTF-8)")
    ] = None,
    path: Annotated[
        str | None,
        Field(min_length=1, max_length=MAX_PATH_LENGTH, description="Or a workspace file"),
    ] = None,
) -> dict[str, Any]:
    """Hex digest of a text or a workspace file (give exactly one of text and path)."""
    if (text is None) == (path is None):
        raise ToolArgumentError("give exactly one of 'text' or 'path'")
    if path is not None:
        digest, size = await asyncio.to_thread(_hash_file, Workspace.for_tool(ctx), path, algorithm)
        return {"algorithm": algorithm, "path": path, "size": size, "digest": digest}
    assert text is not None
    digest = hashlib.new(algorithm, text.encode("utf-8")).hexdigest()
    return {"algorithm": algorithm, "digest": digest}


def _decode(scheme: str, text: str) -> bytes:
    if scheme == "base64":
        return base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), validate=True)
    if scheme == "base64url":
        return base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    if scheme == "hex":
        return bytes.fromhex(text.strip())
    return urllib.parse.unquote_to_bytes(text)


@tool(category="text", risk=Risk.SAFE)
async def encode(
    ctx: ToolContext,
    text: Annotated[str, Field(max_length=MAX_TEXT, description="The text to encode or decode")],
    scheme: Annotated[
        Literal["base64", "base64url", "hex", "url"], Field(description="The encoding")
    ],
    decode: Annotated[bool, Field(description="Decode instead of encode")] = False,
) -> str:
    """Encode text as base64, base64url, hex or URL encoding, or decode it back."""
    if decode:
        try:
            raw = _decode(scheme, text)
        except (binascii.Error, ValueError) as exc:
            raise ToolArgumentError(f"this is not valid {scheme}: {exc}") from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return f"[binary, {len(raw)} bytes, hex] {raw.hex()[:MAX_TEXT]}"
    data = text.encode("utf-8")
    if scheme == "base64":
        return base64.b64encode(data).decode()
    if scheme == "base64url":
        return base64.urlsafe_b64encode(data).decode().rstrip("=")
    if scheme == "hex":
        return data.hex()
    return urllib.parse.quote(text, safe="")


@tool(category="text", risk=Risk.SAFE)
async def diff_text(
    ctx: ToolContext,
    a: Annotated[str, Field(max_length=MAX_TEXT, description="The old text")],
    b: Annotated[str, Field(max_length=MAX_TEXT, description="The new text")],
) -> str:
    """A unified diff between two texts (empty when they are equal)."""
    lines = difflib.unified_diff(
        a.splitlines(keepends=True), b.splitlines(keepends=True), "a", "b", n=3
    )
    out = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return out or "the texts are identical"


@cache
def _units() -> pint.UnitRegistry:
    import pint

    return pint.UnitRegistry()


def _convert(value: float, from_unit: str, to_unit: str) -> dict[str, Any]:
    import pint

    units = _units()
    try:
        quantity = units.Quantity(value, from_unit)
        result = quantity.to(to_unit)
    except pint.errors.DimensionalityError as exc:
        raise ToolArgumentError(f"cannot convert: {exc}") from None
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError) as exc:
        raise ToolArgumentError(
            f"unknown unit: {exc}; try names like 'km', 'mile', 'degC'"
        ) from None
    except (AttributeError, TypeError, ValueError, AssertionError) as exc:
        raise ToolArgumentError(f"cannot read these units ({exc})") from None
    return {
        "value": value,
        "from_unit": from_unit,
        "to_unit": to_unit,
        "result": float(result.magnitude),
        "text": f"{value:g} {from_unit} = {float(result.magnitude):.6g} {to_unit}",
    }


UnitName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_ */^().°µ\-]+$",
        description="A unit, e.g. 'km', 'mile/hour', 'degC', 'kWh'",
    ),
]


@tool(category="text", risk=Risk.SAFE)
async def convert_units(
    ctx: ToolContext,
    value: Annotated[float, Field(ge=-1e300, le=1e300, description="The amount to convert")],
    from_unit: UnitName,
    to_unit: UnitName,
) -> dict[str, Any]:
    """Convert a quantity between units (length, mass, time, temperature, energy...)."""
    return await asyncio.to_thread(_convert, value, from_unit, to_unit)


TEXT_TOOLS = (hash, encode, diff_text, convert_units)
