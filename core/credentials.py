"""Credential formats: API keys, dashboard session tokens (JWT) and password hashes.

API keys are `fd_<prefix>_<secret>`: the prefix finds the row, only SHA-256 of the whole key is
stored (the secret has 256 bits of entropy, so a slow hash would add latency and no safety).
Passwords are low-entropy and get argon2id.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

API_KEY_PATTERN = re.compile(r"^fd_([a-z2-7]{10})_([A-Za-z0-9_-]{43})$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
JWT_ALGORITHM = "HS256"
JWT_ISSUER = "frontdesk"

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class NewApiKey:
    key: str  # shown to the caller once
    prefix: str
    secret_hash: str


def new_api_key() -> NewApiKey:
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    key = f"fd_{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(key=key, prefix=prefix, secret_hash=hash_api_key(key))


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(token: str) -> str | None:
    match = API_KEY_PATTERN.fullmatch(token)
    return match.group(1) if match else None


def api_key_matches(token: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(token), secret_hash)


async def hash_password(password: str) -> str:
    # argon2 takes ~50 ms of CPU by design: off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def derive_jwt_secret(master_key_b64: str) -> bytes:
    """A signing key of its own, derived from the master key, when no JWT secret is configured."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"frontdesk dashboard jwt v1").derive(
        base64.b64decode(master_key_b64)
    )


TokenType = Literal["access", "refresh"]


@dataclass(frozen=True)
class SessionClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    session_id: uuid.UUID
    role: str
    type: TokenType


class TokenExpired(Exception):
    pass


class TokenInvalid(Exception):
    pass


def issue_token(secret: bytes, claims: SessionClaims, lifetime: timedelta) -> str:
    now = datetime.now(UTC)
    payload = {
        "iss": JWT_ISSUER,
        "sub": str(claims.user_id),
        "tid": str(claims.tenant_id),
        "sid": str(claims.session_id),
        "role": claims.role,
        "typ": claims.type,
        "iat": now,
        "exp": now + lifetime,
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM)


def read_token(secret: bytes, token: str, expected: TokenType) -> SessionClaims:
    try:
        payload = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], issuer=JWT_ISSUER, options={"require": ["exp", "sub", "tid", "sid"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired from exc
    except jwt.PyJWTError as exc:
        raise TokenInvalid(str(exc)) from exc
    if payload.get("typ") != expected:
        raise TokenInvalid(f"not an {expected} token")
    try:
        return SessionClaims(
            user_id=uuid.UUID(payload["sub"]),
            tenant_id=uuid.UUID(payload["tid"]),
            session_id=uuid.UUID(payload["sid"]),
            role=str(payload.get("role", "")),
            type=expected,
        )
    except (ValueError, TypeError) as exc:
        raise TokenInvalid("malformed claims") from exc


def token_expiry(token: str) -> float | None:
    """When a session token stops being valid (epoch seconds); None for API keys. Read without
    verification: call only after the token was authenticated."""
    if token.count(".") != 2:
        return None
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError as exc:
        raise TokenInvalid(str(exc)) from exc
    return float(exp) if exp is not None else None
