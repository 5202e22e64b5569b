"""What a customer sees when a reply is richer than the channel: the renderer's degradations."""

from channels.base import Button, Capabilities, ListRow, OutboundMedia, OutboundMessage, Template
from channels.render import fit, match_numbered_reply, shorten

WHATSAPP_LIKE = Capabilities(
    max_text_chars=4096, max_buttons=3, max_button_title_chars=20, max_list_rows=10, max_row_title_chars=24,
    media_kinds=frozenset({"image", "voice"}), templates=True,
)  # fmt: skip
SMS_LIKE = Capabilities(max_text_chars=160)


def _message(**parts) -> OutboundMessage:
    return OutboundMessage(to="+15550001111", text=parts.pop("text", "Refund order #1001?"), idempotency_key="k", **parts)


def test_buttons_that_fit_are_kept():
    message = _message(buttons=[Button("yes", "Yes"), Button("no", "No")])
    fitted = fit(message, WHATSAPP_LIKE)
    assert [b.title for b in fitted.buttons] == ["Yes", "No"] and fitted.text == message.text


def test_too_many_buttons_become_a_list_where_the_channel_has_lists():
    buttons = [Button(f"size-{n}", f"Size {n}") for n in range(5)]
    fitted = fit(_message(buttons=buttons), WHATSAPP_LIKE)
    assert fitted.buttons == [] and [r.id for r in fitted.list_rows] == [b.id for b in buttons]


def test_sms_gets_numbered_options_and_a_number_maps_back_to_the_option():
    rows = [ListRow("yes", "Yes, refund it"), ListRow("no", "No, keep the order")]
    fitted = fit(_message(list_rows=rows, list_button="Choose", text="Refund?"), Capabilities(max_text_chars=1600))
    assert fitted.list_rows == [] and fitted.list_button is None
    assert "1. Yes, refund it" in fitted.text and "2. No, keep the order" in fitted.text
    assert match_numbered_reply(" 2. ", rows).id == "no"
    assert match_numbered_reply("option 1", rows).id == "yes"
    assert match_numbered_reply("yes, refund it", rows).id == "yes"
    assert match_numbered_reply("3", rows) is None and match_numbered_reply("maybe later", rows) is None


def test_button_titles_too_long_to_show_fall_back_to_text_not_to_cut_titles():
    long = [Button("a", "Cancel the whole order now"), Button("b", "Keep it")]
    fitted = fit(_message(buttons=long), Capabilities(max_text_chars=4096, max_buttons=3, max_button_title_chars=20))
    assert fitted.buttons == [] and "1. Cancel the whole order now" in fitted.text


def test_unsupported_media_and_templates_degrade_to_text():
    media = OutboundMedia(kind="video", url="https://cdn.example/howto.mp4")
    fitted = fit(_message(media=media, template=Template("order_update")), SMS_LIKE)
    assert fitted.media is None and fitted.template is None
    assert fitted.text.endswith("https://cdn.example/howto.mp4")
    voice = OutboundMedia(kind="voice", path="/data/media/t/reply.ogg")
    assert fit(_message(media=voice), WHATSAPP_LIKE).media == voice
    assert fit(_message(media=voice), SMS_LIKE).media is None


def test_long_text_is_cut_at_a_word_with_an_ellipsis():
    text = "Your order has shipped and will arrive on Tuesday between nine and five " * 5
    cut = shorten(text, 160)
    assert len(cut) <= 160 and cut.endswith("…") and not cut[:-1].endswith(" ")
    assert cut[:-1].split()[-1] in text.split()
    assert fit(_message(text=text), SMS_LIKE).text == cut
    assert shorten("short", 160) == "short"


def test_rich_content_round_trips_through_the_stored_row():
    message = _message(
        buttons=[Button("y", "Yes")], media=OutboundMedia(kind="image", url="https://x/y.png"), template=Template("t", "en", ["1"])
    )
    again = OutboundMessage.from_row(message.to, message.text, message.idempotency_key, message.rich_content())
    assert again == message
