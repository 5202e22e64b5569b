"""Secrets at rest: AES-256-GCM under the master key from settings.

Ciphertexts are versioned (`v1:`) so a later envelope scheme can coexist with stored values.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"


class SecretBox:
    def __init__(self, master_key_b64: str) -> None:
        key = base64.b64decode(master_key_b64)
        if len(key) != 32:
            raise ValueError("master key must be base64 of exactly 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        # `context` (e.g. the owning row's id) is bound as associated data, so a ciphertext
        # copied onto another row fails to decrypt instead of leaking a secret there.
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, context: str) -> str:
        version, _, body = token.partition(":")
        if version != _VERSION:
            raise ValueError(f"unknown secret format {version!r}")
        raw = base64.b64decode(body)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()

    def encrypt_json(self, value: dict[str, Any], *, context: str) -> str:
        return self.encrypt(json.dumps(value), context=context)

    def decrypt_json(self, token: str | None, *, context: str) -> dict[str, Any]:
        return json.loads(self.decrypt(token, context=context)) if token else {}


def generate_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()
