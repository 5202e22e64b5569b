"""Telling English, Hindi (Devanagari) and Hinglish (Hindi in Latin letters) apart, and answering in
the customer's language without flipping on a single "ok"."""

from __future__ import annotations

import pytest

from agent.language import Language, conversation_language, detect_language, reply_language_instruction

HINGLISH = Language("hinglish", "latin")
HINDI = Language("hi", "devanagari")
ENGLISH = Language("en", "latin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mera order kab aayega?", HINGLISH),
        ("bhai refund kab milega", HINGLISH),
        ("kya aap meri help kar sakte ho", HINGLISH),
        ("I want refund, paisa wapas karo", HINGLISH),  # code-mixed: the Hindi half decides
        ("Order #1042 abhi tak nahi aaya", HINGLISH),
        ("theek hai", HINGLISH),
        ("kab?", HINGLISH),  # one word, but no English sentence says it
        ("मेरा ऑर्डर कहाँ है", HINDI),
        ("मुझे रिफंड चाहिए", HINDI),
        ("मेरा order कहाँ है?", HINDI),  # the script decides a mixed message
        ("Where is my order?", ENGLISH),
        ("I placed the order last week and it still has not arrived", ENGLISH),
        ("Please send it to Kya Restaurant", ENGLISH),  # a Hindi-looking name is not Hinglish
        ("Can I change the delivery address?", ENGLISH),
        ("أين طلبي؟", Language("ar", "arabic")),
        ("آپ کا آرڈر کہاں ہے", Language("ur", "arabic")),
        ("আমার অর্ডার কোথায়", Language("bn", "bengali")),
        ("Где мой заказ?", Language("unknown", "cyrillic")),
        ("hola, dónde está mi pedido", Language("unknown", "latin")),
        ("12345", Language("unknown", "unknown")),
        ("👍", Language("unknown", "unknown")),
    ],
)
def test_detects_the_language_and_script(text: str, expected: Language):
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["ok", "thanks", "hi", "order 1042", "yes please", "👍", "?"])
def test_short_neutral_messages_carry_no_evidence(text: str):
    assert detect_language(text).evidence == 0


def test_the_conversation_language_does_not_flip_on_an_ok():
    assert conversation_language(["mera order kab aayega", "ok", "thanks"]).code == "hinglish"
    assert conversation_language(["मेरा ऑर्डर कहाँ है", "ok"]).code == "hi"
    assert conversation_language(["Where is my order? It is late.", "ok ji"]).code == "en"


def test_the_conversation_language_follows_a_real_switch():
    switched = ["mera order kab aayega", "Sorry, can you please answer in English? I do not read Hindi well"]
    assert conversation_language(switched).code == "en"
    back = ["Where is my order?", "It is late", "bhai mujhe abhi tak kuch nahi mila, kya karu"]
    assert conversation_language(back).code == "hinglish"


def test_no_messages_give_no_language():
    assert conversation_language([]).code == "unknown"
    assert conversation_language(["", "  "]).code == "unknown"


def test_the_reply_instruction_names_language_and_script():
    assert "Hinglish" in reply_language_instruction(HINGLISH) and "Latin script" in reply_language_instruction(HINGLISH)
    assert "Devanagari" in reply_language_instruction(HINDI) and "Hindi" in reply_language_instruction(HINDI)
    assert reply_language_instruction(ENGLISH) == "Reply in English."
    assert "Arabic" in reply_language_instruction(Language("ar", "arabic"))
    assert "Cyrillic" in reply_language_instruction(Language("unknown", "cyrillic"))
    assert "last message" in reply_language_instruction(Language("unknown", "unknown"))
