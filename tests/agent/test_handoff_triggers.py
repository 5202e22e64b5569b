"""Every hand-over trigger a customer (or a tenant's settings) can cause, and the look-alikes that
must not cause one: a bot that hands over on "human resources" or "are you a human?" is as broken
as one that never hands over."""

from __future__ import annotations

import pytest

from agent.handoff import (
    BUDGET_EXHAUSTED,
    CUSTOMER_ASKED,
    HUMAN_ONLY_TOPIC,
    KEYWORD,
    LOW_CONFIDENCE,
    TOOL_FAILURES,
    HandoffCounters,
    HandoffSettings,
    HumanOnlyTopic,
    after_turn,
    asks_for_human,
    budget_exhausted,
    detect_trigger,
)
from agent.settings import AgentSettings

ASKS = {
    "en": [
        "I want to talk to a human",
        "Can I speak to a real person?",
        "connect me to an agent",
        "Transfer me to a representative please",
        "HUMAN!!!",
        "agent",
        "live agent pls",
        "let me talk to someone",
        "get me a human",
        "I need a human",
        "is there a human I can talk to?",
        "I'd like to speak with customer service",
        "can't you just get me a real person?",
        "why won't you transfer me to a human",
        "I don't want a bot, I want a human",
        "I don't want a bot I want a human",
        "I want a human not a bot",
        "No I want a human",
        "this is useless. talk to a supervisor",
        "i wanna talk to humna",
        "give me an agnet",
        "connect me with a reprsentative",
        "speak to a persn please",
        "human being please",
        "I don't want AI, give me a human",
    ],
    "hi": [
        "मुझे किसी इंसान से बात करनी है",
        "एजेंट से बात कराओ",
        "किसी व्यक्ति से बात करवाइए",
        "असली इंसान चाहिए",
        "ग्राहक सेवा से जोड़ो",
        "एजेंट",
    ],
    "hinglish": [
        "insaan se baat karni hai",
        "kisi agent se baat karao",
        "mujhe kisi insan se baat karwa do please",
        "human se baat karwao",
        "customer care se baat karao",
        "agent chahiye",
        "real person chahiye bhai",
        "kisi se baat karao",
        "bot se baat nahi karni, insaan chahiye",
        "manager ko bulao",
        "Agent se connect karo",
    ],
    "es": [
        "Quiero hablar con un humano",
        "¿Puedo hablar con una persona real?",
        "pásame con un asesor por favor",
        "necesito un agente",
        "humano por favor",
        "comuníqueme con un representante",
        "no quiero un robot, quiero una persona",
    ],
    "pt": [
        "quero falar com um atendente",
        "Preciso falar com um humano",
        "atendimento humano, por favor",
        "me transfere para um atendente",
        "gostaria de falar com uma pessoa",
    ],
    "fr": [
        "Je veux parler à un humain",
        "je voudrais parler à un conseiller",
        "un conseiller svp",
        "Pouvez-vous me transférer à un agent ?",
        "j'aimerais parler à une vraie personne",
        "j'ai besoin d'un agent",
    ],
    "de": [
        "Ich möchte mit einem Menschen sprechen",
        "Verbinden Sie mich bitte mit einem Mitarbeiter",
        "Mitarbeiter bitte",
        "Kann ich mit einem echten Menschen reden?",
        "ich brauche einen Berater",
    ],
    "id": [
        "saya mau bicara dengan manusia",
        "tolong sambungkan ke cs",
        "mau ngomong sama admin dong",
        "bisa hubungkan saya dengan petugas?",
        "saya ingin berbicara dengan agen",
    ],
    "ar": [
        "أريد التحدث مع موظف",
        "ممكن اكلم حد من خدمة العملاء",
        "حولني لموظف",
        "عايز اكلم انسان",
        "ما بدي روبوت بدي موظف",
        "موظف لو سمحت",
    ],
}

