"""Generating the assistant's reply from the tenant's configured chat providers."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from core.ttl_cache import TtlCache
from llm.base import ChatMessage, CompletionRequest, ProviderConfig, ProviderHTTPError
from models import accounts_store, messages_store

SETUP_CACHE_SECONDS = 5.0


@dataclass
class GenerateReplyInput:
    tenant_id: str
    conversation_id: str
    history_limit: int = 20


@dataclass
class GeneratedReply:
    text: str
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    failovers: int = 0


def system_prompt(tenant_name: str) -> str:
    return (
        f"You are the customer-service assistant of {tenant_name}. Answer briefly and politely "
        "in the customer's language. If you do not know something, say so and offer to bring in "
        "a person from the team; never invent orders, prices or policies."
    )


@dataclass
class TenantChatSetup:
    name: str
    providers: list[ProviderConfig]


class ReplyActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps
        # Read on every turn, changed rarely: a provider change applies within these seconds.
        self._setups: TtlCache[uuid.UUID, TenantChatSetup] = TtlCache(SETUP_CACHE_SECONDS)

    async def _setup(self, session: AsyncSession, tenant_id: uuid.UUID) -> TenantChatSetup:
        async def load() -> TenantChatSetup:
            return TenantChatSetup(
                name=await accounts_store.tenant_name(session, tenant_id) or "our company",
                providers=await accounts_store.tenant_providers(session, self._deps.secrets, tenant_id),
            )

        return await self._setups.get_or_load(tenant_id, load)

    @activity.defn
    async def generate_reply(self, input: GenerateReplyInput) -> GeneratedReply:
        tenant_id = uuid.UUID(input.tenant_id)
        async with self._deps.statements() as session:
            setup = await self._setup(session, tenant_id)
            if not setup.providers:
                raise ApplicationError("no chat provider is configured", type="NoProviderConfigured", non_retryable=True)
            history = await messages_store.recent_history(
                session, tenant_id, uuid.UUID(input.conversation_id), input.history_limit
            )
        messages = [ChatMessage("system", system_prompt(setup.name))]
        messages += [ChatMessage("user" if d == "inbound" else "assistant", t) for d, t in history if t]
        request = CompletionRequest(messages=messages)

        failures: list[ProviderHTTPError] = []
        for config in setup.providers:
            try:
                completion = await self._deps.providers.build(config).complete(request)
            except ProviderHTTPError as exc:
                # Fail over at once to the next provider; Temporal retries the whole chain.
                activity.logger.warning("provider failed, failing over", extra={"provider": config.name, "status": exc.status})
                failures.append(exc)
                continue
            if not completion.text:
                failures.append(ProviderHTTPError(config.name, 502, "empty completion"))
                continue
            return GeneratedReply(
                text=completion.text,
                provider=config.name,
                model=completion.model,
                input_tokens=completion.usage.input_tokens,
                output_tokens=completion.usage.output_tokens,
                failovers=len(failures),
            )
        summary = "; ".join(str(f) for f in failures)
        if any(f.retryable for f in failures):
            delays = [f.retry_after for f in failures if f.retry_after]
            raise ApplicationError(
                f"every provider failed: {summary}",
                type="ProvidersUnavailable",
                next_retry_delay=timedelta(seconds=min(delays)) if delays else None,
            )
        raise ApplicationError(f"every provider refused: {summary}", type="ProvidersRejected", non_retryable=True)
