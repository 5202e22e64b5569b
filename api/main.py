"""FastAPI application: webhooks, web chat, health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from api.accounts import ChannelAccountCache
from api.deps import AppState
from api.inbound_guard import InboundGuard
from api.inbound_handoff import InboundHandoff
from api.knowledge_uploads import BodyLimitWithUploads
from api.problems import install_problem_handlers
from api.request_id import RequestIdMiddleware
from api.routes import (
    agent_profiles,
    api_keys,
    audit,
    auth,
    channel_accounts,
    channel_webhooks,
    codec,
    commerce_webhooks,
    conversation_actions,
    conversations,
    customer_erasure,
    customers,
    events,
    health,
    knowledge_documents,
    knowledge_entries,
    knowledge_gaps,
    knowledge_settings,
    llm_admin,
    llm_spend,
    nlu_intents,
    nlu_models,
    nlu_samples,
    nlu_settings,
    payment_webhooks,
    tenants,
    tool_calls,
    users,
    webchat,
)
from channels.registry import ChannelRegistry
from core.credentials import derive_jwt_secret
from core.gc_tuning import freeze_after_startup
from core.rate_limit import RateLimiter
from core.settings import Settings, get_settings
from core.temporal import connect_platform
from models.db import make_autocommit_session_maker, make_engine, make_session_maker
from workers.wiring import require, secret_box


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _, database_url, redis_url, master_key = require(settings)
        # Lazy: with Temporal down the API still starts, answers webhooks 503 (so channels
        # redeliver) and /readyz 503, and recovers on its own when Temporal is back.
        temporal = await connect_platform(settings, lazy=True)
        engine = make_engine(database_url, pool_size=settings.api_db_pool_size)
        sessions = make_session_maker(engine)
        box = secret_box(settings)
        redis = Redis.from_url(redis_url)
        http = httpx.AsyncClient(timeout=10)
        accounts = ChannelAccountCache(sessions, box)
        guard = InboundGuard(redis, settings)
        statements = make_autocommit_session_maker(engine)
        handoff = InboundHandoff(temporal, sessions, statements, accounts, guard, settings)
        app.state.frontdesk = AppState(
            settings=settings,
            temporal=temporal,
            engine=engine,
            sessions=sessions,
            statements=statements,
            redis=redis,
            secrets=box,
            http=http,
            channels=ChannelRegistry(http),
            accounts=accounts,
            limiter=RateLimiter(redis),
            guard=guard,
            handoff=handoff,
            jwt_secret=settings.jwt_secret.get_secret_value().encode() if settings.jwt_secret else derive_jwt_secret(master_key),
        )
        journal_upkeep = asyncio.create_task(handoff.run_forever())
        freeze_after_startup()
        try:
            yield
        finally:
            journal_upkeep.cancel()
            await handoff.aclose()
            await http.aclose()
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Frontdesk",
        version="0.1.0",
        description="AI customer service on Temporal: channel webhooks and web chat.",
        lifespan=lifespan,
    )
    # Every route reads at most this much (document uploads: the upload cap); larger bodies
    # get 413 before anything parses them.
    app.add_middleware(BodyLimitWithUploads, max_bytes=settings.max_body_bytes)
    # Added last, so outermost: every response, a 413 included, carries X-Request-ID.
    app.add_middleware(RequestIdMiddleware)
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(webchat.router)
    for router in channel_webhooks.routers:
        app.include_router(router)
    app.include_router(commerce_webhooks.router)
    app.include_router(payment_webhooks.router)
    app.include_router(codec.router)
    admin_routes = (auth, tenants, api_keys, users, channel_accounts, llm_admin, llm_spend, conversations, customers, audit, events)
    for admin in (*admin_routes, knowledge_documents, knowledge_entries, knowledge_gaps, knowledge_settings):
        app.include_router(admin.router)
    app.include_router(agent_profiles.router)
    app.include_router(nlu_intents.router)
    app.include_router(nlu_samples.router)
    app.include_router(conversation_actions.router)
    app.include_router(tool_calls.router)
    app.include_router(customer_erasure.router)
    app.include_router(nlu_models.router)
    app.include_router(nlu_settings.router)
    return app
