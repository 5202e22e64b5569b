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


class WhatsAppCredentials(_Strict):
    app_secret: str = Field(min_length=8, max_length=256)
    access_token: str = Field(min_length=10, max_length=4096)
    # Entered in Meta's dashboard next to the webhook URL; generated when not given.
    verify_token: str = Field(default_factory=lambda: secrets.token_urlsafe(24), pattern=r"^[A-Za-z0-9_.~-]{8,128}$")


class WebchatConfig(_Strict):
    allowed_origins: list[HttpUrl] = Field(default_factory=list, max_length=50)
    brand_color: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$")
    position: str | None = Field(None, pattern=r"^(left|right)$")
    greeting: str | None = Field(None, max_length=500)
    debounce_seconds: float | None = Field(None, ge=0, le=30)


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
    "webchat": AccountSchema(WebchatConfig, NoCredentials, "/v1/webchat/{id}/messages"),
}
