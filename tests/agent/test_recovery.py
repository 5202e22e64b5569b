"""Which question a customer means by "you didn't answer", and the questions of one message."""

from __future__ import annotations

import pytest

from agent.context import Turn
from agent.recovery import is_nudge, questions_in, turn_guidance, unanswered_question


@pytest.mark.parametrize(
    "text",
    [
        "you didn't answer my question",
        "You did not reply!!",
        "did you forget?",
        "and my other question?",
        "Still no answer...",
        "aapne jawab nahi diya",
        "mere sawal ka jawab?",
        "आपने जवाब नहीं दिया",
        "no me respondiste",
        "Você esqueceu?",
        "vous n'avez pas répondu",
        "Sie haben nicht geantwortet",
    ],
)
def test_nudges_in_each_language(text):
    assert is_nudge(text)


@pytest.mark.parametrize(
    "text", ["my question is about shipping", "thanks, that answers it", "Where is my order?", "I forgot my password", "answer"]
)
def test_ordinary_messages_are_not_nudges(text):
    assert not is_nudge(text)


def test_questions_are_found_with_or_without_question_marks():
    text = "Hi. Where is my order #1001? Also can I change the address. mera refund kab aayega. I love the shoes."
    assert questions_in(text) == ["Where is my order #1001?", "Also can I change the address.", "mera refund kab aayega."]


def _turns(*pairs: tuple[str, str]) -> list[Turn]:
    return [Turn(seq=n, role=role, text=text) for n, (role, text) in enumerate(pairs, start=1)]


def test_the_question_no_reply_took_up_is_the_unanswered_one():
    turns = _turns(
        ("user", "Where is order #1001? And do you ship to Canada?"),
        ("assistant", "Order #1001 left our warehouse yesterday and arrives on Friday."),
        ("user", "you didn't answer my other question"),
    )
    assert unanswered_question(turns, current_start=2) == "And do you ship to Canada?"


def test_when_every_question_looks_answered_the_newest_is_taken():
    turns = _turns(
        ("user", "Do you ship to Canada?"),
        ("assistant", "Yes, we ship to Canada."),
        ("user", "Do you sell gift cards?"),
        ("assistant", "Yes, gift cards are sold online."),
        ("user", "did you forget?"),
    )
    assert unanswered_question(turns, current_start=4) == "Do you sell gift cards?"


def test_without_any_question_the_last_request_is_taken():
    turns = _turns(("user", "I want to change my delivery address"), ("assistant", "Sure."), ("user", "you didn't reply"))
    assert unanswered_question(turns, current_start=2) == "I want to change my delivery address"
    assert unanswered_question(turns[2:], current_start=0) is None


def test_guidance_names_the_missed_question_or_each_question_asked():
    missed = _turns(("user", "Can I pay by card?"), ("assistant", "Hello!"), ("user", "you didn't answer"))
    assert '"Can I pay by card?"' in turn_guidance(missed, 2)
    several = _turns(("user", "Is it in stock?"), ("user", "how long does delivery take?"))
    assert "asked 2 things" in turn_guidance(several, 0)
    assert turn_guidance(_turns(("user", "thanks!")), 0) == ""
