"""A tenant writes, edits, imports and deletes its hand-written knowledge entries, and tunes how
its knowledge search ranks them; another tenant never sees them."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import text

from tests.api.admin.conftest import AdminTenant, bearer, key_with, new_admin_tenant

ENTRIES = "/v1/knowledge/entries"


async def _create(http: httpx.AsyncClient, t: AdminTenant, **fields) -> dict:
    body = {"type": "policy", "title": "Returns of sale items", "content": "Sale items can be returned within 14 days.", **fields}
    r = await http.post(ENTRIES, json=body, headers=t.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _chunks(deps, entry_id: str) -> list[str]:
    async with deps.sessions() as session:
        rows = await session.execute(text("SELECT text FROM knowledge_chunks WHERE entry_id = :id ORDER BY position"), {"id": entry_id})
        return [row[0] for row in rows]


async def _import(http, t: AdminTenant, name: str, content: bytes, content_type: str, **form) -> httpx.Response:
    return await http.post(f"{ENTRIES}/import", files={"file": (name, content, content_type)}, data=form, headers=t.headers)


async def test_an_entry_is_written_edited_with_versions_and_soft_deleted(http, deps):
    t = await new_admin_tenant(http)
    entry = await _create(http, t, keywords=["refund", "sale", "refund"], category="returns", priority=3)
    assert (entry["version"], entry["active"], entry["keywords"]) == (1, True, ["refund", "sale"])
    # Searchable at once: its chunk holds the text and the keywords.
    assert await _chunks(deps, entry["id"]) == ["Sale items can be returned within 14 days.\nKeywords: refund, sale"]

    read = await http.get(f"{ENTRIES}/{entry['id']}", headers=t.headers)
    assert read.json() == entry and read.headers["etag"] == '"1"'

    edited = await http.patch(f"{ENTRIES}/{entry['id']}", json={"content": "Within 30 days."}, headers={**t.headers, "If-Match": '"1"'})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["version"], edited.json()["content"], edited.headers["etag"]) == (2, "Within 30 days.", '"2"')
    assert await _chunks(deps, entry["id"]) == ["Within 30 days.\nKeywords: refund, sale"]

    # Someone else's edit in between: a stale version is refused, not overwritten.
    stale = await http.patch(f"{ENTRIES}/{entry['id']}", json={"content": "Never."}, headers={**t.headers, "If-Match": '"1"'})
    assert stale.status_code == 409 and "version 2" in stale.json()["detail"]
    stale = await http.patch(f"{ENTRIES}/{entry['id']}", json={"title": "x", "expected_version": 1}, headers=t.headers)
    assert stale.status_code == 409
    # Every update counts; sending what is already there is no update.
    same = await http.patch(f"{ENTRIES}/{entry['id']}", json={"content": "Within 30 days."}, headers=t.headers)
    assert same.json()["version"] == 2
    off = await http.patch(f"{ENTRIES}/{entry['id']}", json={"active": False, "category": None, "expected_version": 2}, headers=t.headers)
    assert (off.json()["version"], off.json()["active"], off.json()["category"]) == (3, False, None)

    faq = await _create(http, t, type="faq", title="Do you ship to Canada?", content="Yes, in 5-7 days.", category="shipping")
    assert await _chunks(deps, faq["id"]) == ["Q: Do you ship to Canada?\nA: Yes, in 5-7 days."]
    listed = lambda **q: http.get(ENTRIES, params=q, headers=t.headers)  # noqa: E731
    assert [e["id"] for e in (await listed()).json()["items"]] == [faq["id"], entry["id"]]  # newest first
    assert [e["id"] for e in (await listed(type="faq")).json()["items"]] == [faq["id"]]
    assert [e["id"] for e in (await listed(active="false")).json()["items"]] == [entry["id"]]
    assert [e["id"] for e in (await listed(category="shipping")).json()["items"]] == [faq["id"]]
    assert [e["id"] for e in (await listed(q="canada")).json()["items"]] == [faq["id"]]
    assert [e["id"] for e in (await listed(q="REFUND")).json()["items"]] == [entry["id"]]  # keywords count
    page = (await listed(limit=1)).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    assert [e["id"] for e in (await listed(limit=1, cursor=page["next_cursor"])).json()["items"]] == [entry["id"]]

    assert (await http.delete(f"{ENTRIES}/{entry['id']}", headers=t.headers)).status_code == 204
    assert (await http.get(f"{ENTRIES}/{entry['id']}", headers=t.headers)).status_code == 404
    assert (await http.patch(f"{ENTRIES}/{entry['id']}", json={"active": True}, headers=t.headers)).status_code == 404
    assert (await http.delete(f"{ENTRIES}/{entry['id']}", headers=t.headers)).status_code == 404
    assert [e["id"] for e in (await listed()).json()["items"]] == [faq["id"]]
    assert await _chunks(deps, entry["id"]) == []  # gone from the index too


async def test_another_tenant_cannot_read_change_or_delete_an_entry(http):
    a, b = await new_admin_tenant(http), await new_admin_tenant(http)
    entry = await _create(http, a)
    url = f"{ENTRIES}/{entry['id']}"
    assert (await http.get(url, headers=b.headers)).status_code == 404
    assert (await http.patch(url, json={"content": "Hacked."}, headers=b.headers)).status_code == 404
    assert (await http.delete(url, headers=b.headers)).status_code == 404
    assert (await http.get(ENTRIES, headers=b.headers)).json()["items"] == []
    assert (await http.get(url, headers=a.headers)).json()["content"] == entry["content"]


async def test_bad_entries_are_refused_with_a_reason(http):
    t = await new_admin_tenant(http)
    for body in ({"title": "  ", "content": "x"}, {"title": "x", "content": "y", "type": "recipe"}, {"title": "x"}, {"title": "x", "content": "y", "keywords": [""]}):
        r = await http.post(ENTRIES, json=body, headers=t.headers)
        assert r.status_code == 422, (body, r.text)
    entry = await _create(http, t)
    assert (await http.patch(f"{ENTRIES}/{entry['id']}", json={"title": None}, headers=t.headers)).status_code == 422
    r = await http.patch(f"{ENTRIES}/{entry['id']}", json={"active": False}, headers={**t.headers, "If-Match": "yesterday"})
    assert r.status_code == 422 and "ETag" in r.json()["detail"]
    reader = await key_with(http, t, "knowledge:read")
    assert (await http.get(ENTRIES, headers=bearer(reader["key"]))).status_code == 200
    assert (await http.post(ENTRIES, json={"title": "x", "content": "y"}, headers=bearer(reader["key"]))).status_code == 403


CSV = b"""question,answer,category
Do you ship to Canada?,"Yes, in 5-7 business days.",shipping
How do I reset my password?,,account

