"""User administration (admins only)."""

from __future__ import annotations

from fastapi import Response, status

from orchestrator.api.deps import AdminUser, RuntimeDep, SessionDep
from orchestrator.api.routing import ApiRouter
from orchestrator.schemas.common import DbId, Page
from orchestrator.schemas.users import UserOut, UserUpdate
from orchestrator.services import accounts

router = ApiRouter(prefix="/users", tags=["users"])


@router.get("")
async def list_users(_: AdminUser, db: SessionDep) -> Page[UserOut]:
    """Every account, oldest first."""
    users = await accounts.list_users(db)
    return Page(data=[UserOut.model_validate(u) for u in users], count=len(users))


@router.get("/{user_id}")
async def get_user(user_id: DbId, _: AdminUser, db: SessionDep) -> UserOut:
    """One account."""
    return UserOut.model_validate(await accounts.get_user(db, user_id))


@router.patch("/{user_id}")
async def update_user(user_id: DbId, body: UserUpdate, _: AdminUser, db: SessionDep) -> UserOut:
    """Activate, deactivate or change the role of an account."""
    user = await accounts.update_user(db, user_id, is_active=body.is_active, role=body.role)
    return UserOut.model_validate(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: DbId, _: AdminUser, db: SessionDep, runtime: RuntimeDep) -> Response:
    """Remove an account and everything it owns (workspace, memory, ...)."""
    await accounts.delete_user(db, user_id, runtime.purgers)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
