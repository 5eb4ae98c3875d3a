"""Runs: create, list, read the event log, follow live, cancel, approve."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, WebSocket, status

from orchestrator.api.deps import CurrentUser, RuntimeDep, SessionDep, get_runtime
from orchestrator.api.routing import ApiRouter
from orchestrator.api.ws import NOT_FOUND, RunSocket, authenticate
from orchestrator.core.errors import NotFound
from orchestrator.engine.events import RunEventOut, RunKind, RunStatus
from orchestrator.runs import service
from orchestrator.schemas.common import MAX_DB_INT, Offset, Page, Seq
from orchestrator.schemas.runs import ApprovalDecision, ApprovalOut, RunCreate, RunOut

router = ApiRouter(prefix="/runs", tags=["runs"])


class RunEventPage(Page[RunEventOut]):
    """A page of a run's events (each typed by its `type`)."""


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_run(body: RunCreate, user: CurrentUser, runtime: RuntimeDep) -> RunOut:
    """Start an autonomous run towards `goal` (a five-phase workflow with a workflow agent,
    the default; one agent turn with a chat agent)."""
    run = await runtime.runs.start_run(user.id, body.goal, agent=body.agent, model=body.model)
    return RunOut.model_validate(run)


@router.get("")
async def list_runs(
    user: CurrentUser,
    db: SessionDep,
    status_: Annotated[RunStatus | None, Query(alias="status")] = None,
    kind: RunKind | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> Page[RunOut]:
    """The user's runs, newest first."""
    rows, total = await service.list_runs(
        db, user.id, status=status_, kind=kind, limit=limit, offset=offset
    )
    return Page(data=[RunOut.model_validate(r) for r in rows], count=total)


@router.get("/{run_id}")
async def get_run(run_id: str, user: CurrentUser, db: SessionDep) -> RunOut:
    """One run."""
    return RunOut.model_validate(await service.get_run(db, user.id, run_id))


@router.get("/{run_id}/events")
async def run_events(
    run_id: str,
    user: CurrentUser,
    runtime: RuntimeDep,
    after: Seq = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> RunEventPage:
    """The run's events with `seq` greater than `after`, oldest first."""
    events, count = await runtime.runs.events(user.id, run_id, after, limit)
    return RunEventPage(data=events, count=count)


@router.post("/{run_id}/verify")
async def verify_run(run_id: str, user: CurrentUser, runtime: RuntimeDep) -> RunOut:
    """Verify a finished workflow run again: new `phase` events (seq goes on), the new
    verdict in the run's report events; 409 for a run that is not a finished workflow."""
    return RunOut.model_validate(await runtime.runs.verify_again(user.id, run_id))


@router.post("/{run_id}/cancel")
async def cancel_run(run_id: str, user: CurrentUser, runtime: RuntimeDep) -> RunOut:
    """Stop the run, its running tool included."""
    return RunOut.model_validate(await runtime.runs.cancel(user.id, run_id))


@router.post("/{run_id}/approvals/{approval_id}")
async def decide_approval(
    run_id: str,
    approval_id: str,
    body: ApprovalDecision,
    user: CurrentUser,
    runtime: RuntimeDep,
) -> ApprovalOut:
    """Approve or deny a tool call the run is waiting on."""
    result = await runtime.runs.decide(user.id, approval_id, body.decision, run_id=run_id)
    return ApprovalOut(approval_id=approval_id, status=result)


@router.websocket("/{run_id}/ws")
async def run_socket(
    websocket: WebSocket,
    run_id: str,
    token: str | None = Query(None),
    after: int = Query(0, ge=0, le=MAX_DB_INT),
) -> None:
    """The run's events after `after`, then live; accepts cancel and approval messages."""
    runtime = await get_runtime(websocket)
    user = await authenticate(websocket, runtime, token)
    if user is None:
        return
    try:
        await runtime.runs.get(user.id, run_id)
    except NotFound:
        await websocket.close(code=NOT_FOUND, reason="run not found")
        return
    socket = RunSocket(websocket, runtime, user)
    socket.follow(run_id, after)
    await socket.serve(chat=False)
