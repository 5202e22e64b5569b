"""The rolling summary: what the model is asked, how its answer is read (sloppy ones included),
when a refresh is due, and the key facts kept across turns."""

from __future__ import annotations

import json

from agent.context import Turn
from agent.memory import extract_facts, facts_text, merge_facts
from agent.summary import needs_summary, parse_summary, summary_request

MESSAGES = [
    Turn(11, "user", "mera order #1042 kab aayega?"),
    Turn(15, "assistant", "Aapka order kal tak aa jayega."),
    Turn(19, "user", "aur mujhe address change karna hai"),
]


def test_the_request_carries_previous_notes_and_new_messages():
    request = summary_request("The customer asked about a refund.", {"name": "Asha"}, MESSAGES)
    system, user = request.messages
    assert system.role == "system" and "JSON" in system.content and "last_topic" in system.content
    assert "The customer asked about a refund." in user.content and '"name": "Asha"' in user.content
    assert "Customer: mera order #1042 kab aayega?" in user.content
    assert "Assistant: Aapka order kal tak aa jayega." in user.content
    assert request.temperature == 0.0 and request.max_tokens >= 200
    first = summary_request(None, {}, MESSAGES).messages[1].content
    assert "(none yet)" in first


def test_a_long_message_is_cut_in_the_request():
    request = summary_request(None, {}, [Turn(1, "user", "x" * 10_000)])
    assert len(request.messages[1].content) < 2_000


ANSWER = {
    "summary": "The customer asked when order #1042 arrives and wants to change the address.",
    "key_facts": {"order_numbers": ["#1042"], "preferred_language": "Hinglish", "open_question": "address change"},
    "last_topic": "address change for order #1042",
}


def test_a_clean_answer_is_read_whole():
    summary, facts, topic = parse_summary(json.dumps(ANSWER))
    assert summary == ANSWER["summary"]
    assert facts == ANSWER["key_facts"]
    assert topic == "address change for order #1042"


def test_sloppy_answers_still_give_the_notes():
    fenced = "Here are the notes:\n```json\n" + json.dumps(ANSWER, indent=2) + "\n```\nLet me know if you need more."
    trailing = json.dumps(ANSWER) + "\n\nI hope this helps! {not json}"
    trailing_comma = json.dumps(ANSWER)[:-1] + ",}"
    python_style = repr(ANSWER | {"key_facts": {**ANSWER["key_facts"], "open_question": None}})
    for answer in (fenced, trailing, trailing_comma, python_style):
        summary, facts, topic = parse_summary(answer)
        assert summary == ANSWER["summary"], answer
        assert facts["order_numbers"] == ["#1042"] and topic == ANSWER["last_topic"], answer
    # An answered question is marked so, for the merge with the stored facts to clear it.
    assert parse_summary(python_style)[1]["open_question"] is None


def test_missing_fields_fall_back_to_the_text():
    assert parse_summary("The customer wants order #1042 delivered to a new address.") == (
        "The customer wants order #1042 delivered to a new address.",
        {},
        None,
    )
    summary, facts, topic = parse_summary('{"summary": "Asked about #1042."}')
    assert (summary, facts, topic) == ("Asked about #1042.", {}, None)
    summary, facts, _ = parse_summary('Customer asked about #1042. {"key_facts": {"name": "Asha"}}')
    assert summary == "Customer asked about #1042." and facts == {"name": "Asha"}
    assert parse_summary("") == ("", {}, None)
    assert parse_summary("```\nJust text in a fence\n```")[0] == "Just text in a fence"


def test_a_refresh_is_due_once_enough_unsummarised_messages_left_the_window():
    out = [101, 130, 131, 180, 181, 190]
    assert needs_summary(out, None)
    assert not needs_summary(out[:5], None)
    # Messages already in the summary do not count again.
    assert not needs_summary(out, 130)
    assert needs_summary(out, 130, min_new=4)
    assert not needs_summary([], 0)
    # Older messages than those loaded, beyond the summary's reach: due whatever was counted.
    assert needs_summary([], 50, earlier_seq=90)
    assert not needs_summary([], 90, earlier_seq=90)


def test_order_numbers_and_contacts_are_picked_out_of_the_customers_words():
    facts = extract_facts(
        [
            "mera order #1042 kab aayega",
            "order no. A-7781 bhi check karo, and order status please",
            "mail me at Asha.Rao@Example.com or call +91 98765 43210",
            "ऑर्डर 55012 कहाँ है",
        ]
    )
    assert facts == {"order_numbers": ["#1042", "A-7781", "55012"], "email": "asha.rao@example.com", "phone": "+919876543210"}
    assert extract_facts(["where is my order?", "ok thanks"]) == {}


def test_merged_facts_never_lose_an_order_number():
    old = {"order_numbers": ["#1042"], "name": "Asha", "open_question": "refund?"}
    # A forgetful summariser: no order numbers, an empty name, the question answered.
    new = {"order_numbers": ["#1043"], "name": "", "open_question": None, "preferred_language": "Hindi"}
    merged = merge_facts(old, new)
    assert merged == {"order_numbers": ["#1042", "#1043"], "name": "Asha", "preferred_language": "Hindi"}
    assert merge_facts(merged, {"order_numbers": ["#1042"]})["order_numbers"] == ["#1043", "#1042"]
    text = facts_text(merged)
    assert text.splitlines() == [
        "- Customer's name: Asha",
        "- Order numbers mentioned: #1042, #1043",
        "- Preferred language: Hindi",
    ]
