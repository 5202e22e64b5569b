"""What retrieval will see: chunks that fit the embedder, stay under their heading and keep
lists, tables and FAQ pairs readable."""

from __future__ import annotations

import pytest

from rag.chunking import chunk_document
from rag.documents import ExtractedDocument, Section
from rag.loaders import extract_document
from rag.tokens import count_tokens
from tests.rag import fixtures


def numbered_sentences(topic: str, count: int) -> list[str]:
    return [f"{topic} rule {index} says customers get answer {index} within one working day." for index in range(count)]


def document(*sections: Section, format_name: str = "markdown") -> ExtractedDocument:
    return ExtractedDocument(list(sections), None, None, format_name)


def test_token_counts_are_the_embedders_and_add_up():
    sentence = "Refunds take five working days."
    assert count_tokens("") == 0
    assert count_tokens(sentence) > 0
    assert count_tokens(f"{sentence} {sentence}") == 2 * count_tokens(sentence)
    assert count_tokens("आपका ऑर्डर कल भेजा जाएगा।") > 0


def test_no_chunk_crosses_a_heading_and_each_keeps_its_title():
    returns = " ".join(numbered_sentences("Returns", 30))
    shipping = " ".join(numbered_sentences("Shipping", 30))
    chunks = chunk_document(
        document(Section(returns, "Returns", None, "prose"), Section(shipping, "Shipping", None, "prose")), max_tokens=120
    )

    assert {chunk.section_title for chunk in chunks} == {"Returns", "Shipping"}
    for chunk in chunks:
        other = "Shipping" if chunk.section_title == "Returns" else "Returns"
        assert chunk.section_title in chunk.text and other not in chunk.text
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))


def test_consecutive_chunks_of_a_section_overlap_and_none_exceeds_the_budget():
    sentences = numbered_sentences("Warranty", 40)
    chunks = chunk_document(document(Section(" ".join(sentences), "Warranty", None, "prose")), max_tokens=100, overlap_tokens=30)

    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.token_count == count_tokens(chunk.text) <= 100
    for previous, following in zip(chunks, chunks[1:], strict=False):
        last_sentence = next(sentence for sentence in reversed(sentences) if sentence in previous.text)
        first_sentence = next(sentence for sentence in sentences if following.text.startswith(sentence))
        assert last_sentence in following.text  # the fact at the cut is whole on both sides
        assert first_sentence in previous.text
    covered = " ".join(chunk.text for chunk in chunks)
    assert all(sentence in covered for sentence in sentences)


def test_chunks_prefer_to_end_between_paragraphs():
    first, second = numbered_sentences("Billing", 5), numbered_sentences("Invoices", 5)
    text = " ".join(first) + "\n\n" + " ".join(second)
    chunks = chunk_document(document(Section(text, "Billing", None, "prose")), max_tokens=120, overlap_tokens=0)
    assert chunks[0].text == " ".join(first)


def test_text_without_breaks_still_fits_the_budget():
    url = "https://example.com/track?" + "a1b2c3" * 600
    words = " ".join(["refund"] * 400)  # one "sentence", no punctuation
    chunks = chunk_document(
        document(Section(url, "Link", None, "prose"), Section(words, "Words", None, "prose")), max_tokens=64, overlap_tokens=0
    )

    assert all(0 < chunk.token_count <= 64 for chunk in chunks)
    assert "".join(chunk.text for chunk in chunks if chunk.section_title == "Link") == url
    assert " ".join(chunk.text for chunk in chunks if chunk.section_title == "Words") == words


def test_a_list_that_fits_stays_whole_and_a_long_one_splits_between_items():
    short_list = "\n".join(f"- Step {index}: scan the parcel label" for index in range(4))
    items = [f"- Item {index}: bring the invoice, the original box and charger number {index}" for index in range(30)]
    chunks = chunk_document(
        document(Section(short_list, "Drop-off", None, "list"), Section("\n".join(items), "Checklist", None, "list")),
        max_tokens=100,
    )

    drop_off = [chunk for chunk in chunks if chunk.section_title == "Drop-off"]
    assert [chunk.text for chunk in drop_off] == [short_list]
    checklist = [chunk for chunk in chunks if chunk.section_title == "Checklist"]
    assert len(checklist) > 1
    assert [line for chunk in checklist for line in chunk.text.splitlines()] == items  # whole items, none repeated


def test_only_an_item_too_long_for_a_chunk_is_cut_and_then_between_its_sentences():
    long_item = "- " + " ".join(numbered_sentences("Warranty", 12))
    items = ["- Short item one", long_item, "- Short item two"]
    chunks = chunk_document(document(Section("\n".join(items), "Warranty", None, "list")), max_tokens=80, overlap_tokens=10)

    texts = [chunk.text for chunk in chunks]
    assert "- Short item one" in texts[0] and "- Short item two" in texts[-1]
    assert all(chunk.token_count <= 80 for chunk in chunks)
    assert all(text.endswith(("day.", "- Short item two")) for text in texts)  # cuts fall after sentences


