"""POST /v1/customers/{id}/erase: a customer's right to erasure, carried out by
EraseCustomerWorkflow (workflows/erasure.py) on the conversation workers, which see the media."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel
from temporalio.client import WorkflowFailureError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from activities.erasure import EraseCustomerInput
from api.auth import Ctx, Scoped
from api.conversations import TEMPORAL_UNAVAILABLE
from api.problems import Problem
from api.tenant_rows import owned_or_404
from core import temporal as sa
from core.logging import get_logger
from core.scopes import Scope
from models.customers import Customer
from models.erasure_store import ErasureCounts
from workflows.erasure import EraseCustomerWorkflow, erase_workflow_id

router = APIRouter(prefix="/v1/customers", tags=["customers"])
Admin = Annotated[Ctx, Depends(Scoped(Scope.ADMIN))]
log = get_logger()

START_RPC_TIMEOUT = timedelta(seconds=10)
WAIT_FOR_RESULT_S = 20.0  # most erasures finish in well under a second; a big one answers 202


class ErasureOut(BaseModel):
    customer_id: uuid.UUID
    status: str  # "erased", or "in_progress" (202: poll by repeating the request)
    workflow_id: str
    counts: ErasureCounts | None = None


@router.post(
    "/{customer_id}/erase",
    response_model=ErasureOut,
    status_code=200,
    responses={202: {"model": ErasureOut, "description": "Accepted, still running: repeat the request to see it finish"}},
    summary="Erase a customer's data at their request (irreversible)",
    description="Blanks every message the customer sent or received and every tool call made for them, deletes their "
    "summaries, search queries, delivery receipts, unapproved training samples, voice files and channel identities, "
    "clears their name, e-mail and phone, and blanks their tickets. Orders stay (the tenant's books) but no longer name "
    "them. Repeating the request is safe: it joins the running erasure or finds nothing left.",
)
async def erase_customer(customer_id: uuid.UUID, ctx: Admin, response: Response) -> ErasureOut:
    async with ctx.db() as session:
        await owned_or_404(session, Customer, customer_id, ctx.tenant_id, "customer")
        ctx.audit(session, "customer.erase_requested", "customer", customer_id)
    workflow_id = erase_workflow_id(str(ctx.tenant_id), str(customer_id))
    settings = ctx.state.settings
    try:
        handle = await ctx.state.temporal.start_workflow(
            EraseCustomerWorkflow.run,
            EraseCustomerInput(str(ctx.tenant_id), str(customer_id), ctx.principal.actor),
            id=workflow_id,
            task_queue=settings.task_queue,
            # A repeat while it runs joins it; one after it finished erases again (finding nothing left).
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes([SearchAttributePair(sa.TENANT_ID, str(ctx.tenant_id))]),
            rpc_timeout=START_RPC_TIMEOUT,
        )
    except TEMPORAL_UNAVAILABLE as exc:
        log.warning("could not start erasure", customer_id=str(customer_id), error=repr(exc)[:200])
        raise Problem(503, "Erasure not started", "the workflow service is unreachable; nothing was erased; repeat the request shortly",
                      {"Retry-After": "5"}) from None  # fmt: skip
    try:
        counts = await asyncio.wait_for(handle.result(), WAIT_FOR_RESULT_S)
    except TimeoutError:
        response.status_code = 202
        return ErasureOut(customer_id=customer_id, status="in_progress", workflow_id=workflow_id)
    except WorkflowFailureError as exc:
        log.error("erasure failed", customer_id=str(customer_id), error=str(exc.cause)[:300])
        raise Problem(503, "Erasure failed", "the erasure could not finish; repeat the request", {"Retry-After": "30"}) from None
    return ErasureOut(customer_id=customer_id, status="erased", workflow_id=workflow_id, counts=ErasureCounts(**asdict(counts)))
