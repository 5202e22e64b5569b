"""Permission scopes of the admin API and what each dashboard role may do."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    ADMIN = "admin"
    CONVERSATIONS_READ = "conversations:read"
    CONVERSATIONS_WRITE = "conversations:write"
    KNOWLEDGE_READ = "knowledge:read"
    KNOWLEDGE_WRITE = "knowledge:write"
    AGENTS_MANAGE = "agents:manage"
    INTEGRATIONS_MANAGE = "integrations:manage"
    ANALYTICS_READ = "analytics:read"
    # Only the platform admin key holds it: tenant management and the Temporal codec.
    PLATFORM = "platform"


TENANT_SCOPES = frozenset(s for s in Scope if s is not Scope.PLATFORM)


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"
    VIEWER = "viewer"


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.OWNER: TENANT_SCOPES,
    Role.ADMIN: TENANT_SCOPES,
    Role.AGENT: frozenset(
        {Scope.CONVERSATIONS_READ, Scope.CONVERSATIONS_WRITE, Scope.KNOWLEDGE_READ, Scope.KNOWLEDGE_WRITE, Scope.ANALYTICS_READ}
    ),
    Role.VIEWER: frozenset({Scope.CONVERSATIONS_READ, Scope.KNOWLEDGE_READ, Scope.ANALYTICS_READ}),
}
