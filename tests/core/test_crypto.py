"""Secrets at rest: what we seal comes back only under the same master key and owning row."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag

from core.crypto import SecretBox, generate_master_key

ROW = "channel-account-7b1c"


def test_round_trip():
    box = SecretBox(generate_master_key())
    assert box.decrypt(box.encrypt("EAAG-access-token", context=ROW), context=ROW) == "EAAG-access-token"


def test_same_plaintext_seals_differently_each_time():
    box = SecretBox(generate_master_key())
    assert box.encrypt("same", context=ROW) != box.encrypt("same", context=ROW)


def test_ciphertext_copied_to_another_row_does_not_decrypt():
    box = SecretBox(generate_master_key())
    token = box.encrypt("EAAG-access-token", context=ROW)
    with pytest.raises(InvalidTag):
        box.decrypt(token, context="channel-account-other")


def test_tampered_ciphertext_does_not_decrypt():
    box = SecretBox(generate_master_key())
    version, _, body = box.encrypt("EAAG-access-token", context=ROW).partition(":")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 0x01
    with pytest.raises(InvalidTag):
        box.decrypt(f"{version}:{base64.b64encode(bytes(raw)).decode()}", context=ROW)


def test_another_master_key_cannot_decrypt():
    token = SecretBox(generate_master_key()).encrypt("EAAG-access-token", context=ROW)
    with pytest.raises(InvalidTag):
        SecretBox(generate_master_key()).decrypt(token, context=ROW)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_master_key_of_the_wrong_length_is_refused(length):
    with pytest.raises(ValueError):
        SecretBox(base64.b64encode(b"k" * length).decode())


def test_json_round_trip_and_missing_value_reads_as_empty():
    box = SecretBox(generate_master_key())
    secrets = {"access_token": "EAAG-x", "app_secret": "0f1e", "nested": {"n": 1}}
    assert box.decrypt_json(box.encrypt_json(secrets, context=ROW), context=ROW) == secrets
    assert box.decrypt_json(None, context=ROW) == {}