Can I pay with PayPal?,"Yes, at checkout.",payments
can i pay with paypal?,No.,payments
"""


async def test_a_csv_import_reports_bad_rows_and_importing_again_changes_nothing(http, deps):
    t = await new_admin_tenant(http)
    first = await _import(http, t, "faq.csv", CSV, "text/csv")
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 0, 0)
    assert body["errors"] == [
        {"row": 3, "reason": "needs both a question and an answer"},
        {"row": 6, "reason": "the same question as row 5; only the first is imported"},
    ]
    again = (await _import(http, t, "faq.csv", CSV, "text/csv")).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)

    edited = CSV.replace(b'"Yes, at checkout."', b'"Yes, and with cards."')
    third = (await _import(http, t, "faq.csv", edited, "text/csv")).json()
    assert (third["created"], third["updated"], third["unchanged"]) == (0, 1, 1)
    entries = (await http.get(ENTRIES, headers=t.headers)).json()["items"]
    assert sorted((e["title"], e["version"], e["category"]) for e in entries) == [
        ("Can I pay with PayPal?", 2, "payments"),
        ("Do you ship to Canada?", 1, "shipping"),
    ]
    paypal = next(e for e in entries if e["title"].startswith("Can I pay"))
    assert await _chunks(deps, paypal["id"]) == ["Q: Can I pay with PayPal?\nA: Yes, and with cards."]


async def test_a_json_import_upserts_by_type_and_title(http):
    t = await new_admin_tenant(http)
    faqs = {"faqs": [
        {"question": "Where is my order?", "answer": "Track it under My orders."},
        {"question": "Do you have gift cards?"},
        "not an object",
        {"q": "Is the jacket waterproof?", "a": "Yes.", "topic": "products"},
    ]}  # fmt: skip
    r = await _import(http, t, "faq.json", json.dumps(faqs).encode(), "application/json", type="product")
    body = r.json()
    assert (body["created"], body["unchanged"]) == (2, 0), r.text
    assert [e["row"] for e in body["errors"]] == [2, 3]
    entries = (await http.get(ENTRIES, params={"type": "product"}, headers=t.headers)).json()["items"]
    assert sorted(e["title"] for e in entries) == ["Is the jacket waterproof?", "Where is my order?"]
    # The same title under another type is another entry.
    other = (await _import(http, t, "faq.json", json.dumps(faqs).encode(), "application/json")).json()
    assert other["created"] == 2
    assert len((await http.get(ENTRIES, headers=t.headers)).json()["items"]) == 4


async def test_unreadable_import_files_are_refused_with_a_reason(http):
    t = await new_admin_tenant(http)
    for name, content in (("faq.csv", b""), ("faq.csv", b"name,phone\nAnn,123\n"), ("faq.json", b"{not json"), ("faq.json", b'{"x": 1}')):
        r = await _import(http, t, name, content, "application/octet-stream")
        assert r.status_code == 422, (name, content, r.text)
        assert r.json()["detail"]


async def test_search_settings_are_read_and_replaced(http):
    t = await new_admin_tenant(http)
    defaults = (await http.get("/v1/knowledge/settings", headers=t.headers)).json()
    assert defaults["vector_weight"] == 0.7 and defaults["keyword_weight"] == 0.3 and defaults["top_k"] == 5
    assert defaults["language"] == "english" and defaults["embedder"] is None
    r = await http.put("/v1/knowledge/settings", json={"vector_weight": 1, "keyword_weight": 0, "min_score": 0.5, "top_k": 3, "language": "simple"}, headers=t.headers)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("vector_weight", "keyword_weight", "min_score", "top_k", "language")} == {
        "vector_weight": 1, "keyword_weight": 0, "min_score": 0.5, "top_k": 3, "language": "simple"
    }  # fmt: skip
    assert (await http.get("/v1/knowledge/settings", headers=t.headers)).json() == r.json()
    for bad in ({"vector_weight": 0, "keyword_weight": 0}, {"top_k": 0}, {"language": "klingon"}, {"min_score": 2}):
        refused = await http.put("/v1/knowledge/settings", json=bad, headers=t.headers)
        assert refused.status_code == 422, (bad, refused.text)
