"""Next steps offered to the customer from their orders and tickets, once each."""

from __future__ import annotations

from types import SimpleNamespace

from agent.suggestions import suggest, suggestions_text


def _order(number, status="open", fulfillment=None):
    return SimpleNamespace(number=number, status=status, fulfillment_status=fulfillment)


def test_open_and_fulfilled_orders_suggest_tracking_and_returns():
    found = suggest([_order("#1002", fulfillment="fulfilled"), _order("#1001")], [], already=set())
    assert [(s.key, s.title) for s in found] == [("track:#1002", "Track order #1002"), ("return:#1002", "Return from #1002")]


def test_cancelled_orders_and_what_was_offered_before_are_skipped():
    orders = [_order("#9", status="cancelled"), _order("#1001")]
    assert [s.key for s in suggest(orders, [], already=set())] == ["track:#1001"]
    assert suggest(orders, [], already={"track:#1001"}) == []


def test_an_open_ticket_and_short_button_titles():
    ticket = SimpleNamespace(id="t1", subject="Broken zip")
    found = suggest([_order("#100200300400")], [ticket], already=set(), max_title_chars=16)
    # No wording of "track #100200300400" fits a 16-character button; the ticket's short one does.
    assert [(s.key, s.title) for s in found] == [("ticket:t1", "Ticket update")]


def test_the_model_is_told_how_they_are_shown():
    found = suggest([_order("#1001")], [], already=set())
    assert "Buttons under your reply" in suggestions_text(found, as_buttons=True)
    assert "end your reply by offering" in suggestions_text(found, as_buttons=False)
