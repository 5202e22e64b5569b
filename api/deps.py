"""Shared clients, built in the app lifespan and reached through these dependency aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request, WebSocket
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.accounts import ChannelAccountCache
from api.inbound_guard import InboundGuard
from api.inbound_handoff import InboundHandoff
from channels.registry import ChannelRegistry
from core.crypto import SecretBox
from core.rate_limit import RateLimiter
from core.settings import Settings


@dataclass
class AppState:
    settings: Settings
    temporal: Client
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Autocommit: single-statement lookups (credentials) skip BEGIN/ROLLBACK round trips.
    statements: async_sessionmaker[AsyncSession]
    redis: Redis
    secrets: SecretBox
    http: httpx.AsyncClient
    channels: ChannelRegistry
    accounts: ChannelAccountCache
    limiter: RateLimiter
    guard: InboundGuard  # inbound flood protection for webhooks and web chat
    handoff: InboundHandoff  # webhook messages to their workflows, through the inbound journal
    jwt_secret: bytes  # signs dashboard session tokens


# async: FastAPI runs a plain-def dependency in its thread pool, a thread hand-off per request.
async def _state(request: Request) -> AppState:
    return request.app.state.frontdesk


async def _ws_state(websocket: WebSocket) -> AppState:  # WebSocket routes get the same state
    return websocket.app.state.frontdesk


StateDep = Annotated[AppState, Depends(_state)]
WsStateDep = Annotated[AppState, Depends(_ws_state)]
