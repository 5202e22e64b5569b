"""Every upload format an admin may send, and every way an upload can be refused."""

from __future__ import annotations

import io
import unicodedata
import zipfile

import pytest

from rag.cleaning import drop_repeated_page_lines, join_hyphenated_line_breaks, normalize_text
from rag.documents import DocumentRejected
from rag.loaders import MAX_UPLOAD_BYTES, extract_document
from tests.rag import fixtures


def rejection(filename: str, data: bytes, content_type: str | None = None) -> DocumentRejected:
    with pytest.raises(DocumentRejected) as caught:
        extract_document(filename, content_type, data)
    return caught.value


POLICY_PAGES = [
    [
        "ACME Returns Policy",
        "Refunds go back to the original payment method within seven",
        "days of our custo-",
        "mer service approving them.",
        "Page 1 of 3",
    ],
    ["ACME Returns Policy", "Shipping is free for orders above 500 INR.", "Page 2 of 3"],
    ["ACME Returns Policy", "Bring the receipt to any store.", "Page 3 of 3"],
]


def test_pdf_text_comes_per_page_without_running_headers_and_with_broken_words_joined():
    document = extract_document("policy.pdf", "application/pdf", fixtures.pdf_document(POLICY_PAGES, title="Returns"))

    assert (document.format, document.page_count, document.title) == ("pdf", 3, "Returns")
    assert [section.page for section in document.sections] == [1, 2, 3]
    first_page = document.sections[0].text
    assert "customer service" in first_page
    assert "seven days" in first_page  # the printed line wrap is gone too
    every_text = " ".join(section.text for section in document.sections)
    assert "ACME Returns Policy" not in every_text
    assert "Page 2 of 3" not in every_text


def test_a_pdf_renamed_to_txt_is_still_read_as_a_pdf():
    document = extract_document("policy.txt", "text/plain", fixtures.pdf_document(POLICY_PAGES))
    assert document.format == "pdf"
    assert "Bring the receipt" in document.sections[-1].text


@pytest.mark.parametrize("algorithm", ["AES-256", "RC4-128"])
def test_a_password_protected_pdf_is_refused_as_encrypted(algorithm):
    protected = fixtures.encrypted_pdf(fixtures.pdf_document(POLICY_PAGES), user_password="s3cret", algorithm=algorithm)
    refused = rejection("policy.pdf", protected)
    assert refused.code == "encrypted"
    assert "password" in refused.reason


def test_a_pdf_with_only_an_owner_password_opens():
    restricted = fixtures.encrypted_pdf(fixtures.pdf_document(POLICY_PAGES), user_password="")
    document = extract_document("policy.pdf", None, restricted)
    assert "Shipping is free" in document.sections[1].text


