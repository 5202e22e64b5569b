"""Shared steps of the NLU workflow tests: a tenant's intents and approved samples, a training
run through the API, and reading back versions and predictions."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from models.nlu import Intent, IntentModelVersion, IntentPrediction, TrainingSample
from nlu.samples import text_key
from workflows.nlu_training import TrainIntentModelResult

# Three intents of a shop's help desk, each said a dozen ways (English and Hinglish).
SAMPLES = {
    "track_order": [
        "where is my order", "my parcel has not arrived yet", "when will my package be delivered", "track my shipment please",
        "order kab aayega", "mera order kahan hai", "delivery status of my order", "has my order shipped",
        "still waiting for my delivery", "tracking number for my order", "parcel kab milega", "how long until my order arrives",
        "is my package on the way", "order abhi tak nahi aaya",
    ],
    "cancel_order": [
        "cancel my order", "i want to cancel the order i placed", "please cancel order 1234", "stop my order before it ships",
        "order cancel karna hai", "mujhe order cancel karna hai", "i changed my mind cancel the purchase", "can you cancel my order",
        "cancel the item i bought today", "don't ship it, cancel", "order radd karo", "how do i cancel an order",
        "cancel kar do mera order", "i no longer want this order, cancel it",
    ],
    "refund_status": [
        "where is my refund", "refund not received yet", "when will i get my money back", "refund status please",
        "paise wapas kab milenge", "mera refund kab aayega", "it has been a week and no refund", "did you process my refund",
        "money not credited after return", "refund kab tak aayega", "how long do refunds take", "i am still waiting for my refund",
        "return ho gaya par paisa nahi aaya", "check my refund",
    ],
}  # fmt: skip


async def seed_intents(deps, tenant_id: str, samples: dict[str, list[str]] = SAMPLES, **intent_fields) -> dict[str, uuid.UUID]:
    """The intents with their samples, approved; `intent_fields[name]` sets that intent's columns."""
    tenant = uuid.UUID(tenant_id)
    ids = {}
    async with deps.sessions() as session, session.begin():
        for name, texts in samples.items():
            intent = Intent(id=uuid.uuid4(), tenant_id=tenant, name=name, description=name.replace("_", " "), **intent_fields.get(name, {}))
            session.add(intent)
            await session.flush()
            ids[name] = intent.id
            for text in texts:
                session.add(
                    TrainingSample(
                        id=uuid.uuid4(), tenant_id=tenant, text=text, text_key=text_key(text), intent_id=intent.id, status="approved"
                    )
                )
    return ids


async def train(http, temporal, headers: dict, force: bool = False) -> TrainIntentModelResult:
    r = await http.post("/v1/nlu/models/train", json={"force": force}, headers=headers)
    assert r.status_code == 202, r.text
    return await temporal.get_workflow_handle(r.json()["workflow_id"], result_type=TrainIntentModelResult).result()


async def versions(deps, tenant_id: str) -> dict[int, IntentModelVersion]:
    async with deps.sessions() as session:
        rows = await session.scalars(select(IntentModelVersion).where(IntentModelVersion.tenant_id == uuid.UUID(tenant_id)))
        return {v.version: v for v in rows}


async def active_version(deps, tenant_id: str) -> int | None:
    return next((n for n, v in (await versions(deps, tenant_id)).items() if v.status == "active"), None)


async def predictions(deps, tenant_id: str) -> list[IntentPrediction]:
    async with deps.sessions() as session:
        rows = await session.scalars(
            select(IntentPrediction).where(IntentPrediction.tenant_id == uuid.UUID(tenant_id)).order_by(IntentPrediction.created_at)
        )
        return list(rows)
