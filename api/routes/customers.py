"""A tenant's customers: search by phone, e-mail or name; identities across channels; their
conversations and their orders (from the store webhooks)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import or_, select

from api.auth import Ctx, Scoped
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from api.routes.conversations import ConversationOut, conversation_out, conversations_query
from api.tenant_rows import owned_or_404
from core.scopes import Scope
from models.commerce import Order
from models.conversations import Conversation
from models.customers import Customer, CustomerIdentity

router = APIRouter(prefix="/v1/customers", tags=["customers"])
Reader = Annotated[Ctx, Depends(Scoped(Scope.CONVERSATIONS_READ))]
Writer = Annotated[Ctx, Depends(Scoped(Scope.CONVERSATIONS_WRITE))]
_PHONE_CHARS = re.compile(r"[\s().-]")


class IdentityOut(BaseModel):
    channel: str
    external_id: str
    created_at: datetime


class CustomerOut(BaseModel):
    id: uuid.UUID
    display_name: str | None
    email: str | None
    phone: str | None
    created_at: datetime


class CustomerDetail(CustomerOut):
    identities: list[IdentityOut]


class OrderOut(BaseModel):
    id: uuid.UUID
    source: str
    external_id: str
    number: str | None
    status: str
    financial_status: str | None
    fulfillment_status: str | None
    total: Decimal | None
    currency: str | None
    items: list[dict[str, Any]]
    tracking: list[dict[str, Any]]
    placed_at: datetime | None
    updated_at: datetime | None


class CustomerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(None, min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$", description="E.164, e.g. +919812345678.")


def _out(c: Customer) -> CustomerOut:
    return CustomerOut(id=c.id, display_name=c.display_name, email=c.email, phone=c.phone, created_at=c.created_at)


def _digits(phone: str) -> str:
    return _PHONE_CHARS.sub("", phone).lstrip("+")


@router.get("", response_model=Page[CustomerOut], summary="Search customers by phone, e-mail or name")
async def search_customers(
    ctx: Reader,
    q: Annotated[str | None, Query(max_length=200, description="Matches name, e-mail or phone (channel ids too).")] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=32)] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[CustomerOut]:
    query = select(Customer).where(Customer.tenant_id == ctx.tenant_id)
    if email:
        query = query.where(Customer.email == email.strip().lower())
    if phone:
        digits = _digits(phone)
        if not digits.isdigit():
            raise Problem(422, "Request is not valid", "phone must be digits, optionally with +, spaces or dashes")
        # WhatsApp and SMS know customers by their number: an identity matches as well as the field.
        by_identity = select(CustomerIdentity.customer_id).where(
            CustomerIdentity.tenant_id == ctx.tenant_id, CustomerIdentity.external_id == digits
        )
        query = query.where(or_(Customer.phone == "+" + digits, Customer.id.in_(by_identity)))
    if name:
        query = query.where(Customer.display_name.ilike(f"%{_escape_like(name)}%", escape="\\"))
    if q:
        term = q.strip()
        like = f"%{_escape_like(term)}%"
        by_identity = select(CustomerIdentity.customer_id).where(
            CustomerIdentity.tenant_id == ctx.tenant_id, CustomerIdentity.external_id.ilike(like, escape="\\")
        )
        query = query.where(
            or_(
                Customer.display_name.ilike(like, escape="\\"),
                Customer.email.ilike(like, escape="\\"),
                Customer.phone.ilike(f"%{_escape_like(_digits(term))}%", escape="\\"),
                Customer.id.in_(by_identity),
            )
        )
    async with ctx.db() as session:
        rows = list(await session.scalars(newest_first(query, Customer.created_at, Customer.id, cursor, limit)))
    return page_of(rows, limit, _out, lambda c: (c.created_at, c.id))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _customer(session, ctx: Ctx, customer_id: uuid.UUID) -> Customer:
    return await owned_or_404(session, Customer, customer_id, ctx.tenant_id, "customer")


@router.get("/{customer_id}", response_model=CustomerDetail, summary="A customer with their identities on every channel")
async def get_customer(customer_id: uuid.UUID, ctx: Reader) -> CustomerDetail:
    async with ctx.db() as session:
        customer = await _customer(session, ctx, customer_id)
        identities = await session.scalars(
            select(CustomerIdentity)
            .where(CustomerIdentity.customer_id == customer_id, CustomerIdentity.tenant_id == ctx.tenant_id)
            .order_by(CustomerIdentity.created_at)
        )
        found = [IdentityOut(channel=i.channel, external_id=i.external_id, created_at=i.created_at) for i in identities]
    return CustomerDetail(**_out(customer).model_dump(), identities=found)


@router.get("/{customer_id}/conversations", response_model=Page[ConversationOut], summary="A customer's conversations")
async def customer_conversations(customer_id: uuid.UUID, ctx: Reader, cursor: CursorQuery = None, limit: LimitQuery = 50) -> Page[ConversationOut]:
    query = conversations_query(ctx.tenant_id).where(Conversation.customer_id == customer_id)
    async with ctx.db() as session:
        await _customer(session, ctx, customer_id)
        rows = (await session.execute(newest_first(query, Conversation.created_at, Conversation.id, cursor, limit))).all()
    return page_of(rows, limit, conversation_out, lambda r: (r[0].created_at, r[0].id))


@router.get("/{customer_id}/orders", response_model=Page[OrderOut], summary="A customer's orders, newest first")
async def customer_orders(customer_id: uuid.UUID, ctx: Reader, cursor: CursorQuery = None, limit: LimitQuery = 50) -> Page[OrderOut]:
    query = select(Order).where(Order.tenant_id == ctx.tenant_id, Order.customer_id == customer_id)
    async with ctx.db() as session:
        await _customer(session, ctx, customer_id)
        rows = (await session.execute(newest_first(query, Order.created_at, Order.id, cursor, limit))).all()
    return page_of(rows, limit, lambda r: OrderOut.model_validate(r[0], from_attributes=True), lambda r: (r[0].created_at, r[0].id))


@router.patch("/{customer_id}", response_model=CustomerOut, summary="Correct a customer's name, e-mail or phone")
async def update_customer(customer_id: uuid.UUID, body: CustomerUpdate, ctx: Writer) -> CustomerOut:
    values = body.model_dump(exclude_unset=True, exclude_none=True)
    if "email" in values:
        values["email"] = values["email"].lower()
    async with ctx.db() as session:
        customer = await _customer(session, ctx, customer_id)
        changes = {}
        for field, value in values.items():
            if getattr(customer, field) != value:
                changes[field] = {"old": getattr(customer, field), "new": value}
                setattr(customer, field, value)
        ctx.audit(session, "customer.update", "customer", customer.id, changes)
    return _out(customer)
