"""Fitting the model's context to a token budget: the newest turns and the required sections always
stay, older turns give way to the summary, optional sections leave lowest priority first."""

from __future__ import annotations

from agent.context import (
    TRUNCATED_MARK,
    ContextSection,
    Turn,
    estimate_tokens,
    fit_context,
    message_tokens,
)

PERSONA = ContextSection("persona", "You are Maya, the assistant of Acme Shoes. Answer briefly.", 100, required=True)
SUMMARY = ContextSection("summary", "Summary of the earlier conversation:\nThe customer asked about order #1042.", 90)

# Token counts of real customer messages under OpenAI's cl100k_base and o200k_base vocabularies
# (counted with js-tiktoken 1.0.21): the estimate must never be below either.
MEASURED = [
    ("Hi, where is my order #1042? I placed it last Tuesday and the tracking page still says label created. "
     "Can you check with the courier and tell me when it will arrive?", 38, 38),
    ("Order 10345678 status: shipped, fulfillment partial, total INR 2,499.00. Customer email "
     "rohan.sharma@example.com, phone +919876543210.", 38, 37),
    ("bhai mera order kab aayega? maine pichle hafte order kiya tha aur abhi tak koi update nahi hai, "
     "kya aap check kar sakte ho please", 43, 38),
    ("मेरा ऑर्डर कब आएगा? मैंने पिछले हफ्ते ऑर्डर किया था और अभी तक कोई अपडेट नहीं है, क्या आप चेक कर सकते हैं", 103, 34),
    ("मुझे रिफंड चाहिए, प्रोडक्ट खराब निकला है और साइज़ भी गलत है।", 63, 21),
    ("আমার অর্ডার কোথায়? আমি গত সপ্তাহে অর্ডার করেছিলাম", 59, 18),
    ("أين طلبي؟ لقد طلبته الأسبوع الماضي ولم يصل بعد", 38, 13),
]  # fmt: skip


def _conversation(n: int, words: int = 12) -> list[Turn]:
    """n messages alternating customer/assistant, ending with the customer's; seqs with gaps
    (they are numbered across all conversations)."""
    turns = []
    for i in range(n):
        role = "user" if (n - 1 - i) % 2 == 0 else "assistant"
        turns.append(Turn(seq=1000 + 7 * i, role=role, text=f"message {i}: " + " ".join(["word"] * words)))
    return turns


def test_the_estimate_never_counts_fewer_tokens_than_real_tokenizers():
    for text, cl100k, o200k in MEASURED:
        assert estimate_tokens(text) >= max(cl100k, o200k), text
    # ...and does not waste the budget on English: within twice the real count.
    assert estimate_tokens(MEASURED[0][0]) <= 2 * MEASURED[0][1]


def test_a_long_history_fits_the_budget_keeping_the_newest_turns():
    history = _conversation(200)
    fitted = fit_context([PERSONA], history, budget_tokens=1000, reserve_for_reply=300, summary=SUMMARY)

    assert fitted.tokens <= 700
    turns = fitted.messages[1:]
    kept = history[-len(turns) :]
    # A contiguous run back from the newest message, which is the customer's.
    assert [(m.role, m.content) for m in turns] == [(t.role, t.text) for t in kept]
    assert turns[-1].role == "user" and turns[-1].content == history[-1].text
    assert 10 < len(turns) < 200
    # The model learns what was said before from the summary instead.
    system = fitted.messages[0]
    assert system.role == "system" and PERSONA.text in system.content and "order #1042" in system.content
    assert fitted.summarised_through_seq == history[-len(turns) - 1].seq
    assert f"{200 - len(turns)} older messages" in fitted.dropped


def test_the_summary_is_left_out_when_every_turn_fits():
    history = _conversation(6)
    fitted = fit_context([PERSONA], history, budget_tokens=3000, summary=SUMMARY)
    assert "order #1042" not in fitted.messages[0].content
    assert len(fitted.messages) == 7 and fitted.summarised_through_seq is None and fitted.dropped == []
    # ...unless the caller loaded only part of a longer conversation.
    partial = fit_context([PERSONA], history, budget_tokens=3000, summary=SUMMARY, history_complete=False)
    assert "order #1042" in partial.messages[0].content and len(partial.messages) == 7


