"""Knowledge bases: collections, their documents (uploaded, ingested in the background)
and hybrid search over them. Owner-only: another user's ids answer 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, UploadFile, status

from orchestrator.api.deps import CurrentUser, RuntimeDep
from orchestrator.api.routing import ApiRouter
from orchestrator.core.errors import PayloadTooLarge
from orchestrator.db.models import KnowledgeCollection
from orchestrator.knowledge import MAX_QUERY
from orchestrator.schemas.common import Page
from orchestrator.schemas.knowledge import (
    CollectionCreate,
    CollectionOut,
    CollectionUpdate,
    DocumentOut,
    PassageOut,
)

router = ApiRouter(prefix="/knowledge", tags=["knowledge"])


def _collection(row: KnowledgeCollection, count: int) -> CollectionOut:
    return CollectionOut(
        id=row.id,
        name=row.name,
        description=row.description,
        created_at=row.created_at,
        document_count=count,
    )


@router.get("")
async def list_collections(user: CurrentUser, runtime: RuntimeDep) -> Page[CollectionOut]:
    """The user's collections, newest first."""
    found = await runtime.knowledge.collections(user.id)
    return Page(data=[_collection(row, n) for row, n in found], count=len(found))


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_collection(
    body: CollectionCreate, user: CurrentUser, runtime: RuntimeDep
) -> CollectionOut:
    """Create an empty collection."""
    row = await runtime.knowledge.create_collection(user.id, body.name, body.description)
    return _collection(row, 0)


@router.get("/{collection_id}")
async def get_collection(
    collection_id: str, user: CurrentUser, runtime: RuntimeDep
) -> CollectionOut:
    """One collection."""
    return _collection(*await runtime.knowledge.collection(user.id, collection_id))


@router.patch("/{collection_id}")
async def update_collection(
    collection_id: str, body: CollectionUpdate, user: CurrentUser, runtime: RuntimeDep
) -> CollectionOut:
    """Rename a collection or change its description."""
    found = await runtime.knowledge.update_collection(
        user.id, collection_id, name=body.name, description=body.description
    )
    return _collection(*found)


@router.delete("/{collection_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_collection(collection_id: str, user: CurrentUser, runtime: RuntimeDep) -> Response:
    """Delete a collection with its documents and passages."""
    await runtime.knowledge.delete_collection(user.id, collection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{collection_id}/documents", status_code=status.HTTP_202_ACCEPTED)
async def upload_document(
    collection_id: str, file: UploadFile, user: CurrentUser, runtime: RuntimeDep
) -> DocumentOut:
    """Upload a document (multipart `file`); it is ingested in the background."""
    limit = runtime.settings.max_upload_mb * 1024 * 1024
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"the file is over MAX_UPLOAD_MB ({runtime.settings.max_upload_mb} MB)"
        )
    document = await runtime.knowledge.add_upload(
        user.id, collection_id, file.filename, file.content_type, data
    )
    runtime.ingester.wake()
    return DocumentOut.model_validate(document)


@router.get("/{collection_id}/documents")
async def list_documents(
    collection_id: str, user: CurrentUser, runtime: RuntimeDep
) -> Page[DocumentOut]:
    """A collection's documents with their ingestion status, newest first."""
    rows = await runtime.knowledge.documents(user.id, collection_id)
    return Page(data=[DocumentOut.model_validate(d) for d in rows], count=len(rows))


@router.get("/{collection_id}/documents/{document_id}")
async def get_document(
    collection_id: str, document_id: str, user: CurrentUser, runtime: RuntimeDep
) -> DocumentOut:
    """One document and its status (`failed` ones say why in `error`)."""
    row = await runtime.knowledge.document(user.id, collection_id, document_id)
    return DocumentOut.model_validate(row)


@router.delete("/{collection_id}/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(
    collection_id: str, document_id: str, user: CurrentUser, runtime: RuntimeDep
) -> Response:
    """Delete a document and its passages."""
    await runtime.knowledge.delete_document(user.id, collection_id, document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{collection_id}/search")
async def search_collection(
    collection_id: str,
    user: CurrentUser,
    runtime: RuntimeDep,
    query: Annotated[str, Query(min_length=1, max_length=MAX_QUERY)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Page[PassageOut]:
    """Passages best matching `query`, by keywords and meaning together."""
    await runtime.knowledge.collection(user.id, collection_id)  # 404 for another user's
    found = await runtime.knowledge.search(user.id, query, [collection_id], limit=limit)
    return Page(data=[PassageOut.model_validate(p) for p in found], count=len(found))