DOES_NOT_ASK = {
    "en": [
        "I don't need a human",
        "are you a human?",
        "Are you a real person or a bot?",
        "is this a bot?",
        "am I talking to a human?",
        "human resources",
        "I work in human resources, can you help with my order",
        "no agent needed",
        "No human please, just tell me the status",
        "the agent was rude yesterday",
        "I talked to an agent yesterday and he said 3 days",
        "I'm a travel agent",
        "price per person",
        "pick it up in person",
        "is it human error?",
        "I want my stuff",
        "I need my personal data deleted",
        "don't transfer me to an agent",
        "where is my order",
        "hello",
        "you sound human",
        "human or bot?",
        "please tell the delivery agent to ring the bell",
        "I'm not asking for a human",
    ],
    "hi": ["मुझे एजेंट नहीं चाहिए", "क्या आप इंसान हैं?", "क्या मैं किसी इंसान से बात कर रहा हूँ?", "मेरा ऑर्डर कहाँ है"],
    "hinglish": [
        "mujhe agent nahi chahiye",
        "kya aap insaan ho?",
        "aap bot ho kya",
        "insaan se baat mat karao",
        "kya main insaan se baat kar raha hu?",
        "mera order kab aayega",
    ],
    "es": ["no necesito un agente", "¿eres humano?", "recursos humanos", "son 20 euros por persona", "¿estoy hablando con un humano?"],
    "pt": ["não preciso de atendente", "você é humano?", "recursos humanos", "é um robô?", "não quero falar com atendente"],
    "fr": ["je n'ai pas besoin d'un agent", "êtes-vous humain ?", "ressources humaines", "personne ne répond", "c'est par personne"],
    "de": ["ich brauche keinen Mitarbeiter", "bist du ein Mensch?", "Spreche ich mit einem Menschen?", "zehn Euro pro Person"],
    "id": ["saya tidak butuh agen", "apakah kamu manusia?", "sumber daya manusia", "orang tua saya mau pesan", "kamu robot ya?"],
    "ar": ["لا أريد التحدث مع موظف", "هل أنت إنسان؟", "الموارد البشرية", "أنت روبوت؟"],
}


@pytest.mark.parametrize("text", [t for texts in ASKS.values() for t in texts])
def test_a_request_for_a_person_is_recognised(text):
    assert asks_for_human(text), text


@pytest.mark.parametrize("text", [t for texts in DOES_NOT_ASK.values() for t in texts])
def test_a_mention_that_is_not_a_request_is_left_alone(text):
    assert not asks_for_human(text), text


def test_every_language_has_cases_both_ways():
    for language in ("en", "hi", "hinglish", "es", "pt", "fr", "de", "id", "ar"):
        assert len(ASKS[language]) >= 5, language
        assert DOES_NOT_ASK[language], language


def test_empty_and_odd_input_is_not_a_request():
    for text in ("", "   ", "?!", "🙂🙂", "a" * 10_000, "\x00\u200b", "ﷺ", "ـــ"):
        assert asks_for_human(text) is False, repr(text)
        assert detect_trigger(text, SETTINGS) is None, repr(text)
    # A request buried after 2,000 characters of pasted text is not read (nor is the text scanned whole).
    assert asks_for_human("order details " * 200 + "talk to a human") is False
    assert asks_for_human("talk to a human " + "order details " * 200) is True


SETTINGS = HandoffSettings(
    keywords=["lawyer", "Chargeback", "data breach", "रिफंड"],
    human_only_topics=[
        HumanOnlyTopic(name="legal", phrases=["lawsuit", "court", "sue you"]),
        HumanOnlyTopic(name="medical", phrases=["allergic reaction"]),
    ],
)


def test_the_customer_asking_comes_first_with_a_readable_reason():
    trigger = detect_trigger("I want a human, my lawyer says so", SETTINGS)
    assert (trigger.kind, trigger.reason) == (CUSTOMER_ASKED, "customer asked for a person")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("My LAWYER will call you", "keyword 'lawyer'"),
        ("talk to my lawyers", "keyword 'lawyer'"),
        ("I'll file a chargeback!", "keyword 'Chargeback'"),
        ("was there a data  breach?", "keyword 'data breach'"),
        ("मुझे रिफंड चाहिए", "keyword 'रिफंड'"),
    ],
)
def test_a_tenant_keyword_hands_over(text, reason):
    trigger = detect_trigger(text, SETTINGS)
    assert trigger is not None and (trigger.kind, trigger.reason) == (KEYWORD, reason)


