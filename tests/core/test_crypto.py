"""Secrets at rest: what we seal comes back only under the same master key (or one it was rotated
from) and owning row; tokens written before envelope encryption stay readable."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.crypto import SecretBox, UnknownMasterKeyError, generate_master_key

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


def _flip_last_byte(segment: str) -> str:
    raw = bytearray(base64.b64decode(segment))
    raw[-1] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("part", [2, 3], ids=["wrapped-data-key", "value"])
def test_tampered_ciphertext_does_not_decrypt(part):
    box = SecretBox(generate_master_key())
    parts = box.encrypt("EAAG-access-token", context=ROW).split(":")
    parts[part] = _flip_last_byte(parts[part])
    with pytest.raises(InvalidTag):
        box.decrypt(":".join(parts), context=ROW)


def test_another_master_key_cannot_decrypt_and_the_error_names_the_key():
    writer = SecretBox(generate_master_key())
    token = writer.encrypt("EAAG-access-token", context=ROW)
    with pytest.raises(UnknownMasterKeyError, match=writer.key_id):
        SecretBox(generate_master_key()).decrypt(token, context=ROW)


def test_changing_the_key_id_in_a_token_does_not_decrypt():
    old, new = generate_master_key(), generate_master_key()
    box = SecretBox(new, previous=[old])
    parts = SecretBox(old).encrypt("EAAG-access-token", context=ROW).split(":")
    parts[1] = box.key_id  # claims the current key, but was wrapped by the old one
    with pytest.raises(InvalidTag):
        box.decrypt(":".join(parts), context=ROW)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_master_key_of_the_wrong_length_is_refused(length):
    with pytest.raises(ValueError):
        SecretBox(base64.b64encode(b"k" * length).decode())


def test_json_round_trip_and_missing_value_reads_as_empty():
    box = SecretBox(generate_master_key())
    secrets = {"access_token": "EAAG-x", "app_secret": "0f1e", "nested": {"n": 1}}
    assert box.decrypt_json(box.encrypt_json(secrets, context=ROW), context=ROW) == secrets
    assert box.decrypt_json(None, context=ROW) == {}


def test_token_is_an_envelope_that_names_the_key_but_never_holds_it():
    key = generate_master_key()
    box = SecretBox(key)
    token = box.encrypt("EAAG-access-token", context=ROW)
    version, key_id, wrapped, sealed = token.split(":")
    assert (version, key_id) == ("v2", box.key_id)
    assert len(key_id) == 8 and key_id not in key
    assert len(base64.b64decode(wrapped)) == 12 + 32 + 16  # nonce + data key + tag
    assert "EAAG" not in token and key not in token


def test_key_id_is_stable_for_a_key_and_differs_between_keys():
    key = generate_master_key()
    assert SecretBox(key).key_id == SecretBox(key).key_id != SecretBox(generate_master_key()).key_id


def test_previous_key_still_reads_what_it_wrote():
    old, new = generate_master_key(), generate_master_key()
    token = SecretBox(old).encrypt("EAAG-access-token", context=ROW)
    rotated = SecretBox(new, previous=[old])
    assert rotated.decrypt(token, context=ROW) == "EAAG-access-token"
    # ...but new values are written under the current key only.
    assert rotated.key_id_of(rotated.encrypt("x", context=ROW)) == SecretBox(new).key_id


def test_rewrap_moves_the_data_key_and_keeps_the_value_ciphertext():
    old, new = generate_master_key(), generate_master_key()
    token = SecretBox(old).encrypt("EAAG-access-token", context=ROW)
    rotated = SecretBox(new, previous=[old])
    rewrapped = rotated.rewrap(token, context=ROW)
    assert rewrapped.split(":")[1] == rotated.key_id
    assert rewrapped.split(":")[3] == token.split(":")[3]  # the value itself was not re-encrypted
    assert SecretBox(new).decrypt(rewrapped, context=ROW) == "EAAG-access-token"  # old key no longer needed
    with pytest.raises(UnknownMasterKeyError):
        SecretBox(old).decrypt(rewrapped, context=ROW)
    assert rotated.rewrap(rewrapped, context=ROW) == rewrapped  # already current: left as it is


def test_rewrap_refuses_a_token_no_key_opens():
    token = SecretBox(generate_master_key()).encrypt("EAAG-access-token", context=ROW)
    with pytest.raises(UnknownMasterKeyError):
        SecretBox(generate_master_key()).rewrap(token, context=ROW)


def _v1_token(key_b64: str, plaintext: str, context: str) -> str:
    """A token as the first release wrote it: AES-GCM directly under the master key."""
    nonce = os.urandom(12)
    sealed = AESGCM(base64.b64decode(key_b64)).encrypt(nonce, plaintext.encode(), context.encode())
    return "v1:" + base64.b64encode(nonce + sealed).decode()


def test_v1_tokens_stay_readable_under_the_current_or_a_previous_key():
    old, new = generate_master_key(), generate_master_key()
    assert SecretBox(old).decrypt(_v1_token(old, "EAAG-v1", ROW), context=ROW) == "EAAG-v1"
    assert SecretBox(new, previous=[old]).decrypt(_v1_token(old, "EAAG-v1", ROW), context=ROW) == "EAAG-v1"
    with pytest.raises(InvalidTag):
        SecretBox(old).decrypt(_v1_token(old, "EAAG-v1", ROW), context="channel-account-other")
    with pytest.raises(InvalidTag):
        SecretBox(new).decrypt(_v1_token(old, "EAAG-v1", ROW), context=ROW)


def test_rewrap_converts_v1_to_an_envelope_under_the_current_key():
    old, new = generate_master_key(), generate_master_key()
    rewrapped = SecretBox(new, previous=[old]).rewrap(_v1_token(old, "EAAG-v1", ROW), context=ROW)
    assert rewrapped.startswith(f"v2:{SecretBox(new).key_id}:")
    assert SecretBox(new).decrypt(rewrapped, context=ROW) == "EAAG-v1"


@pytest.mark.parametrize("token", ["v2:abc", "v2:abc:!!!:AAAA", "v3:x", "nonsense"])
def test_malformed_tokens_are_refused_with_a_reason(token):
    with pytest.raises(ValueError):
        SecretBox(generate_master_key()).decrypt(token, context=ROW)