def test_a_truncated_pdf_is_refused_as_corrupt():
    whole = fixtures.pdf_document(POLICY_PAGES)
    assert rejection("policy.pdf", whole[: len(whole) // 2]).code == "corrupt"


def test_a_scanned_pdf_is_refused_for_having_no_text_layer():
    refused = rejection("scan.pdf", fixtures.scanned_pdf())
    assert refused.code == "empty"
    assert "no text layer" in refused.reason


def test_a_text_file_named_pdf_is_refused_as_not_a_pdf():
    refused = rejection("policy.pdf", b"Just some notes, not a PDF at all.")
    assert refused.code == "corrupt"
    assert "not a PDF" in refused.reason


def test_docx_headings_become_section_titles_and_lists_and_tables_keep_their_shape():
    document = extract_document("handbook.docx", None, fixtures.docx_document())

    assert (document.format, document.title) == ("docx", "Customer Handbook")
    by_kind = {section.kind: section for section in document.sections}
    assert by_kind["prose"].title == "Returns"
    assert by_kind["list"].title == "Returns"
    assert by_kind["list"].text.splitlines() == [
        "- Keep the original packaging.",
        "- Include the order number.",
        "1. Print the return label.",
        "2. Drop the parcel at a courier office.",
    ]
    assert by_kind["table"].title == "Shipping fees"
    assert by_kind["table"].text.splitlines() == ["Zone | Fee", "Domestic | Free", "International | 15 EUR"]


def test_a_password_protected_docx_is_refused_as_encrypted():
    refused = rejection("handbook.docx", fixtures.encrypted_docx())
    assert refused.code == "encrypted"


def test_a_docx_that_inflates_past_the_limit_is_refused_before_it_is_unpacked():
    refused = rejection("bomb.docx", fixtures.zip_bomb_docx(201 * 1024 * 1024))
    assert refused.code == "too_large"


def test_a_zip_named_docx_without_a_document_is_refused_as_corrupt():
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("notes.txt", "hello")
    assert rejection("handbook.docx", archive.getvalue()).code == "corrupt"
    assert rejection("bundle.zip", archive.getvalue()).code == "unsupported_type"


def test_html_keeps_the_content_and_drops_scripts_navigation_and_footer():
    document = extract_document("help.html", "text/html", fixtures.HTML_PAGE.encode())

    assert document.title == "Help & Support"
    assert [(section.title, section.kind) for section in document.sections] == [
        ("Delivery", "prose"),
        ("Delivery areas", "list"),
        ("Delivery areas", "prose"),
    ]
    assert document.sections[0].text == "Orders ship within two working days.\nTracking links arrive by e-mail."
    assert document.sections[1].text == "- India – all pin codes\n- Nepal"
    every_text = " ".join(section.text for section in document.sections)
    for noise in ("tracking =", "Login", "All rights reserved", "console.log", "color: red"):
        assert noise not in every_text


def test_markdown_headings_lists_code_and_tables_survive_and_front_matter_does_not():
    document = extract_document("help.md", None, fixtures.MARKDOWN_PAGE.encode())

    assert document.title == "Account help"
    sections = [(section.title, section.kind) for section in document.sections]
    assert sections == [
        ("Account help", "prose"),
        ("Payments", "prose"),
        ("Payments", "list"),
        ("Payments", "prose"),
        ("Payments", "table"),
    ]
    assert document.sections[0].text == "Reset your password from the login page. The link is valid for one hour."
    assert document.sections[2].text.splitlines() == [
        "- Credit cards",
        "- UPI",
        "  - Google Pay",
        "  - PhonePe",
        "- Cash on delivery",
    ]
    assert "# keep   spacing" in document.sections[3].text  # code keeps its spacing
    assert document.sections[4].text == "Plan | Price\nBasic | 99"
    assert all("support-team" not in section.text for section in document.sections)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_hindi_text_survives_every_common_encoding(encoding):
    document = extract_document("namaste.txt", None, fixtures.HINDI_TEXT.encode(encoding))
    assert document.sections[0].text == unicodedata.normalize("NFC", fixtures.HINDI_TEXT)


def test_a_windows_1252_text_file_is_decoded():
    document = extract_document("menu.txt", None, "Café crème – 3 €".encode("cp1252"))
    assert document.sections[0].text == "Café crème – 3 €"


def test_binary_data_named_txt_is_refused():
    assert rejection("data.txt", b"\x00\x01\x02binary\x00\x00" * 50).code == "unsupported_type"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_a_csv_faq_becomes_one_section_per_answered_question(delimiter):
    document = extract_document("faq.csv", "text/csv", fixtures.faq_csv(delimiter))

    assert document.format == "csv_faq"
    assert [section.title for section in document.sections] == ["How do I track my order?", "Can I pay by UPI?"]
    assert all(section.kind == "faq" for section in document.sections)
    assert document.sections[0].text.startswith("Q: How do I track my order?\nA: Use the link in your e-mail, or the app.")
    assert "Shipping" in document.sections[0].text


def test_a_semicolon_csv_with_short_headers_is_read():
    document = extract_document("faq.csv", None, fixtures.FAQ_CSV_SEMICOLON.encode())
    assert document.sections[0].text == "Q: Where is my refund?\nA: Refunds take 5-7 days, after we receive the item."


def test_a_json_faq_is_read_from_a_wrapped_list():
    document = extract_document("faq.json", "application/json", fixtures.FAQ_JSON.encode())
    assert [section.title for section in document.sections] == ["Do you ship abroad?", "Is COD available?"]
    assert document.sections[1].text == "Q: Is COD available?\nA: Yes,\nup to 5000 INR."


def test_faq_files_without_question_and_answer_columns_say_what_they_need():
    refused = rejection("contacts.csv", b"name,email\nAsha,asha@example.com\n")
    assert refused.code == "bad_faq"
    assert "question" in refused.reason and "answer" in refused.reason and "name, email" in refused.reason
    assert rejection("config.json", b'{"theme": "dark"}').code == "bad_faq"
    assert rejection("broken.json", b'[{"question": "x"').code == "corrupt"


@pytest.mark.parametrize("data", [b"", b"   \n\t\n"])
def test_an_empty_upload_is_refused_as_empty(data):
    assert rejection("notes.txt", data).code == "empty"


def test_an_image_is_refused_naming_the_supported_formats():
    refused = rejection("scan.png", fixtures.PNG_HEADER + b"\x00" * 64, "image/png")
    assert refused.code == "unsupported_type"
    assert "image" in refused.reason and "PDF" in refused.reason and "Markdown" in refused.reason


def test_an_upload_over_the_size_cap_is_refused_before_parsing():
    assert rejection("huge.txt", b"a" * (MAX_UPLOAD_BYTES + 1)).code == "too_large"


def test_cleaning_keeps_devanagari_joiners_and_drops_invisible_noise():
    text = "क्\u200dष  ok\u200b\x07\r\nnext\u00a0line\n\n\n\nend"
    assert normalize_text(text) == "क्\u200dष ok\nnext line\n\nend"
    assert join_hyphenated_line_breaks("custo-\nmer and Wi-\nFi") == "customer and Wi-\nFi"


def test_running_headers_and_page_numbers_go_but_numbered_content_stays():
    bodies = ["Returns are free.\nKeep the box.", "Shipping takes two days.\nTrack it online.", "Refunds go to the card.\nAsk us."]
    pages = [
        f"ACME Handbook\nStep {number}: open the app and tap the orders tab to continue\n{body}\nPage {number} of 3"
        for number, body in enumerate(bodies, start=1)
    ]
    assert drop_repeated_page_lines(pages) == [
        f"Step {number}: open the app and tap the orders tab to continue\n{body}" for number, body in enumerate(bodies, start=1)
    ]