def test_a_human_only_topic_hands_over_naming_the_topic():
    trigger = detect_trigger("I will take you to court over this", SETTINGS)
    assert (trigger.kind, trigger.reason) == (HUMAN_ONLY_TOPIC, "topic 'legal' is handled by people")
    medical = detect_trigger("I had an allergic reaction to the cream", SETTINGS)
    assert medical.reason == "topic 'medical' is handled by people"


def test_keywords_match_whole_words_only():
    assert detect_trigger("the courtyard delivery", SETTINGS) is None  # not "court"
    assert detect_trigger("where is my parcel?", SETTINGS) is None
    assert detect_trigger("lawyering", SETTINGS) is None
    assert detect_trigger("anything", HandoffSettings()) is None


def test_low_confidence_hands_over_after_n_turns_in_a_row():
    settings = HandoffSettings(low_confidence_turns=3)
    counters = HandoffCounters()
    for _ in range(2):
        counters, trigger = after_turn(counters, 0.2, 0.5, 0, 0, settings)
        assert trigger is None
    counters, trigger = after_turn(counters, None, 0.5, 0, 0, settings)  # not measured: no change
    assert trigger is None and counters.low_confidence == 2
    counters, trigger = after_turn(counters, 0.49, 0.5, 0, 0, settings)
    assert trigger.kind == LOW_CONFIDENCE and trigger.reason == "3 answers in a row with confidence below 0.5"
    assert counters.low_confidence == 0  # one streak hands over once


def test_a_confident_turn_breaks_the_low_confidence_streak():
    settings = HandoffSettings(low_confidence_turns=2)
    counters, _ = after_turn(HandoffCounters(), 0.1, 0.5, 0, 0, settings)
    counters, trigger = after_turn(counters, 0.5, 0.5, 0, 0, settings)  # at the threshold is confident enough
    assert trigger is None and counters.low_confidence == 0
    counters, trigger = after_turn(counters, 0.1, 0.5, 0, 0, settings)
    assert trigger is None


def test_failed_tool_calls_hand_over_across_turns_and_a_success_resets():
    settings = HandoffSettings(tool_failure_streak=3)
    counters, trigger = after_turn(HandoffCounters(), 0.9, 0.5, 2, 0, settings)
    assert trigger is None and counters.tool_failures == 2
    counters, trigger = after_turn(counters, 0.9, 0.5, 1, 1, settings)  # a success in the turn: tools work
    assert trigger is None and counters.tool_failures == 0
    counters, _ = after_turn(counters, 0.9, 0.5, 1, 0, settings)
    counters, trigger = after_turn(counters, 0.9, 0.5, 2, 0, settings)
    assert trigger.kind == TOOL_FAILURES and trigger.reason == "3 tool calls failed in a row"
    assert counters.tool_failures == 0


def test_after_turn_is_pure():
    settings = HandoffSettings(low_confidence_turns=1)
    start = HandoffCounters(low_confidence=0, tool_failures=1)
    first = after_turn(start, 0.1, 0.5, 0, 0, settings)
    assert first == after_turn(start, 0.1, 0.5, 0, 0, settings)
    assert start == HandoffCounters(low_confidence=0, tool_failures=1)  # the input is not changed


def test_budget_exhausted_is_its_own_kind():
    trigger = budget_exhausted()
    assert trigger.kind == BUDGET_EXHAUSTED == "budget_exhausted" and trigger.reason


def test_settings_from_a_profile_row():
    class Row:
        id = "p1"
        handoff_keywords = ["lawyer"]
        human_only_topics = [{"name": "legal", "phrases": ["court"]}]
        low_confidence_turns = 4
        tool_failure_streak = 2
        allowed_tools = ["track_order"]
        max_tool_rounds = 3
        confidence_threshold = 0.6
        default_tier = "fast"
        fallback_tier = None
        proactive_suggestions = True
        spelling_correction = False
        rich_messages = True
        voice_replies = False

    settings = AgentSettings.from_profile(Row())
    assert settings.handoff == HandoffSettings(["lawyer"], [HumanOnlyTopic("legal", ["court"])], 4, 2)
    assert (settings.allowed_tools, settings.max_tool_rounds, settings.confidence_threshold) == (["track_order"], 3, 0.6)
    assert (settings.default_tier, settings.proactive_suggestions, settings.spelling_correction) == ("fast", True, False)
