"""Temporal codec server: the Temporal UI and CLI send encrypted payloads here to show them.

Speaks Temporal's codec-server protocol: POST `.../encode` and `.../decode` with a `Payloads`
protobuf as JSON (`{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}`)
and get the same shape back. Decoded payloads are customer conversations, so every call needs
the platform admin key; the UI's browser origin gets CORS here and nowhere else in the API.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Annotated

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf.message import DecodeError
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from api.deps import StateDep
from api.problems import Problem
from core.payload_codec import EncryptionCodec, PayloadKeyError, codec_for
from core.settings import Settings

router = APIRouter(prefix="/codec", tags=["codec"])
_bearer = HTTPBearer(auto_error=False, description="The platform admin key (FRONTDESK_ADMIN_KEY).")
_ALLOWED_HEADERS = "content-type, authorization, x-namespace"
MAX_PAYLOADS = 1000  # one history page is far below this; the body limit bounds the rest


class CodecPayload(BaseModel):
    # Protobuf JSON: bytes are base64; empty fields may be left out.
    metadata: dict[str, str] = Field(default_factory=dict, examples=[{"encoding": "anNvbi9wbGFpbg=="}])
    data: str = Field("", examples=[base64.b64encode(b'"hello"').decode()])


class CodecPayloads(BaseModel):
    payloads: list[CodecPayload] = Field(default_factory=list, max_length=MAX_PAYLOADS)


def _allowed_origins(settings: Settings) -> set[str]:
    origins = {settings.temporal_ui_origin.rstrip("/")}
    if settings.env == "development":
        # `frontdesk dev` prints the UI as 127.0.0.1 while the default origin says localhost;
        # both name the same local UI.
        origins |= {f"http://127.0.0.1:{settings.temporal_ui_port}", f"http://localhost:{settings.temporal_ui_port}"}
    return origins


def _cors_headers(request: Request, settings: Settings) -> dict[str, str]:
    origin = request.headers.get("origin")
    if origin is None or origin.rstrip("/") not in _allowed_origins(settings):
        return {}
    # Credentials allowed: the UI can forward its signed-in user's token (codec "pass access token").
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


def _is_loopback(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:  # a test client's made-up host name
        return False


@dataclass
class CodecCall:
    codec: EncryptionCodec
    cors: dict[str, str]  # repeated on error responses, so the UI can read why


async def _authorized(
    request: Request,
    state: StateDep,
    response: Response,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> CodecCall:
    settings = state.settings
    cors = _cors_headers(request, settings)
    response.headers.update(cors)  # FastAPI copies these onto the successful response
    admin_key = settings.admin_key.get_secret_value() if settings.admin_key else ""
    presented = credentials.credentials if credentials else ""
    if admin_key and presented and hmac.compare_digest(presented.encode(), admin_key.encode()):
        return _codec(settings, cors)
    # Development convenience: the UI `frontdesk dev` starts sends no credentials, and on this
    # machine whoever reaches loopback can read the data directory (and its key) anyway. Never
    # outside development: behind a proxy on the same host every caller would look local.
    if settings.env == "development" and not presented and _is_loopback(request):
        return _codec(settings, cors)
    detail = "wrong admin key" if presented else "send Authorization: Bearer <FRONTDESK_ADMIN_KEY>"
    raise Problem(401, "Not authenticated", detail, headers={"WWW-Authenticate": "Bearer", **cors})


def _codec(settings: Settings, cors: dict[str, str]) -> CodecCall:
    try:
        return CodecCall(codec_for(settings), cors)  # the codec is cached per key set
    except ValueError as exc:  # no master key configured: nothing could ever be decoded
        raise Problem(503, "Codec unavailable", str(exc), headers=cors) from None


CodecDep = Annotated[CodecCall, Depends(_authorized)]


def _to_proto(item: CodecPayload) -> Payload:
    try:
        metadata = {k: base64.b64decode(v, validate=True) for k, v in item.metadata.items()}
        return Payload(metadata=metadata, data=base64.b64decode(item.data, validate=True))
    except binascii.Error:
        raise ValueError("metadata values and data must be base64") from None


def _from_proto(payload: Payload) -> CodecPayload:
    return CodecPayload(
        metadata={k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        data=base64.b64encode(payload.data).decode(),
    )


async def _apply(body: CodecPayloads, call: CodecCall, *, decode: bool) -> CodecPayloads:
    cors = call.cors
    try:
        payloads = [_to_proto(p) for p in body.payloads]
        out = await (call.codec.decode(payloads) if decode else call.codec.encode(payloads))
    except PayloadKeyError as exc:  # protocol: a codec error is 400, with the reason
        raise Problem(400, "Payload cannot be decoded", str(exc), headers=cors) from None
    except InvalidTag:
        raise Problem(400, "Payload cannot be decoded", "ciphertext does not authenticate under that key", headers=cors) from None
    except (ValueError, DecodeError) as exc:
        raise Problem(400, "Payloads are not valid", str(exc) or "not a Payload", headers=cors) from None
    return CodecPayloads(payloads=[_from_proto(p) for p in out])


@router.post("/encode", response_model=CodecPayloads)
async def encode(body: CodecPayloads, call: CodecDep) -> CodecPayloads:
    """Encrypt payloads (used when starting or signalling a workflow from the UI)."""
    return await _apply(body, call, decode=False)


@router.post("/decode", response_model=CodecPayloads)
async def decode(body: CodecPayloads, call: CodecDep) -> CodecPayloads:
    """Decrypt payloads to show them; payloads that were never encrypted come back unchanged."""
    return await _apply(body, call, decode=True)


@router.options("/encode", include_in_schema=False)
@router.options("/decode", include_in_schema=False)
async def preflight(request: Request, state: StateDep) -> Response:
    """CORS preflight from the Temporal UI's browser tab (nothing is decoded here)."""
    cors = _cors_headers(request, state.settings)
    if not cors:
        raise Problem(403, "Origin not allowed", f"only {', '.join(sorted(_allowed_origins(state.settings)))} may call the codec")
    return Response(
        status_code=204,
        headers={
            **cors,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
        },
    )
