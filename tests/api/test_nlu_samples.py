"""A tenant writes training samples, reviews the ones waiting (one at a time or in bulk),
imports and exports them as CSV, in English, Hindi and Hinglish; the same message is one sample;
another tenant can neither see nor touch them."""

from __future__ import annotations

import csv
import io
import uuid

import httpx

from tests.api.admin.conftest import AdminTenant, bearer, key_with, new_admin_tenant

INTENTS = "/v1/nlu/intents"
SAMPLES = "/v1/nlu/samples"
HINDI = "मेरा ऑर्डर कहाँ है?"
HINDI_REFUND = "मुझे पैसे वापस चाहिए, कृपया"
HINGLISH = 'bhai mera order kab aayega? "urgent" hai'


async def _tenant(http: httpx.AsyncClient, *intents: str) -> AdminTenant:
    t = await new_admin_tenant(http)
    for name in intents:
        r = await http.post(INTENTS, json={"name": name}, headers=t.headers)
        assert r.status_code == 201, r.text
    return t


async def _sample(http: httpx.AsyncClient, t: AdminTenant, text: str, intent: str | None = None, status: str = "approved") -> dict:
    r = await http.post(SAMPLES, json={"text": text, "intent": intent, "status": status}, headers=t.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _listed(http: httpx.AsyncClient, t: AdminTenant, **params) -> list[dict]:
    r = await http.get(SAMPLES, params=params, headers=t.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _import(http: httpx.AsyncClient, t: AdminTenant, content: bytes, headers: dict | None = None, **form) -> httpx.Response:
    files = {"file": ("samples.csv", content, "text/csv")}
    return await http.post(f"{SAMPLES}/import", files=files, data=form, headers=headers or t.headers)


async def test_a_written_sample_is_approved_listed_and_filtered(http):
    t = await _tenant(http, "track_order", "refund")
    hindi = await _sample(http, t, f"  {HINDI}  ", "track_order")
    assert {k: hindi[k] for k in ("text", "intent", "status", "source", "predicted_by", "confidence", "conversation_id")} == {
        "text": HINDI, "intent": "track_order", "status": "approved", "source": "manual",
        "predicted_by": None, "confidence": None, "conversation_id": None,
    }  # fmt: skip
    assert hindi["reviewed_by"].startswith("api_key:") and hindi["reviewed_at"]
    waiting = await _sample(http, t, HINGLISH, "track_order", "pending")
    assert (waiting["status"], waiting["reviewed_by"], waiting["reviewed_at"]) == ("pending", None, None)
    unlabelled = await _sample(http, t, "hello there", None, "pending")
    refund = await _sample(http, t, HINDI_REFUND, "refund")

    ids = lambda items: [s["id"] for s in items]  # noqa: E731
    assert ids(await _listed(http, t)) == [refund["id"], unlabelled["id"], waiting["id"], hindi["id"]]  # newest first
    assert ids(await _listed(http, t, status="pending")) == [unlabelled["id"], waiting["id"]]
    assert ids(await _listed(http, t, intent="track_order")) == [waiting["id"], hindi["id"]]
    assert ids(await _listed(http, t, intent="track_order", status="approved")) == [hindi["id"]]
    assert ids(await _listed(http, t, q="ऑर्डर")) == [hindi["id"]]
    assert ids(await _listed(http, t, q="URGENT")) == [waiting["id"]]
    assert ids(await _listed(http, t, q="100%_")) == []  # LIKE wildcards are plain characters
    assert ids(await _listed(http, t, source="manual", intent="nobody")) == []
    page = (await http.get(SAMPLES, params={"limit": 3}, headers=t.headers)).json()
    assert len(page["items"]) == 3
    rest = await _listed(http, t, limit=3, cursor=page["next_cursor"])
    assert ids(rest) == [hindi["id"]]
    assert (await http.get(f"{SAMPLES}/{hindi['id']}", headers=t.headers)).json() == hindi


async def test_the_same_message_is_one_sample(http):
    t = await _tenant(http, "track_order", "refund")
    first = await _sample(http, t, "Where is my order?", "track_order")
    for again in ("where is my order", "  WHERE is my   order!!!", "Where is my order?"):
        r = await http.post(SAMPLES, json={"text": again, "intent": "refund"}, headers=t.headers)
        assert r.status_code == 409, (again, r.text)
        assert first["id"] in r.json()["detail"]
    await _sample(http, t, HINDI, "track_order")
    dup = await http.post(SAMPLES, json={"text": HINDI + " ", "intent": "track_order"}, headers=t.headers)
    assert dup.status_code == 409
    other = await _tenant(http, "track_order")
    await _sample(http, other, "Where is my order?", "track_order")  # another tenant's samples are its own


async def test_bad_samples_are_refused_with_a_reason(http):
    t = await _tenant(http, "track_order")
    no_intent = await http.post(SAMPLES, json={"text": "hi"}, headers=t.headers)
    assert no_intent.status_code == 422 and "needs an intent" in no_intent.json()["detail"]
    unknown = await http.post(SAMPLES, json={"text": "hi", "intent": "greeting"}, headers=t.headers)
    assert unknown.status_code == 422 and "'greeting'" in unknown.json()["detail"]
    for body in (
        {"text": "", "intent": "track_order"}, {"text": "   ", "intent": "track_order"}, {"text": "x" * 1001, "intent": "track_order"},
        {"text": "?!?", "intent": "track_order"}, {"text": "a\x00b", "intent": "track_order"},
        {"text": "hi", "intent": "track_order", "status": "rejected"}, {"text": "hi", "intent": "track_order", "colour": 1},
        {"text": ["hi"], "intent": "track_order"},
    ):  # fmt: skip
        r = await http.post(SAMPLES, json=body, headers=t.headers)
        assert r.status_code == 422, (body, r.text)
    sample = await _sample(http, t, "where is it", None, "pending")
    for body in ({"status": "approved"}, {"status": None}, {"status": "maybe"}, {"intent": "nope"}, {"extra": True}):
        r = await http.patch(f"{SAMPLES}/{sample['id']}", json=body, headers=t.headers)
        assert r.status_code == 422, (body, r.text)
    assert "cannot be approved" in (await http.patch(f"{SAMPLES}/{sample['id']}", json={"status": "approved"}, headers=t.headers)).json()["detail"]
    assert (await http.get(f"{SAMPLES}/{uuid.uuid4()}", headers=t.headers)).status_code == 404
    assert (await http.get(SAMPLES, params={"cursor": "garbage!"}, headers=t.headers)).status_code == 422


async def test_one_sample_is_reviewed_relabelled_and_reopened(http):
    t = await _tenant(http, "track_order", "refund")
    guess = await _sample(http, t, "paisa wapas kab milega", "track_order", "pending")
    url = f"{SAMPLES}/{guess['id']}"
    relabelled = (await http.patch(url, json={"intent": "refund"}, headers=t.headers)).json()
    assert (relabelled["intent"], relabelled["status"], relabelled["reviewed_by"]) == ("refund", "pending", None)
    approved = (await http.patch(url, json={"status": "approved"}, headers=t.headers)).json()
    assert (approved["intent"], approved["status"]) == ("refund", "approved")
    assert approved["reviewed_by"].startswith("api_key:") and approved["reviewed_at"] and approved["updated_at"] >= guess["updated_at"]
    cannot = await http.patch(url, json={"intent": None}, headers=t.headers)
    assert cannot.status_code == 422  # an approved sample keeps an intent
    rejected = (await http.patch(url, json={"status": "rejected", "intent": None}, headers=t.headers)).json()
    assert (rejected["intent"], rejected["status"]) == (None, "rejected") and rejected["reviewed_at"]
    reopened = (await http.patch(url, json={"status": "pending", "intent": "track_order"}, headers=t.headers)).json()
    assert (reopened["intent"], reopened["status"], reopened["reviewed_by"], reopened["reviewed_at"]) == ("track_order", "pending", None, None)
    both = (await http.patch(url, json={"status": "approved", "intent": "refund"}, headers=t.headers)).json()
    assert (both["intent"], both["status"]) == ("refund", "approved")
    assert (await http.get(INTENTS, headers=t.headers)).json()["items"][0]["approved_samples"] == 1  # refund: newest intent


async def test_bulk_review_approves_rejects_and_relabels(http):
    t = await _tenant(http, "track_order", "refund")
    labelled = [await _sample(http, t, f"where is order {n}", "track_order", "pending") for n in range(3)]
    bare = await _sample(http, t, "hmm", None, "pending")
    ids = [s["id"] for s in labelled] + [bare["id"], str(uuid.uuid4())]

    r = await http.post(f"{SAMPLES}/review", json={"ids": ids + ids[:1], "action": "approve"}, headers=t.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"updated": 3, "not_found": 1, "missing_intent": 1}
    assert sorted(s["id"] for s in await _listed(http, t, status="approved")) == sorted(s["id"] for s in labelled)
    assert [s["id"] for s in await _listed(http, t, status="pending")] == [bare["id"]]
    assert all(s["reviewed_by"] and s["reviewed_at"] for s in await _listed(http, t, status="approved"))

    relabel = await http.post(f"{SAMPLES}/review", json={"ids": [bare["id"], labelled[0]["id"]], "action": "approve", "intent": "refund"}, headers=t.headers)
    assert relabel.json() == {"updated": 2, "not_found": 0, "missing_intent": 0}
    assert sorted(s["text"] for s in await _listed(http, t, intent="refund", status="approved")) == ["hmm", "where is order 0"]

    reject = await http.post(f"{SAMPLES}/review", json={"ids": [s["id"] for s in labelled[1:]], "action": "reject"}, headers=t.headers)
    assert reject.json() == {"updated": 2, "not_found": 0, "missing_intent": 0}
    assert len(await _listed(http, t, status="rejected", intent="track_order")) == 2
    for body in ({"ids": [], "action": "approve"}, {"ids": ids, "action": "delete"}, {"ids": ["nope"], "action": "reject"},
                 {"ids": [bare["id"]] * 1001, "action": "reject"}, {"ids": ids, "action": "approve", "intent": "nobody"}):  # fmt: skip
        bad = await http.post(f"{SAMPLES}/review", json=body, headers=t.headers)
        assert bad.status_code == 422, (body, bad.text)


async def test_another_tenant_cannot_see_relabel_or_review_samples(http):
    a, b = await _tenant(http, "track_order"), await _tenant(http, "track_order", "refund")
    sample = await _sample(http, a, "where is my order", "track_order", "pending")
    url = f"{SAMPLES}/{sample['id']}"
    assert (await http.get(url, headers=b.headers)).status_code == 404
    assert (await http.patch(url, json={"intent": "refund"}, headers=b.headers)).status_code == 404
    assert (await http.patch(url, json={"status": "rejected"}, headers=b.headers)).status_code == 404
    review = await http.post(f"{SAMPLES}/review", json={"ids": [sample["id"]], "action": "approve", "intent": "refund"}, headers=b.headers)
    assert review.json() == {"updated": 0, "not_found": 1, "missing_intent": 0}
    assert await _listed(http, b) == [] and await _listed(http, b, q="order") == []
    assert (await http.get(f"{SAMPLES}/export", headers=b.headers)).text == "text,intent,status,source\r\n"
    # A's sample is untouched, and B may write the same text as its own sample.
    assert (await http.get(url, headers=a.headers)).json() == sample
    await _sample(http, b, "where is my order", "track_order")


CSV = f"""text,intent,status
{HINDI},track_order,
"{HINGLISH.replace('"', '""')}",track_order,pending
"Refund, please",refund,
"Two lines:
where is my parcel?",track_order,approved
,track_order,
hello,greeting,
"{HINDI_REFUND}",refund,rejected
""".encode()


async def test_import_upserts_by_text_and_export_reads_back(http):
    t = await _tenant(http, "track_order", "refund")
    first = await _import(http, t, CSV)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "created": 5, "updated": 0, "unchanged": 0,
        "errors": [{"row": 6, "reason": "the text is empty"},  # a cell's line break is not a row
                   {"row": 7, "reason": "no intent named 'greeting'; create it first, or import with create_intents=true"}],
    }  # fmt: skip
    samples = {s["text"]: s for s in await _listed(http, t)}
    assert {k: (s["intent"], s["status"], s["source"]) for k, s in samples.items()} == {
        HINDI: ("track_order", "approved", "import"), HINGLISH: ("track_order", "pending", "import"),
        "Refund, please": ("refund", "approved", "import"), "Two lines:\nwhere is my parcel?": ("track_order", "approved", "import"),
        HINDI_REFUND: ("refund", "rejected", "import"),
    }  # fmt: skip
    assert samples[HINDI]["reviewed_by"] and samples[HINGLISH]["reviewed_by"] is None

    again = (await _import(http, t, CSV)).json()
    assert (again["created"], again["updated"], again["unchanged"], len(again["errors"])) == (0, 0, 5, 2)

    export = await http.get(f"{SAMPLES}/export", headers=t.headers)
    assert export.status_code == 200 and export.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in export.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8"), newline="")))
    assert [(r["text"], r["intent"], r["status"], r["source"]) for r in rows] == [
        (HINDI, "track_order", "approved", "import"), (HINGLISH, "track_order", "pending", "import"),
        ("Refund, please", "refund", "approved", "import"), ("Two lines:\nwhere is my parcel?", "track_order", "approved", "import"),
        (HINDI_REFUND, "refund", "rejected", "import"),
    ]  # oldest first  # fmt: skip
    only = await http.get(f"{SAMPLES}/export", params={"status": "approved", "intent": "refund"}, headers=t.headers)
    assert only.text == "text,intent,status,source\r\n\"Refund, please\",refund,approved,import\r\n"
    excel = await http.get(f"{SAMPLES}/export", params={"bom": "true"}, headers=t.headers)
    assert excel.content.startswith("\ufefftext,intent".encode())

    # The export is an import file: into a fresh tenant it recreates everything as it was.
    fresh = await _tenant(http, "track_order", "refund")
    copied = (await _import(http, fresh, excel.content)).json()
    assert (copied["created"], copied["errors"]) == (5, [])
    assert (await http.get(f"{SAMPLES}/export", headers=fresh.headers)).text == export.text
    # Edited in a spreadsheet: one text relabelled, one approved, the rest left alone.
    edited = export.text.replace(f"{HINDI},track_order,approved", f"{HINDI},refund,approved").replace("pending,import", "approved,import")
    changed = (await _import(http, fresh, edited.encode())).json()
    assert (changed["created"], changed["updated"], changed["unchanged"], changed["errors"]) == (0, 2, 3, [])
    assert {s["text"]: (s["intent"], s["status"]) for s in await _listed(http, fresh)}[HINDI] == ("refund", "approved")
    assert {s["text"]: s["status"] for s in await _listed(http, fresh)}[HINGLISH] == "approved"


async def test_import_creates_intents_only_when_asked_and_allowed(http):
    t = await _tenant(http, "track_order")
    data = f"text,intent\n{HINDI},track_order\nnamaste ji,Greeting\nbye,\n".encode()
    writer = bearer((await key_with(http, t, "knowledge:read", "knowledge:write"))["key"])
    r = await _import(http, t, data, headers=writer, create_intents="true")
    assert r.status_code == 403 and "agents:manage" in r.json()["detail"]
    r = await _import(http, t, data, headers=writer)
    assert r.json()["created"] == 1 and [e["row"] for e in r.json()["errors"]] == [3, 4]
    r = await _import(http, t, data, create_intents="true")
    assert (r.json()["created"], r.json()["unchanged"], [e["row"] for e in r.json()["errors"]]) == (1, 1, [4])
    intents = {i["name"]: i for i in (await http.get(INTENTS, headers=t.headers)).json()["items"]}
    assert sorted(intents) == ["greeting", "track_order"] and intents["greeting"]["approved_samples"] == 1


async def test_unreadable_or_oversized_imports_are_refused_with_a_reason(http):
    t = await _tenant(http, "track_order")
    for content in (
        b"", b"question,answer\nhi,hello\n", "text,intent\ncafé,track_order\n".encode("cp1252"), b'text,intent\n"open,track_order\n',
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", b"text,intent\n" + b"hi there,track_order\n" * 20_001,
    ):  # fmt: skip
        r = await _import(http, t, content)
        assert r.status_code in (413, 422), (content[:40], r.text)
        assert r.json()["detail"], content[:40]
    too_big = await _import(http, t, b"text,intent\n" + b"hello there my friend,track_order\n" * 200_000)  # 6.8 MB
    assert too_big.status_code == 413 and too_big.json()["detail"]
    assert await _listed(http, t) == []  # nothing of a refused file was kept
    # Above the API's default body cap (512 KB), within the import's 5 MB: imported.
    large = b"text,intent\n" + b"".join(b"question %d about where my parcel is,track_order\n" % i for i in range(14_000))
    assert len(large) > 600_000
    r = await _import(http, t, large)
    assert r.status_code == 200 and r.json()["created"] == 14_000, r.text[:300]
    no_file = await http.post(f"{SAMPLES}/import", data={"create_intents": "true"}, headers=t.headers)
    assert no_file.status_code == 422


async def test_reading_needs_knowledge_read_and_writing_needs_knowledge_write(http):
    t = await _tenant(http, "track_order")
    sample = await _sample(http, t, "where is it", "track_order")
    reader = bearer((await key_with(http, t, "knowledge:read"))["key"])
    assert (await http.get(SAMPLES, headers=reader)).status_code == 200
    assert (await http.get(f"{SAMPLES}/export", headers=reader)).status_code == 200
    assert (await http.post(SAMPLES, json={"text": "x y", "intent": "track_order"}, headers=reader)).status_code == 403
    assert (await http.patch(f"{SAMPLES}/{sample['id']}", json={"status": "rejected"}, headers=reader)).status_code == 403
    assert (await http.post(f"{SAMPLES}/review", json={"ids": [sample["id"]], "action": "reject"}, headers=reader)).status_code == 403
    assert (await _import(http, t, b"text,intent\nhi,track_order\n", headers=reader)).status_code == 403
