"""Temporal payloads encrypted at rest (AES-256-GCM), keyed from the master key.

Workflow inputs, signals, updates, activity arguments and results carry customer messages;
the Temporal server stores them in history for the retention period and shows them in its UI.
This codec encrypts each payload in the client and worker, so the server keeps ciphertext. The
API serves the same codec at /codec (api/routes/codec.py) for operators using the Temporal UI.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

from core.crypto import decode_master_key, derive_key, master_key_id
from core.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
# Derived rather than configured: no second secret to distribute, and rotating the master key
# rotates this one with it.
_PURPOSE = b"frontdesk temporal payloads v1"
_NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """A payload was encrypted under a key this process was not given."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, master_key_b64: str, previous: Sequence[str] = ()) -> None:
        self._keys: dict[str, AESGCM] = {}
        for key_b64 in (master_key_b64, *previous):
            master = decode_master_key(key_b64)
            # The id names the master key (same fingerprint as secret tokens), so an operator
            # can tell which FRONTDESK_MASTER_KEY a payload needs.
            self._keys.setdefault(master_key_id(master), AESGCM(derive_key(master, _PURPOSE)))
        self.key_id = next(iter(self._keys))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        # The whole proto (metadata included) is sealed: the original encoding names the
        # message type, which is nobody's business either.
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.key_id].encrypt(nonce, payload.SerializeToString(), self.key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: self.key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            # Written before encryption was switched on (or by a plain client): still readable.
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        aead = self._keys.get(key_id)
        if aead is None:
            raise PayloadKeyError(
                f"payload is encrypted under master key {key_id or '(none given)'}, but this process has "
                f"keys {', '.join(self._keys)}; set FRONTDESK_MASTER_KEY_PREVIOUS to that key"
            )
        raw = payload.data
        return Payload.FromString(aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], key_id.encode()))


def _key_strings(settings: Settings) -> tuple[str, tuple[str, ...]]:
    if settings.master_key is None:
        raise ValueError("encrypting Temporal payloads needs FRONTDESK_MASTER_KEY")
    previous = (settings.master_key_previous.get_secret_value(),) if settings.master_key_previous else ()
    return settings.master_key.get_secret_value(), previous


@lru_cache(maxsize=8)
def _codec(master_key_b64: str, previous: tuple[str, ...]) -> EncryptionCodec:
    return EncryptionCodec(master_key_b64, previous)


def codec_for(settings: Settings) -> EncryptionCodec:
    """The codec for these settings' keys (one per key set, reused across calls)."""
    return _codec(*_key_strings(settings))


def payload_data_converter(settings: Settings) -> DataConverter:
    return dataclasses.replace(DataConverter.default, payload_codec=codec_for(settings))