def test_the_required_sections_and_the_customers_current_messages_always_stay():
    burst = [
        Turn(1, "user", "hello"),
        Turn(2, "assistant", "Hi! How can I help?"),
        Turn(3, "user", "my order #1042 has not arrived"),
        Turn(4, "user", "also I want to change my address"),
    ]
    language = ContextSection("language", "Reply in English.", 100, required=True)
    knowledge = ContextSection("knowledge", "Deliveries take 5-7 days.", 70)
    fitted = fit_context([PERSONA, knowledge, language], burst, budget_tokens=40, reserve_for_reply=10)

    system = fitted.messages[0].content
    assert PERSONA.text in system and "Reply in English." in system and "5-7 days" not in system
    # Both messages of the burst are answered together; the older exchange did not fit.
    assert [m.content for m in fitted.messages[1:]] == [burst[2].text, burst[3].text]
    assert fitted.dropped == ["knowledge", "2 older messages"]
    assert fitted.summarised_through_seq == 2


def test_optional_sections_leave_lowest_priority_first():
    def section(name: str, priority: int) -> ContextSection:
        return ContextSection(name, f"{name}:\n" + "\n".join(f"- {name} line {i} " + "x" * 20 for i in range(8)), priority)

    # Same-length names: every section costs the same.
    orders, people, places = section("orders", 60), section("people", 50), section("places", 40)
    history = [Turn(1, "user", "where is my order?")]
    # The persona, the customer's message, and the system message's markers.
    base = message_tokens(PERSONA.text) + 2 + message_tokens(history[0].text)
    each = estimate_tokens(orders.text) + 2
    assert each == estimate_tokens(people.text) + 2 == estimate_tokens(places.text) + 2

    everything = fit_context([PERSONA, orders, people, places], history, budget_tokens=base + 3 * each)
    assert everything.dropped == [] and everything.tokens <= base + 3 * each

    two = fit_context([PERSONA, places, people, orders], history, budget_tokens=base + 2 * each)
    assert two.dropped == ["places"]
    # The system message keeps the caller's order, not the priority order.
    content = two.messages[0].content
    assert "places:" not in content and content.index("people:") < content.index("orders:")

    squeezed = fit_context([PERSONA, orders, people, places], history, budget_tokens=base + each + each // 2)
    assert squeezed.dropped == ["people (truncated)", "places"]
    kept = squeezed.messages[0].content.split("people:\n", 1)[1]
    lines = kept.split("\n")
    # Cut between lines, never inside one, and marked as cut.
    assert lines[-1] == TRUNCATED_MARK and 1 <= len(lines) - 1 < 8
    assert all(line.startswith("- people line ") and line.endswith("x" * 20) for line in lines[:-1])
    assert squeezed.tokens <= base + each + each // 2


def test_older_turns_give_way_to_knowledge_but_recent_ones_do_not():
    history = _conversation(20, words=20)
    knowledge = ContextSection("knowledge", "Refunds: " + "policy text " * 30, 70)
    without = fit_context([PERSONA], history, budget_tokens=700)
    fitted = fit_context([PERSONA, knowledge], history, budget_tokens=700)
    assert fitted.dropped == [f"{20 - fitted.kept_turns} older messages"]
    assert "Refunds:" in fitted.messages[0].content and fitted.tokens <= 700
    # The knowledge took the room of older turns, never of the last six.
    assert 6 <= fitted.kept_turns < without.kept_turns < 20

    # With a budget that cannot hold both, the recent turns win.
    tight = fit_context([PERSONA, knowledge], history, budget_tokens=400)
    assert tight.kept_turns >= 6 and ("knowledge" in tight.dropped or "knowledge (truncated)" in tight.dropped)


def test_the_same_input_gives_the_same_context():
    history = _conversation(120)
    sections = [PERSONA, ContextSection("orders", "#1 open\n#2 closed", 60), ContextSection("channel", "WhatsApp", 40)]
    first = fit_context(sections, history, 600, 100, summary=SUMMARY)
    second = fit_context(sections, history, 600, 100, summary=SUMMARY)
    assert first == second
