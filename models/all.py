"""Imports every model so Base.metadata is complete (Alembic, tests)."""

from models.agent_profiles import AgentProfile, AgentPromptVersion
from models.agent_tools import Followup, OrderAction, PaymentIntent, Ticket, ToolCall
from models.audit import AuditEntry
from models.base import Base
from models.channel_accounts import ChannelAccount
from models.commerce import CommerceWebhookDelivery, Order
from models.consent import ChannelOptOut
from models.conversation_memory import ConversationMemory
from models.conversations import Conversation, Message, MessageStatusEvent
from models.customers import Customer, CustomerIdentity
from models.identity import ApiKey, User, UserSession
from models.inbound_journal import InboundJournalEntry
from models.knowledge import KnowledgeChunk, KnowledgeDocument, KnowledgeEntry, KnowledgeIndex, RetrievalEvent
from models.llm_usage import LlmUsage
from models.nlu import Intent, IntentModelVersion, IntentPrediction, TrainingSample
from models.tenants import LlmProvider, Tenant

__all__ = [
    "AgentProfile",
    "AgentPromptVersion",
    "ApiKey",
    "AuditEntry",
    "Base",
    "ChannelAccount",
    "ChannelOptOut",
    "CommerceWebhookDelivery",
    "Conversation",
    "ConversationMemory",
    "Customer",
    "CustomerIdentity",
    "Followup",
    "InboundJournalEntry",
    "Intent",
    "IntentModelVersion",
    "IntentPrediction",
    "KnowledgeChunk",
    "KnowledgeDocument",
    "KnowledgeEntry",
    "KnowledgeIndex",
    "LlmProvider",
    "LlmUsage",
    "Message",
    "MessageStatusEvent",
    "Order",
    "OrderAction",
    "PaymentIntent",
    "RetrievalEvent",
    "Tenant",
    "TrainingSample",
    "Ticket",
    "ToolCall",
    "User",
    "UserSession",
]
