"""Serving workspace files over HTTP: safe download headers, streamed uploads and zips.

Downloads never run in our origin: an uploaded HTML or SVG file could otherwise carry a
script that reads the user's session. Every file answer therefore has
`Content-Security-Policy: sandbox` (an opaque origin, no scripts, no forms, no plugins)
with `default-src 'none'`, `X-Content-Type-Options: nosniff`, and active formats (HTML,
XHTML, SVG, XML, JavaScript...) are always sent as attachments, never rendered inline.
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request

from orchestrator.core.errors import InvalidInput, OrchestratorError
from orchestrator.tools.workspace import FileInfo, OpenedFile, Workspace, split_relative

FILE_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
# Formats a browser would execute or render as a document in our origin.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/wasm",
        "application/pdf",  # browsers' PDF viewers run embedded scripts
    }
)
UPLOAD_BATCH = 1024 * 1024  # bytes gathered before one write in a worker thread
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file itself


def media_type_of(name: str) -> str:
    """The media type a file name suggests, `application/octet-stream` when unknown."""
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def content_disposition(kind: str, name: str) -> str:
    """`inline` or `attachment` with the name, ASCII-safe and RFC 6266's UTF-8 form."""
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(opened: OpenedFile, *, download: bool) -> StreamingResponse:
    """Stream an opened workspace file with the headers described in the module docstring."""
    media_type = media_type_of(opened.name)
    inline = not download and media_type not in ACTIVE_TYPES
    headers = {
        "Content-Length": str(opened.size),
        "Content-Disposition": content_disposition(
            "inline" if inline else "attachment", opened.name
        ),
        "Content-Security-Policy": FILE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "private, no-cache",
        "Last-Modified": opened.modified.strftime("%a, %d %b %Y %H:%M:%S GMT"),
    }
    return StreamingResponse(opened.chunks(), media_type=media_type, headers=headers)


def archive_response(chunks: Iterator[bytes], path: str) -> StreamingResponse:
    """Stream a zip built by `Workspace.archive` (iterated in a worker thread)."""
    parts = split_relative(path)
    name = f"{parts[-1] if parts else 'workspace'}.zip"
    headers = {
        "Content-Disposition": content_disposition("attachment", name),
        "Content-Security-Policy": FILE_CSP,
        "Cache-Control": "no-store",
    }
    return StreamingResponse(chunks, media_type="application/zip", headers=headers)


@dataclass(frozen=True)
class StoredUpload:
    """An upload that was put in place."""

    info: FileInfo
    replaced: bool


async def receive_upload(
    workspace: Workspace, path: str, request: Request, max_bytes: int
) -> StoredUpload:
    """Stream the request's file into the workspace at `path`, within MAX_UPLOAD_MB and the
    quota; on any failure the workspace keeps what it had."""
    sink = await asyncio.to_thread(workspace.upload, path, max_bytes)
    source = _source(request)
    try:
        try:
            await _copy(source, sink.write)
        except OrchestratorError:
            await _drain(source, max_bytes + MULTIPART_SLACK)
            raise
        await asyncio.to_thread(sink.commit)
    finally:
        await asyncio.to_thread(sink.close)
    info = await asyncio.to_thread(workspace.info, path)
    return StoredUpload(info=info, replaced=sink.replaces)


async def _source(request: Request) -> AsyncIterator[bytes]:
    """The raw body, or the multipart field `file` when the body is a form."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        async for chunk in request.stream():
            yield chunk
        return
    try:
        form = await request.form(max_files=1, max_fields=20)
    except (ValueError, KeyError, AssertionError) as exc:  # starlette's malformed-form errors
        raise InvalidInput(f"the multipart body could not be read: {exc}") from None
    except Exception as exc:  # MultiPartException is not exported by every starlette
        if type(exc).__name__ != "MultiPartException":
            raise
        raise InvalidInput(f"the multipart body could not be read: {exc}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("a multipart upload needs its file in a field named 'file'")
        while chunk := await upload.read(UPLOAD_BATCH):
            yield chunk
    finally:
        await form.close()


async def _copy(source: AsyncIterator[bytes], write: Callable[[bytes], None]) -> None:
    """Gather the source into batches and write each in a worker thread."""
    batch: list[bytes] = []
    size = 0
    try:
        async for chunk in source:
            batch.append(chunk)
            size += len(chunk)
            if size >= UPLOAD_BATCH:
                await asyncio.to_thread(write, b"".join(batch))
                batch, size = [], 0
    except ClientDisconnect:
        raise InvalidInput("the upload was cut off before it ended") from None
    if batch or size == 0:
        await asyncio.to_thread(write, b"".join(batch))


async def _drain(source: AsyncIterator[bytes], limit: int) -> None:
    """Read what is left of a refused body (bounded), so the client hears the answer."""
    read = 0
    try:
        async for chunk in source:
            read += len(chunk)
            if read > limit:
                return
    except (ClientDisconnect, OrchestratorError):
        return
