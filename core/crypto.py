"""Secrets at rest: AES-256-GCM envelope encryption under the master key from settings.

Every value gets its own random data key; only that 32-byte key is encrypted ("wrapped") with
the master key. Rotating the master key then re-wraps data keys and never touches the values'
ciphertexts (`rewrap`, used by `frontdesk rotate-master-key`).

Token formats (both stay readable):
  v2:<master key id>:<b64 nonce+wrapped data key>:<b64 nonce+ciphertext>   envelope (written now)
  v1:<b64 nonce+ciphertext>                                                direct under the master key
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12
_KEY_BYTES = 32


class UnknownMasterKeyError(ValueError):
    """A secret was sealed under a master key this process was not given."""


def decode_master_key(master_key_b64: str) -> bytes:
    try:
        # Not `validate=True`: keys set before envelope encryption were read leniently (a
        # trailing newline from `echo` into an env file), and must keep working.
        key = base64.b64decode(master_key_b64.strip())
    except binascii.Error:
        raise ValueError("master key must be base64 of exactly 32 bytes") from None
    if len(key) != _KEY_BYTES:
        raise ValueError("master key must be base64 of exactly 32 bytes")
    return key


def derive_key(master_key: bytes, purpose: bytes) -> bytes:
    """An independent 256-bit key for one purpose, so one master key can serve several
    schemes (key ids, Temporal payloads) without any of them exposing the others."""
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=purpose).derive(master_key)


def master_key_id(master_key: bytes) -> str:
    """A short public fingerprint naming a master key in tokens, payload metadata and errors.
    Hashed from a derived value, so publishing it says nothing usable about the key."""
    return hashlib.sha256(derive_key(master_key, b"frontdesk master key id v1")).hexdigest()[:8]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("malformed secret token") from None


def _wrap_aad(key_id: str) -> bytes:
    # Binds the wrapped data key to the master key id written next to it: editing the id in
    # a stored token makes unwrapping fail instead of trying another key.
    return b"frontdesk data key v2:" + key_id.encode()


class SecretBox:
    """Seals and opens secrets. `previous` keys are accepted for reading (and re-wrapping)
    only; everything written is wrapped by the current key."""

    def __init__(self, master_key_b64: str, previous: Sequence[str] = ()) -> None:
        current = decode_master_key(master_key_b64)
        self.key_id = master_key_id(current)
        self._wrappers: dict[str, AESGCM] = {self.key_id: AESGCM(current)}
        # v1 tokens carry no key id: they are tried against each key, current first.
        self._direct: list[AESGCM] = [self._wrappers[self.key_id]]
        for old_b64 in previous:
            old = decode_master_key(old_b64)
            old_id = master_key_id(old)
            if old_id in self._wrappers:
                continue  # the same key given twice (e.g. right after a rotation)
            self._wrappers[old_id] = AESGCM(old)
            self._direct.append(self._wrappers[old_id])

    @property
    def key_ids(self) -> list[str]:
        return list(self._wrappers)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        # `context` (e.g. the owning row's id) is bound as associated data, so a ciphertext
        # copied onto another row fails to decrypt instead of leaking a secret there.
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(data_key).encrypt(nonce, plaintext.encode(), context.encode())
        return self._envelope(data_key, nonce + sealed)

    def decrypt(self, token: str, *, context: str) -> str:
        version, _, rest = token.partition(":")
        if version == "v2":
            key_id, wrapped, body = self._parse_v2(rest)
            raw = _unb64(body)
            data_key = self._unwrap(key_id, wrapped)
            return AESGCM(data_key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
        if version == "v1":
            return self._decrypt_v1(rest, context)
        raise ValueError(f"unknown secret format {version!r}")

    def rewrap(self, token: str, *, context: str) -> str:
        """The same secret, with its data key wrapped by the current master key.

        v2: only the data key is re-encrypted; the value's ciphertext is kept. Tokens already
        under the current key come back unchanged, so a repeated rotation is harmless. v1 has no
        data key: the value is opened (which needs `context`) and sealed as v2."""
        version, _, rest = token.partition(":")
        if version == "v2":
            key_id, wrapped, body = self._parse_v2(rest)
            if key_id == self.key_id:
                self._unwrap(key_id, wrapped)  # still check it opens: never keep a broken token silently
                return token
            return self._envelope(self._unwrap(key_id, wrapped), _unb64(body))
        return self.encrypt(self.decrypt(token, context=context), context=context)

    def key_id_of(self, token: str) -> str | None:
        """Which master key wraps this token (None for v1, which does not say)."""
        version, _, rest = token.partition(":")
        return self._parse_v2(rest)[0] if version == "v2" else None

    def encrypt_json(self, value: dict[str, Any], *, context: str) -> str:
        return self.encrypt(json.dumps(value), context=context)

    def decrypt_json(self, token: str | None, *, context: str) -> dict[str, Any]:
        return json.loads(self.decrypt(token, context=context)) if token else {}

    def _envelope(self, data_key: bytes, sealed_value: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        wrapped = self._wrappers[self.key_id].encrypt(nonce, data_key, _wrap_aad(self.key_id))
        return f"v2:{self.key_id}:{_b64(nonce + wrapped)}:{_b64(sealed_value)}"

    def _unwrap(self, key_id: str, wrapped_b64: str) -> bytes:
        wrapper = self._wrappers.get(key_id)
        if wrapper is None:
            raise UnknownMasterKeyError(
                f"secret is wrapped by master key {key_id}, but this process has keys {', '.join(self._wrappers)}; "
                "set FRONTDESK_MASTER_KEY_PREVIOUS to the key it was written with (or finish `frontdesk rotate-master-key`)"
            )
        raw = _unb64(wrapped_b64)
        return wrapper.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _wrap_aad(key_id))

    @staticmethod
    def _parse_v2(rest: str) -> tuple[str, str, str]:
        parts = rest.split(":")
        if len(parts) != 3 or not all(parts):
            raise ValueError("malformed secret token")
        key_id, wrapped, body = parts
        return key_id, wrapped, body

    def _decrypt_v1(self, body: str, context: str) -> str:
        raw = _unb64(body)
        failure: InvalidTag | None = None
        for aead in self._direct:
            try:
                return aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
            except InvalidTag as exc:  # try the next key; if none opens it, report the current key's failure
                failure = failure or exc
        assert failure is not None
        raise failure


def generate_master_key() -> str:
    return base64.b64encode(os.urandom(_KEY_BYTES)).decode()
