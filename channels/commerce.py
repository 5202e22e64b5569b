"""What a store's webhook becomes: one order or customer shape that Shopify and Magento both map
into, and the field readers they share (money, timestamps, e-mail, phone numbers).

Store webhooks are not conversation channels: they carry no message to answer, so they do not
implement `ChannelAdapter`; `StoreWebhooks` is their smaller seam (verify, parse). The API applies
a parsed `StoreEvent` with models/commerce_store.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from channels.base import PayloadError, WebhookRequest

# Column sizes (models/commerce.py, models/customers.py): a longer value is a body we refuse.
MAX_EXTERNAL_ID_CHARS = 64
MAX_NUMBER_CHARS = 64
MAX_STATUS_CHARS = 32
MAX_NAME_CHARS = 200
MAX_EMAIL_CHARS = 320
MAX_DELIVERY_ID_CHARS = 128
MAX_TOPIC_CHARS = 64
MAX_LINE_ITEMS = 500  # far above a real basket; the JSONB column stays bounded
MAX_ITEM_TEXT_CHARS = 255
# Numeric(14, 2): twelve digits before the point.
_MAX_AMOUNT = Decimal(10) ** 12
_CENT = Decimal("0.01")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")
_CALLING_CODE = re.compile(r"^[1-9]\d{0,3}$")


@dataclass(frozen=True)
class NormalisedCustomer:
    """Who a store event is about. Any field may be missing (a guest checkout has no store
    customer id; Shopify hides contact details from apps without protected-data access)."""

    store_customer_id: str | None = None
    email: str | None = None  # lower-cased
    phone: str | None = None  # E.164 with "+", or None when the store's number has no country code
    name: str | None = None

    def is_empty(self) -> bool:
        return not (self.store_customer_id or self.email or self.phone)


@dataclass(frozen=True)
class OrderLine:
    title: str
    quantity: int
    sku: str | None = None
    price: str | None = None  # decimal text, as stores send money


@dataclass(frozen=True)
class Tracking:
    number: str | None = None
    url: str | None = None
    company: str | None = None


@dataclass(frozen=True)
class NormalisedOrder:
    external_id: str  # the store's order id
    number: str | None  # what the customer sees: "#1001", "000000042"
    status: str  # open | cancelled | closed
    updated_at: datetime  # the store's last change: an older payload never overwrites a newer one
    customer: NormalisedCustomer
    financial_status: str | None = None  # Shopify's words: pending, paid, refunded, ...
    fulfillment_status: str | None = None  # None (nothing shipped), partial, fulfilled
    total: Decimal | None = None
    currency: str | None = None
    items: list[OrderLine] = field(default_factory=list)
    tracking: list[Tracking] = field(default_factory=list)
    placed_at: datetime | None = None


@dataclass(frozen=True)
class StoreEvent:
    """One verified store delivery, ready to apply: an order (with its customer) or a customer."""

    source: str  # shopify | magento
    topic: str
    delivery_id: str  # the dedupe key: a redelivery with the same id is a no-op
    order: NormalisedOrder | None = None
    customer: NormalisedCustomer | None = None


class StoreWebhooks(Protocol):
    source: str

    def verify(self, request: WebhookRequest, secrets: dict[str, Any]) -> None:
        """Raises SignatureError unless the store signed this delivery."""

    def parse(self, request: WebhookRequest, config: dict[str, Any]) -> StoreEvent | None:
        """The event, or None for a topic we do not use; raises PayloadError for a body the
        store would not send."""


def load_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, numbers with a fraction as Decimal (money stays exact)."""
    try:
        payload = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from exc
    except RecursionError:  # a signed body can still be hostile: nesting deeper than ours
        raise PayloadError("body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    return payload


def _reject_constant(name: str) -> Any:
    raise PayloadError(f"body contains {name}, which is not a number")


def object_at(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """An optional nested object: {} when absent or null."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"'{key}' must be an object")
    return value


def list_at(parent: dict[str, Any], key: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"'{key}' must be a list")
    return value


def required_id(parent: dict[str, Any], key: str, what: str) -> str:
    """A store id (a number in Shopify's and Magento's JSON, kept as text: Shopify's exceed 2^53)."""
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or str(value).strip() == "":
        raise PayloadError(f"{what} '{key}' is missing")
    return bounded_text(str(value).strip(), MAX_EXTERNAL_ID_CHARS, f"{what} '{key}'")


def optional_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or str(value).strip() in ("", "0"):
        return None
    return str(value).strip()[:MAX_EXTERNAL_ID_CHARS]


def bounded_text(value: str, limit: int, what: str) -> str:
    if len(value) > limit:
        raise PayloadError(f"{what} is longer than {limit} characters")
    return value


def optional_text(value: Any, limit: int, what: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PayloadError(f"{what} must be text")
    return bounded_text(str(value), limit, what)


def clipped_text(value: Any, limit: int) -> str | None:
    """Free text the customer typed (a product title, a name): cut, never refused."""
    if not isinstance(value, (str, int, Decimal)) or isinstance(value, bool) or str(value).strip() == "":
        return None
    return str(value).strip()[:limit]


def timestamp(value: Any, what: str, *, required: bool = False) -> datetime | None:
    """ISO 8601 (Shopify: "2024-03-27T13:01:19-04:00"); Magento writes "2024-03-27 17:01:19"
    without an offset, in UTC."""
    if value is None or value == "":
        if required:
            raise PayloadError(f"{what} is missing")
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{what} must be a date-time text")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadError(f"{what} is not an ISO 8601 date-time: {value[:40]!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def amount(value: Any, what: str) -> Decimal | None:
    """Money as the stores send it ("59.99" in Shopify, 59.99 in Magento), to the cent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise PayloadError(f"{what} must be a number")
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        raise PayloadError(f"{what} is not a number: {str(value)[:40]!r}") from None
    if not parsed.is_finite() or abs(parsed) >= _MAX_AMOUNT:
        raise PayloadError(f"{what} is out of range")
    return parsed.quantize(_CENT)


def quantity(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise PayloadError(f"{what} must be a number")
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        raise PayloadError(f"{what} is not a number") from None
    if not parsed.is_finite() or parsed < 0 or parsed > 10**9:
        raise PayloadError(f"{what} is out of range")
    return int(parsed)


def currency(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value.strip().upper()):
        raise PayloadError(f"{what} must be a three-letter ISO 4217 code")
    return value.strip().upper()


def normalise_email(value: Any) -> str | None:
    """Lower-cased, or None for anything that is not an address (the order is still stored,
    only not linked by e-mail)."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or " " in email or len(email) > MAX_EMAIL_CHARS:
        return None
    return email


def normalise_phone(value: Any, default_calling_code: str | None = None) -> str | None:
    """E.164 with "+" ("+919812345678"), the form customers.phone keeps and WhatsApp ids have
    (without the "+"). A number written nationally ("098123 45678") has no country code: it is
    read with the account's `default_calling_code` (dropping one trunk "0"), else not used."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = _PHONE_PUNCTUATION.sub("", str(value))
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):  # the international prefix of most countries
        digits = text[2:]
    elif default_calling_code and _CALLING_CODE.fullmatch(default_calling_code) and text.isdigit():
        digits = default_calling_code + text.removeprefix("0")
    else:
        return None
    if not digits.isdigit() or not 8 <= len(digits) <= 15 or digits.startswith("0"):
        return None
    return "+" + digits


def first_phone(candidates: list[Any], default_calling_code: str | None) -> str | None:
    for candidate in candidates:
        if phone := normalise_phone(candidate, default_calling_code):
            return phone
    return None


def full_name(first: Any, last: Any) -> str | None:
    parts = [str(p).strip() for p in (first, last) if isinstance(p, str) and p.strip()]
    return " ".join(parts)[:MAX_NAME_CHARS] if parts else None
