"""The user's workspace over HTTP: list, download, upload, delete, zip a folder.

Every path goes through the same `Workspace` the file tools use (resolved beneath the
root's fd with `openat2`), so a route can reach exactly what a tool can, no more.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Query, Request, Response, status
from fastapi.responses import StreamingResponse

from orchestrator.api import files as service
from orchestrator.api.deps import CurrentUser, SettingsDep
from orchestrator.api.routing import ApiRouter
from orchestrator.schemas.common import Page
from orchestrator.tools.workspace import MAX_PATH_LENGTH, FileInfo, Workspace

router = ApiRouter(prefix="/workspace", tags=["workspace"])

DirPath = Annotated[str, Query(max_length=MAX_PATH_LENGTH, description="Folder, relative")]


async def _workspace(settings: SettingsDep, user: CurrentUser) -> Workspace:
    return await asyncio.to_thread(Workspace.for_user, settings, user.id)


@router.get("/files")
async def list_files(
    user: CurrentUser, settings: SettingsDep, path: DirPath = "."
) -> Page[FileInfo]:
    """The entries of a workspace folder (`path`, default the workspace itself)."""
    workspace = await _workspace(settings, user)
    entries = await asyncio.to_thread(workspace.entries, path)
    return Page(data=entries, count=len(entries))


@router.get(
    "/files/{path:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_file(
    path: str,
    user: CurrentUser,
    settings: SettingsDep,
    download: Annotated[bool, Query(description="Send as an attachment")] = False,
) -> StreamingResponse:
    """A workspace file with its media type; `?download=1` sends it as an attachment."""
    workspace = await _workspace(settings, user)
    opened = await asyncio.to_thread(workspace.open_file, path)
    return service.file_response(opened, download=download)


@router.put("/files/{path:path}", status_code=status.HTTP_201_CREATED)
async def upload_file(
    path: str, request: Request, response: Response, user: CurrentUser, settings: SettingsDep
) -> FileInfo:
    """Store the raw body (or the multipart field `file`) at `path`, creating folders;
    201 for a new file, 200 when it replaced one."""
    workspace = await _workspace(settings, user)
    stored = await service.receive_upload(workspace, path, request, settings.max_upload_bytes)
    if stored.replaced:
        response.status_code = status.HTTP_200_OK
    return stored.info


@router.delete("/files/{path:path}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_file(path: str, user: CurrentUser, settings: SettingsDep) -> Response:
    """Delete a file or a whole folder."""
    workspace = await _workspace(settings, user)
    await asyncio.to_thread(workspace.delete, path)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/archive",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
async def download_archive(
    user: CurrentUser, settings: SettingsDep, path: DirPath = "."
) -> StreamingResponse:
    """A zip of a workspace folder (default: the whole workspace), streamed."""
    workspace = await _workspace(settings, user)
    chunks = await asyncio.to_thread(workspace.archive, path)
    return service.archive_response(chunks, path)
