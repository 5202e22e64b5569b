"""Deterministic ids: one conversation workflow per customer per channel account, stable seed ids."""

from __future__ import annotations

import uuid

import pytest

from core.ids import conversation_workflow_id, named_uuid


def test_conversation_workflow_id_format():
    assert conversation_workflow_id("t1", "wa-acct", "+919876543210") == "conv:t1:wa-acct:+919876543210"


def test_longest_allowed_contact_is_accepted():
    assert conversation_workflow_id("t1", "a1", "9" * 128).endswith(":" + "9" * 128)


@pytest.mark.parametrize(
    "contact",
    [
        pytest.param("", id="empty"),
        pytest.param("9" * 129, id="129-chars"),
        pytest.param("+91 98765 43210", id="spaces"),
        pytest.param("../91987", id="slash"),
        pytest.param("919876543210\n", id="trailing-newline"),
    ],
)
def test_invalid_contact_is_refused(contact):
    with pytest.raises(ValueError):
        conversation_workflow_id("t1", "a1", contact)


def test_named_uuid_is_stable_and_distinct_per_name():
    assert named_uuid("demo-tenant") == named_uuid("demo-tenant")
    assert named_uuid("demo-tenant") != named_uuid("demo-tenant-2")
    assert isinstance(named_uuid("demo-tenant"), uuid.UUID)