def test_an_faq_pair_is_one_chunk_and_a_long_answer_repeats_its_question():
    short = Section("Q: Can I pay by UPI?\nA: Yes, on every order.", "Can I pay by UPI?", None, "faq")
    long_answer = " ".join(numbered_sentences("Refund", 30))
    long = Section(f"Q: How do refunds work?\nA: {long_answer}", "How do refunds work?", None, "faq")
    chunks = chunk_document(document(short, long, format_name="csv_faq"), max_tokens=120)

    assert chunks[0].text == short.text
    long_chunks = chunks[1:]
    assert len(long_chunks) > 1
    assert all(chunk.text.startswith("Q: How do refunds work?\n") for chunk in long_chunks)
    assert all(chunk.token_count <= 120 for chunk in long_chunks)
    answered = " ".join(chunk.text for chunk in long_chunks)
    assert all(sentence in answered for sentence in numbered_sentences("Refund", 30))


def test_a_split_table_repeats_its_header_row():
    rows = [f"Region {index} | {index * 10} EUR standard delivery" for index in range(40)]
    chunks = chunk_document(document(Section("Zone | Fee\n" + "\n".join(rows), "Fees", None, "table")), max_tokens=100)
    assert len(chunks) > 1
    assert all(chunk.text.startswith("Zone | Fee\n") for chunk in chunks)


def test_tiny_sections_join_the_next_one_under_the_same_heading_only():
    chunks = chunk_document(
        document(
            Section("We accept:", "Payments", None, "prose"),
            Section("- Cards\n- UPI", "Payments", None, "list"),
            Section("Ships daily.", "Shipping", None, "prose"),
        )
    )
    assert [(chunk.section_title, chunk.text) for chunk in chunks] == [
        ("Payments", "We accept:\n\n- Cards\n- UPI"),
        ("Shipping", "Ships daily."),
    ]


def test_each_pdf_chunk_carries_the_page_its_text_starts_on():
    pages = [numbered_sentences(f"Page{number}", 12) for number in (1, 2, 3)]
    extracted = extract_document("manual.pdf", None, fixtures.pdf_document(pages))
    chunks = chunk_document(extracted, max_tokens=100, overlap_tokens=0)

    assert {chunk.page for chunk in chunks} == {1, 2, 3}
    for chunk in chunks:
        assert chunk.text.startswith(f"Page{chunk.page} rule")


def test_hindi_text_is_split_at_the_danda():
    sentences = [f"आपका ऑर्डर संख्या {index} कल भेजा जाएगा और डिलीवरी में तीन दिन लगते हैं।" for index in range(30)]
    chunks = chunk_document(document(Section(" ".join(sentences), "डिलीवरी", None, "prose")), max_tokens=80, overlap_tokens=20)

    assert len(chunks) > 3
    assert all(chunk.text.endswith("।") and chunk.token_count <= 80 for chunk in chunks)
    assert all(any(chunk.text.startswith(sentence) for sentence in sentences) for chunk in chunks)


def test_every_fixture_chunks_within_budget_and_the_same_way_twice():
    uploads = [
        ("policy.pdf", fixtures.pdf_document([numbered_sentences("Policy", 20)] * 2)),
        ("handbook.docx", fixtures.docx_document()),
        ("help.html", fixtures.HTML_PAGE.encode()),
        ("help.md", fixtures.MARKDOWN_PAGE.encode()),
        ("namaste.txt", fixtures.HINDI_TEXT.encode()),
        ("faq.csv", fixtures.faq_csv(",")),
        ("faq.json", fixtures.FAQ_JSON.encode()),
    ]
    for filename, data in uploads:
        first = chunk_document(extract_document(filename, None, data), max_tokens=64, overlap_tokens=16)
        again = chunk_document(extract_document(filename, None, data), max_tokens=64, overlap_tokens=16)
        assert first == again, filename
        assert first and all(chunk.text == chunk.text.strip() and 0 < chunk.token_count <= 64 for chunk in first), filename


@pytest.mark.parametrize(("max_tokens", "overlap_tokens"), [(8, 0), (100, 51), (100, -1)])
def test_budgets_that_cannot_make_progress_are_refused(max_tokens, overlap_tokens):
    with pytest.raises(ValueError):
        chunk_document(document(Section("text", None, None, "prose")), max_tokens=max_tokens, overlap_tokens=overlap_tokens)
