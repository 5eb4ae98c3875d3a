"""The evaluation suite over HTTP: admins start a run on a model, everyone reads scores."""

from __future__ import annotations

from fastapi import status

from orchestrator.api.deps import AdminUser, CurrentUser, RuntimeDep
from orchestrator.api.routing import ApiRouter
from orchestrator.core.errors import ModelNotFound
from orchestrator.schemas.common import Page
from orchestrator.schemas.evals import EvalDetail, EvalOut, EvalRequest

router = ApiRouter(prefix="/models/evals", tags=["models"])


@router.get("")
async def list_evals(_: CurrentUser, runtime: RuntimeDep) -> Page[EvalOut]:
    """Each model's latest scores, one row per model and suite version."""
    rows = await runtime.evals.list()
    return Page(data=[EvalOut.model_validate(r) for r in rows], count=len(rows))


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def start_eval(body: EvalRequest, admin: AdminUser, runtime: RuntimeDep) -> EvalOut:
    """Run the suite on a model in the background; poll `GET /models/evals/{id}`."""
    known = {name for m in await runtime.models.list_models() for name in (m.name, m.id)}
    if body.model not in known:
        raise ModelNotFound(f"no model named {body.model!r} is available")
    row = await runtime.evals.start(
        body.model, retrieval=body.retrieval, repair=body.repair, user_id=admin.id
    )
    return EvalOut.model_validate(row)


@router.get("/{eval_id}")
async def get_eval(eval_id: str, _: CurrentUser, runtime: RuntimeDep) -> EvalDetail:
    """One evaluation, with each task's calls, answer and scores."""
    return EvalDetail.model_validate(await runtime.evals.get(eval_id))
