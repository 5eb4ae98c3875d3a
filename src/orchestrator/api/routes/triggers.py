"""Webhook triggers, and the hook endpoint other systems call (signed, no login)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request, status

from orchestrator.api.deps import CurrentUser, RuntimeDep
from orchestrator.api.routing import ApiRouter
from orchestrator.db.models import Trigger
from orchestrator.schedules import read_capped
from orchestrator.schemas.common import ErrorOut, Page
from orchestrator.schemas.schedules import HookAccepted, TriggerCreate, TriggerOut, TriggerUpdate

router = ApiRouter(tags=["triggers"])


def _out(trigger: Trigger, request: Request, secret: str | None = None) -> TriggerOut:
    return TriggerOut(
        id=trigger.id,
        name=trigger.name,
        agent=trigger.agent,
        model=trigger.model,
        goal_template=trigger.goal_template,
        enabled=trigger.enabled,
        url=str(request.url_for("deliver_hook", trigger_id=trigger.id)),
        last_run_id=trigger.last_run_id,
        created_at=trigger.created_at,
        secret=secret,
    )


@router.get("/triggers")
async def list_triggers(
    request: Request, user: CurrentUser, runtime: RuntimeDep
) -> Page[TriggerOut]:
    """The user's webhook triggers (their secrets are never shown again)."""
    rows = await runtime.triggers.list(user.id)
    return Page(data=[_out(r, request) for r in rows], count=len(rows))


@router.post("/triggers", status_code=status.HTTP_201_CREATED)
async def create_trigger(
    body: TriggerCreate, request: Request, user: CurrentUser, runtime: RuntimeDep
) -> TriggerOut:
    """A webhook that starts a run; the answer holds its secret, shown this once."""
    trigger, secret = await runtime.triggers.create(user.id, body)
    return _out(trigger, request, secret)


@router.get("/triggers/{trigger_id}")
async def get_trigger(
    trigger_id: str, request: Request, user: CurrentUser, runtime: RuntimeDep
) -> TriggerOut:
    """One trigger."""
    return _out(await runtime.triggers.get(user.id, trigger_id), request)


@router.patch("/triggers/{trigger_id}")
async def update_trigger(
    trigger_id: str,
    body: TriggerUpdate,
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
) -> TriggerOut:
    """Change a trigger (its secret stays)."""
    return _out(await runtime.triggers.update(user.id, trigger_id, body), request)


@router.delete("/triggers/{trigger_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_trigger(trigger_id: str, user: CurrentUser, runtime: RuntimeDep) -> None:
    """Remove a trigger; its URL answers 404 from now on."""
    await runtime.triggers.delete(user.id, trigger_id)


@router.post(
    "/hooks/{trigger_id}",
    status_code=status.HTTP_202_ACCEPTED,
    name="deliver_hook",
    responses={401: {"model": ErrorOut}, 409: {"model": ErrorOut}, 413: {"model": ErrorOut}},
)
async def deliver_hook(
    trigger_id: str,
    request: Request,
    runtime: RuntimeDep,
    x_timestamp: Annotated[str | None, Header()] = None,
    x_signature: Annotated[str | None, Header()] = None,
) -> HookAccepted:
    """Start the trigger's run with the raw body as its (untrusted) input. Sign
    `TIMESTAMP + "." + body` with HMAC-SHA256 under the secret; send `X-Timestamp` (Unix
    seconds, within 300 s) and `X-Signature: sha256=HEX`."""
    where = f"trigger {trigger_id[:64]} from {request.client.host if request.client else '?'}"
    body = await read_capped(request.stream(), request.headers.get("content-length"), where)
    run_id = await runtime.triggers.deliver(trigger_id, x_timestamp, x_signature, body)
    return HookAccepted(run_id=run_id)
