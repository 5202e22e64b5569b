"""Agent profiles: queries, the single default per tenant, and the prompt template's versions.

Every write takes the tenant's profile lock first (lock_profiles), so two requests cannot both
see "no default yet" or both take a name: the partial unique indexes stay a backstop, never an
error a caller meets.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent.prompt import ProfilePrompt
from agent.settings import AgentSettings
from models.agent_profiles import AgentProfile, AgentPromptVersion

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('agent-profiles:' || :tenant, 0))")


async def lock_profiles(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Serialises the tenant's profile writes until the transaction ends."""
    await session.execute(_LOCK, {"tenant": str(tenant_id)})


def profiles_query(tenant_id: uuid.UUID) -> Select:
    return select(AgentProfile).where(AgentProfile.tenant_id == tenant_id, AgentProfile.deleted_at.is_(None))


async def live_profile(session: AsyncSession, tenant_id: uuid.UUID, profile_id: uuid.UUID, *, lock: bool = False) -> AgentProfile | None:
    query = profiles_query(tenant_id).where(AgentProfile.id == profile_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def has_live_profile(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    return await session.scalar(select(profiles_query(tenant_id).exists())) or False


async def name_taken(session: AsyncSession, tenant_id: uuid.UUID, name: str, *, other_than: uuid.UUID | None = None) -> bool:
    query = profiles_query(tenant_id).where(func.lower(AgentProfile.name) == name.lower())
    if other_than is not None:
        query = query.where(AgentProfile.id != other_than)
    return await session.scalar(select(query.exists())) or False


async def clear_default(session: AsyncSession, tenant_id: uuid.UUID, *, except_id: uuid.UUID) -> list[uuid.UUID]:
    """Unsets the default flag on every other live profile of the tenant (in the caller's
    transaction, before the new default is flushed); returns the ids it changed."""
    changed = await session.execute(
        update(AgentProfile)
        .where(
            AgentProfile.tenant_id == tenant_id, AgentProfile.deleted_at.is_(None),
            AgentProfile.is_default.is_(True), AgentProfile.id != except_id,
        )  # fmt: skip
        .values(is_default=False, version=AgentProfile.version + 1, updated_at=func.now())
        .returning(AgentProfile.id)
        .execution_options(synchronize_session="fetch")
    )
    return list(changed.scalars())


def add_prompt_version(session: AsyncSession, profile: AgentProfile, created_by: str | None) -> AgentPromptVersion:
    row = AgentPromptVersion(
        id=uuid.uuid4(), tenant_id=profile.tenant_id, profile_id=profile.id, version=profile.prompt_version,
        template=profile.prompt_template, created_by=created_by,
    )  # fmt: skip
    session.add(row)
    return row


def prompt_versions_query(tenant_id: uuid.UUID, profile_id: uuid.UUID, *, before: int | None, limit: int) -> Select:
    """Newest first; one extra row tells whether another page exists."""
    query = select(AgentPromptVersion).where(AgentPromptVersion.tenant_id == tenant_id, AgentPromptVersion.profile_id == profile_id)
    if before is not None:
        query = query.where(AgentPromptVersion.version < before)
    return query.order_by(AgentPromptVersion.version.desc()).limit(limit + 1)


async def prompt_version(session: AsyncSession, tenant_id: uuid.UUID, profile_id: uuid.UUID, version: int) -> AgentPromptVersion | None:
    return await session.scalar(
        select(AgentPromptVersion).where(
            AgentPromptVersion.tenant_id == tenant_id, AgentPromptVersion.profile_id == profile_id, AgentPromptVersion.version == version
        )
    )


def soft_delete(profile: AgentProfile) -> None:
    profile.deleted_at = datetime.now(UTC)
    profile.version += 1


def prompt_of(profile: AgentProfile) -> ProfilePrompt:
    return ProfilePrompt(
        template=profile.prompt_template, persona_name=profile.persona_name, tone=profile.tone, traits=tuple(profile.traits or ()),
        restrictions=tuple(profile.restrictions or ()), disclaimers=tuple(profile.disclaimers or ()), profile_name=profile.name,
    )  # fmt: skip


async def default_prompt(session: AsyncSession, tenant_id: uuid.UUID) -> ProfilePrompt | None:
    """The tenant's default profile as prompt material, or None when it has no profile."""
    profile = await session.scalar(profiles_query(tenant_id).where(AgentProfile.is_default.is_(True)))
    return prompt_of(profile) if profile is not None else None


async def default_settings(session: AsyncSession, tenant_id: uuid.UUID) -> AgentSettings:
    """What the tenant's turns run with: its default profile's settings, or the defaults when it
    has no profile yet."""
    profile = await session.scalar(profiles_query(tenant_id).where(AgentProfile.is_default.is_(True)))
    return AgentSettings.from_profile(profile) if profile is not None else AgentSettings()
