"""The normalised inbound message survives the inbound journal's JSON and keeps its details."""

import json
from dataclasses import asdict

from channels.base import Attachment, InboundMessage, Location


def test_a_rich_message_round_trips_through_json_and_keeps_its_details_for_the_row():
    message = InboundMessage(
        channel="whatsapp", channel_account_id="acc", external_id="wamid.1", contact_id="15550001111", text="[image] receipt",
        kind="image", attachments=[Attachment("image", media_id="m1", mime_type="image/jpeg", caption="receipt")],
        location=Location(12.97, 77.59, name="Shop"), reply_payload="refund:yes", reply_to_external_id="wamid.0",
        extra={"emoji": "👍"}, consent=None,
    )  # fmt: skip
    again = InboundMessage.from_dict(json.loads(json.dumps(asdict(message))))
    assert again == message
    content = message.content()
    assert content["attachments"] == [{"kind": "image", "media_id": "m1", "mime_type": "image/jpeg", "caption": "receipt"}]
    assert content["location"] == {"latitude": 12.97, "longitude": 77.59, "name": "Shop"}
    assert content["reply_payload"] == "refund:yes" and content["reply_to"] == "wamid.0" and "consent" not in content


def test_journal_rows_written_before_the_rich_fields_still_load():
    old = {"channel": "whatsapp", "channel_account_id": "a", "external_id": "x", "contact_id": "1", "text": "hi", "kind": "text",
           "contact_name": None, "sent_at": None}  # fmt: skip
    message = InboundMessage.from_dict(old)
    assert message.attachments == [] and message.location is None and message.content() == {}


def test_nul_characters_are_removed_everywhere_so_the_message_can_be_stored():
    message = InboundMessage(
        channel="telegram", channel_account_id="a", external_id="1:2", contact_id="1", text="hi\x00 there",
        attachments=[Attachment("image", media_id="f\x00", caption="cap\x00tion")], extra={"k\x00": ["v\x00"]},
    )  # fmt: skip
    clean = message.without_nul()
    assert "\x00" not in json.dumps(asdict(clean))
    assert (clean.text, clean.attachments[0].caption, clean.extra) == ("hi there", "caption", {"k": ["v"]})
