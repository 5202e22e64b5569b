"""What each channel's account needs: its public configuration and its credentials.

The admin API validates against these before anything is stored; credentials go only into the
encrypted column and are never returned.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendingConfig(_Strict):
    """What every channel that we send through accepts (activities/delivery.py)."""

    send_rate_per_s: float | None = Field(
        None, gt=0, le=1000, description="Sends per second for this account; default the channel's documented throughput."
    )


class WhatsAppConfig(SendingConfig):
    phone_number_id: str = Field(pattern=r"^\d{5,20}$", examples=["106540352242922"])
    graph_base_url: HttpUrl | None = Field(None, description="Graph API base including the version; default Meta's.")
    debounce_seconds: float | None = Field(None, ge=0, le=30)
    voice_replies: bool = Field(False, description="Answer a voice note with a voice note (the text goes along as its fallback).")


class WhatsAppCredentials(_Strict):
    app_secret: str = Field(min_length=8, max_length=256)
    access_token: str = Field(min_length=10, max_length=4096)
    # Entered in Meta's dashboard next to the webhook URL; generated when not given.
    verify_token: str = Field(default_factory=lambda: secrets.token_urlsafe(24), pattern=r"^[A-Za-z0-9_.~-]{8,128}$")


class WebchatConfig(_Strict):
    allowed_origins: list[HttpUrl] = Field(
        default_factory=list, max_length=50, description="Sites whose pages may open the widget's WebSocket; browsers on any other site are refused."
    )
    brand_color: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$")
    position: str | None = Field(None, pattern=r"^(left|right)$")
    greeting: str | None = Field(None, max_length=500)
    title: str | None = Field(None, max_length=60, description="The chat panel's heading, e.g. the shop's name.")
    debounce_seconds: float | None = Field(None, ge=0, le=30)


class TelegramConfig(SendingConfig):
    api_base_url: HttpUrl | None = Field(None, description="Bot API server; default Telegram's (a self-hosted Bot API server otherwise).")
    bot_username: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]{4,31}$", examples=["acme_help_bot"])
    debounce_seconds: float | None = Field(None, ge=0, le=30)
    voice_replies: bool = Field(False, description="Answer a voice note with a voice note (sendVoice, the text as its caption).")


class TelegramCredentials(_Strict):
    bot_token: str = Field(pattern=r"^\d{3,20}:[A-Za-z0-9_-]{20,100}$", description="From @BotFather.")
    # setWebhook's secret_token, sent back in every delivery's header; generated when not given.
    webhook_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32), pattern=r"^[A-Za-z0-9_-]{16,256}$")


class TwilioConfig(SendingConfig):
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", examples=["ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"])
    from_number: str = Field(
        pattern=r"^(whatsapp:)?\+[1-9]\d{6,14}$",
        examples=["+14155550100", "whatsapp:+14155238886"],
        description="The Twilio sender in E.164; prefix 'whatsapp:' for WhatsApp through Twilio.",
    )
    api_base_url: HttpUrl | None = Field(None, description="Twilio REST API base; default https://api.twilio.com.")
    status_callback: HttpUrl | None = Field(
        None, description="Set it to this account's webhook URL to record delivery receipts (and send each reply once)."
    )
    debounce_seconds: float | None = Field(None, ge=0, le=30)


class TwilioCredentials(_Strict):
    auth_token: str = Field(min_length=16, max_length=256)


class GenericWebhookConfig(SendingConfig):
    callback_url: HttpUrl = Field(description="Where replies are POSTed (signed JSON; see channels/generic_webhook.py).")
    debounce_seconds: float | None = Field(None, ge=0, le=30)


class GenericWebhookCredentials(_Strict):
    # Signs both directions (X-Frontdesk-Signature); generated when not given.
    webhook_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32), min_length=16, max_length=256)


_CALLING_CODE_FIELD = Field(
    None,
    pattern=r"^[1-9]\d{0,3}$",
    examples=["91"],
    description="Country calling code for store phone numbers written without one, so they link to WhatsApp/SMS customers.",
)


class ShopifyConfig(_Strict):
    shop_domain: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$", examples=["acme-store.myshopify.com"])
    default_calling_code: str | None = _CALLING_CODE_FIELD
    admin_api_base_url: HttpUrl | None = Field(
        None, description="Admin REST API base including the version; default https://{shop_domain}/admin/api/2025-01."
    )


class ShopifyCredentials(_Strict):
    # Shopify signs webhooks (X-Shopify-Hmac-Sha256) with the app's client secret; webhooks made
    # in the shop's admin (Settings > Notifications) with the key shown there.
    client_secret: str = Field(min_length=8, max_length=256)
    # An Admin API access token (a custom app's, scopes write_orders): with it, cancellations and
    # refunds the customer confirmed are carried out at the store (channels/shopify_admin.py).
    admin_access_token: str | None = Field(None, min_length=8, max_length=256)


class StripeConfig(_Strict):
    # Where Stripe Checkout sends the customer after paying.
    success_url: HttpUrl = Field(examples=["https://shop.example.com/thanks"])
    api_base_url: HttpUrl | None = Field(None, description="Stripe API base; default https://api.stripe.com.")


class StripeCredentials(_Strict):
    # A secret (sk_...) or restricted key allowed to create Checkout Sessions; the webhook
    # endpoint's signing secret (whsec_...) verifies Stripe's payment events.
    secret_key: str = Field(min_length=8, max_length=256)
    webhook_secret: str = Field(min_length=8, max_length=256)


class MagentoConfig(_Strict):
    base_url: HttpUrl = Field(examples=["https://shop.example.com/"], description="The store's base URL.")
    default_calling_code: str | None = _CALLING_CODE_FIELD


class MagentoCredentials(_Strict):
    # The store sends it in the X-Magento-Webhook-Secret header (channels/magento.py); generated when not given.
    webhook_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32), min_length=16, max_length=256)


class MessengerConfig(SendingConfig):
    page_id: str = Field(pattern=r"^\d{5,20}$", examples=["682498302938465"], description="The Facebook Page customers write to.")
    graph_base_url: HttpUrl | None = Field(None, description="Graph API base including the version; default Meta's.")
    debounce_seconds: float | None = Field(None, ge=0, le=30)
    voice_replies: bool = Field(False, description="Answer a voice note with a voice note (the text goes along as its fallback).")


class InstagramConfig(SendingConfig):
    instagram_account_id: str = Field(pattern=r"^\d{5,20}$", examples=["17841405822304914"], description="The Instagram professional account.")
    page_id: str | None = Field(
        None, pattern=r"^\d{5,20}$", description="The Facebook Page linked to the account; sends go to the token's own Page (/me) otherwise."
    )
    graph_base_url: HttpUrl | None = Field(None, description="Graph API base including the version; default Meta's.")
    debounce_seconds: float | None = Field(None, ge=0, le=30)


class MetaMessagingCredentials(_Strict):
    """Messenger and Instagram: the app's secret (webhook signatures) and the Page's token."""

    app_secret: str = Field(min_length=8, max_length=256)
    page_access_token: str = Field(min_length=10, max_length=4096)
    # Entered in Meta's dashboard next to the webhook URL; generated when not given.
    verify_token: str = Field(default_factory=lambda: secrets.token_urlsafe(24), pattern=r"^[A-Za-z0-9_.~-]{8,128}$")


class NoCredentials(_Strict):
    pass


@dataclass(frozen=True)
class AccountSchema:
    config: type[BaseModel]
    credentials: type[BaseModel]
    # The path a channel calls (or a widget posts to), under the API's public URL.
    webhook_path: str
    # Credentials the tenant needs to see to finish the set-up on the channel's side.
    shown_credentials: tuple[str, ...] = ()


ACCOUNT_SCHEMAS: dict[str, AccountSchema] = {
    "whatsapp": AccountSchema(WhatsAppConfig, WhatsAppCredentials, "/webhooks/whatsapp/{id}", ("verify_token",)),
    "messenger": AccountSchema(MessengerConfig, MetaMessagingCredentials, "/webhooks/messenger/{id}", ("verify_token",)),
    "instagram": AccountSchema(InstagramConfig, MetaMessagingCredentials, "/webhooks/instagram/{id}", ("verify_token",)),
    "webchat": AccountSchema(WebchatConfig, NoCredentials, "/v1/webchat/{id}/messages"),
    "twilio": AccountSchema(TwilioConfig, TwilioCredentials, "/webhooks/twilio/{id}"),
    "webhook": AccountSchema(GenericWebhookConfig, GenericWebhookCredentials, "/webhooks/webhook/{id}", ("webhook_secret",)),
    "telegram": AccountSchema(TelegramConfig, TelegramCredentials, "/webhooks/telegram/{id}", ("webhook_secret",)),
    "shopify": AccountSchema(ShopifyConfig, ShopifyCredentials, "/webhooks/shopify/{id}"),
    "magento": AccountSchema(MagentoConfig, MagentoCredentials, "/webhooks/magento/{id}", ("webhook_secret",)),
    "stripe": AccountSchema(StripeConfig, StripeCredentials, "/webhooks/stripe/{id}"),
}
