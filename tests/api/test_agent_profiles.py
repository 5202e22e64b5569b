"""A tenant shapes its agent: profiles with a persona, a versioned prompt template, restrictions,
disclaimers, tiers and feature flags; one of them is the default the replies are written with."""

from __future__ import annotations

import uuid

import httpx

from tests.api.admin.conftest import AdminTenant, admin_key_for, bearer, new_admin_tenant

PROFILES = "/v1/agent-profiles"


async def _create(http: httpx.AsyncClient, headers: dict, **fields) -> dict:
    body = {"name": f"Profile {uuid.uuid4().hex[:6]}", "persona": {"display_name": "Asha", "tone": "warm", "traits": ["patient"]}, **fields}
    r = await http.post(PROFILES, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _defaults(http: httpx.AsyncClient, t: AdminTenant) -> list[str]:
    items = (await http.get(PROFILES, headers=t.headers)).json()["items"]
    return [p["name"] for p in items if p["is_default"]]


async def test_a_profile_is_created_listed_edited_with_prompt_versions_and_diffed(http):
    t = await new_admin_tenant(http)
    template = "You are {persona_name} of {tenant_name}.\nBe {tone}.\nNever guess."
    profile = await _create(
        http, t.headers, name="Support", prompt_template=template, restrictions=["Never promise delivery dates."],
        disclaimers=["Prices include VAT."], default_tier="fast", fallback_tier="standard", confidence_threshold=0.7,
        features={"proactive_suggestions": True, "voice_replies": True},
    )  # fmt: skip
    assert (profile["is_default"], profile["prompt_version"], profile["version"]) == (True, 1, 1)  # the first is the default
    assert profile["persona"] == {"display_name": "Asha", "tone": "warm", "traits": ["patient"]}
    assert profile["features"] == {"proactive_suggestions": True, "spelling_correction": True, "rich_messages": True, "voice_replies": True}
    assert (profile["default_tier"], profile["fallback_tier"], profile["confidence_threshold"]) == ("fast", "standard", 0.7)

    url = f"{PROFILES}/{profile['id']}"
    read = await http.get(url, headers=t.headers)
    assert read.json() == profile and read.headers["etag"] == '"1"'
    assert [p["id"] for p in (await http.get(PROFILES, headers=t.headers)).json()["items"]] == [profile["id"]]

    # Two template edits: two new prompt versions; a tone edit is no new prompt version.
    v2 = await http.patch(url, json={"prompt_template": template.replace("Be {tone}.", "Be {tone} and brief.")}, headers={**t.headers, "If-Match": '"1"'})
    assert v2.status_code == 200, v2.text
    assert (v2.json()["prompt_version"], v2.json()["version"], v2.headers["etag"]) == (2, 2, '"2"')
    stale = await http.patch(url, json={"name": "Other"}, headers={**t.headers, "If-Match": '"1"'})
    assert stale.status_code == 409
    tone = await http.patch(url, json={"persona": {"tone": "formal"}, "features": {"voice_replies": False}}, headers=t.headers)
    assert tone.json()["persona"] == {"display_name": "Asha", "tone": "formal", "traits": ["patient"]}
    assert (tone.json()["prompt_version"], tone.json()["features"]["voice_replies"]) == (2, False)
    v3 = await http.patch(url, json={"prompt_template": "You are {persona_name}.\nBe {tone} and brief.\nNever guess."}, headers=t.headers)
    assert v3.json()["prompt_version"] == 3
    same = await http.patch(url, json={"prompt_template": v3.json()["prompt_template"]}, headers=t.headers)
    assert (same.json()["prompt_version"], same.json()["version"]) == (3, v3.json()["version"])  # nothing changed

    versions = (await http.get(f"{url}/prompt-versions", headers=t.headers)).json()
    assert [v["version"] for v in versions["items"]] == [3, 2, 1]
    assert versions["items"][-1]["template"] == template and versions["items"][0]["created_by"].startswith("api_key:")
    page = (await http.get(f"{url}/prompt-versions", params={"limit": 2}, headers=t.headers)).json()
    assert [v["version"] for v in page["items"]] == [3, 2] and page["next_cursor"] == "2"
    rest = (await http.get(f"{url}/prompt-versions", params={"limit": 2, "cursor": "2"}, headers=t.headers)).json()
    assert [v["version"] for v in rest["items"]] == [1] and rest["next_cursor"] is None

    diff = await http.get(f"{url}/prompt-versions/diff", params={"from": 1, "to": 2}, headers=t.headers)
    assert diff.status_code == 200, diff.text
    text = diff.json()["diff"]
    assert "--- version 1" in text and "+++ version 2" in text
    assert "-Be {tone}.\n" in text and "+Be {tone} and brief.\n" in text
    assert "-Never guess" not in text  # unchanged lines are context only
    assert (await http.get(f"{url}/prompt-versions/diff", params={"from": 2, "to": 2}, headers=t.headers)).json()["diff"] == ""
    missing = await http.get(f"{url}/prompt-versions/diff", params={"from": 1, "to": 9}, headers=t.headers)
    assert missing.status_code == 404 and "9" in missing.json()["detail"]
    assert (await http.get(f"{url}/prompt-versions/diff", params={"from": 1}, headers=t.headers)).status_code == 422


async def test_exactly_one_default_and_the_default_cannot_be_deleted(http):
    t = await new_admin_tenant(http)
    first = await _create(http, t.headers, name="First")
    second = await _create(http, t.headers, name="Second")
    assert second["is_default"] is False and await _defaults(http, t) == ["First"]

    switched = await http.patch(f"{PROFILES}/{second['id']}", json={"is_default": True}, headers=t.headers)
    assert switched.status_code == 200 and switched.json()["is_default"] is True
    assert await _defaults(http, t) == ["Second"]
    # The old default changed too: its ETag moved on.
    assert (await http.get(f"{PROFILES}/{first['id']}", headers=t.headers)).json()["version"] == 2

    third = await _create(http, t.headers, name="Third", is_default=True)
    assert third["is_default"] is True and await _defaults(http, t) == ["Third"]

    refused = await http.delete(f"{PROFILES}/{third['id']}", headers=t.headers)
    assert refused.status_code == 409 and "default" in refused.json()["detail"]
    off = await http.patch(f"{PROFILES}/{third['id']}", json={"is_default": False}, headers=t.headers)
    assert off.status_code == 409
    assert (await http.delete(f"{PROFILES}/{first['id']}", headers=t.headers)).status_code == 204
    assert (await http.get(f"{PROFILES}/{first['id']}", headers=t.headers)).status_code == 404
    assert sorted(p["name"] for p in (await http.get(PROFILES, headers=t.headers)).json()["items"]) == ["Second", "Third"]
    # A deleted profile's name is free again; a live one's is not.
    assert (await http.post(PROFILES, json={"name": "first"}, headers=t.headers)).status_code == 201
    taken = await http.post(PROFILES, json={"name": "second"}, headers=t.headers)
    assert taken.status_code == 409 and "'second'" in taken.json()["detail"]
    assert await _defaults(http, t) == ["Third"]


async def test_bad_input_is_refused_with_a_reason(http):
    t = await new_admin_tenant(http)
    cases = [
        ({"name": "A", "default_tier": "turbo"}, "turbo"),
        ({"name": "A", "fallback_tier": "premium"}, "premium"),
        ({"name": "A", "confidence_threshold": 1.5}, "confidence_threshold"),
        ({"name": "A", "prompt_template": "Hello {customer_name}"}, "{customer_name}"),
        ({"name": "A", "prompt_template": "Hello {tone.__class__}"}, "tone.__class__"),
        ({"name": "A", "prompt_template": "Hello {"}, "not well formed"),
        ({"name": "A", "features": {"telepathy": True}}, "telepathy"),
        ({"name": " "}, "blank"),
    ]
    for body, reason in cases:
        r = await http.post(PROFILES, json=body, headers=t.headers)
        assert r.status_code == 422, (body, r.text)
        assert reason in r.text, (body, r.text)
    profile = await _create(http, t.headers, name="Ok")
    url = f"{PROFILES}/{profile['id']}"
    assert (await http.patch(url, json={"default_tier": "turbo"}, headers=t.headers)).status_code == 422
    assert (await http.patch(url, json={"name": None}, headers=t.headers)).status_code == 422
    assert (await http.patch(url, json={"prompt_template": "{unknown}"}, headers=t.headers)).status_code == 422
    assert (await http.patch(url, json={"fallback_tier": None}, headers=t.headers)).status_code == 200
    assert (await http.patch(url, json={"name": "x"}, headers={**t.headers, "If-Match": "abc"})).status_code == 422
    assert (await http.get(f"{url}/prompt-versions", params={"cursor": "x"}, headers=t.headers)).status_code == 422
    assert (await http.get(f"{PROFILES}/not-a-uuid", headers=t.headers)).status_code == 422


async def test_another_tenant_never_sees_or_changes_a_profile(http):
    a, b = await new_admin_tenant(http), await new_admin_tenant(http)
    profile = await _create(http, a.headers, name="Secret")
    url = f"{PROFILES}/{profile['id']}"
    assert (await http.get(PROFILES, headers=b.headers)).json()["items"] == []
    assert (await http.get(url, headers=b.headers)).status_code == 404
    assert (await http.patch(url, json={"name": "Mine"}, headers=b.headers)).status_code == 404
    assert (await http.delete(url, headers=b.headers)).status_code == 404
    assert (await http.get(f"{url}/prompt-versions", headers=b.headers)).status_code == 404
    assert (await http.get(f"{url}/prompt-versions/diff", params={"from": 1, "to": 1}, headers=b.headers)).status_code == 404
    # B's first profile is B's default; A's default is untouched, and a same name is fine across tenants.
    own = await _create(http, b.headers, name="Secret")
    assert own["is_default"] is True
    assert (await http.get(url, headers=a.headers)).json()["is_default"] is True


async def test_a_reply_is_written_with_the_default_profiles_prompt(http, deps, tenant, openai_standin):
    admin = bearer(await admin_key_for(deps, tenant.tenant_id))
    await _create(
        http, admin, name="Support", persona={"display_name": "Priya", "tone": "cheerful", "traits": ["patient", "precise"]},
        prompt_template="You are {persona_name} at {tenant_name}. Be {tone}; you are {traits}.",
        restrictions=["Never promise delivery dates."], disclaimers=["Prices include VAT."],
    )  # fmt: skip
    body = {"session_id": f"s-{uuid.uuid4().hex[:8]}", "client_message_id": uuid.uuid4().hex, "text": "Where is my parcel?"}
    r = await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=body)
    assert r.status_code == 200, r.text
    system = openai_standin.calls_for(tenant.model)[-1]["messages"][0]
    assert system["role"] == "system"
    prompt = system["content"]
    assert prompt.startswith(f"You are Priya at Tenant {tenant.slug}. Be cheerful; you are patient, precise.")
    assert "- Never promise delivery dates." in prompt and "- Prices include VAT." in prompt


async def test_hand_over_and_tool_settings_are_saved_with_defaults_and_versioned(http):
    t = await new_admin_tenant(http)
    profile = await _create(http, t.headers, name="Support")
    assert (profile["handoff_keywords"], profile["human_only_topics"], profile["allowed_tools"]) == ([], [], None)
    assert (profile["low_confidence_turns"], profile["tool_failure_streak"], profile["max_tool_rounds"]) == (3, 3, 5)

    url = f"{PROFILES}/{profile['id']}"
    changed = await http.patch(
        url,
        json={
            "handoff_keywords": ["Lawyer", "  data   breach ", "lawyer", "रिफंड"],
            "human_only_topics": [{"name": "legal", "phrases": ["lawsuit", "court", "Court"]}],
            "low_confidence_turns": 2, "tool_failure_streak": 5, "allowed_tools": ["track_order", "list_orders", "track_order"],
            "max_tool_rounds": 2,
        },
        headers={**t.headers, "If-Match": '"1"'},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["handoff_keywords"] == ["Lawyer", "data breach", "रिफंड"]  # cleaned, a repeat in another case dropped
    assert body["human_only_topics"] == [{"name": "legal", "phrases": ["lawsuit", "court"]}]
    assert (body["low_confidence_turns"], body["tool_failure_streak"], body["max_tool_rounds"]) == (2, 5, 2)
    assert body["allowed_tools"] == ["track_order", "list_orders"]
    assert (body["version"], changed.headers["etag"], body["prompt_version"]) == (2, '"2"', 1)
    assert (await http.get(url, headers=t.headers)).json() == body

    stale = await http.patch(url, json={"max_tool_rounds": 3}, headers={**t.headers, "If-Match": '"1"'})
    assert stale.status_code == 409
    every_tool = await http.patch(url, json={"allowed_tools": None}, headers=t.headers)
    assert every_tool.status_code == 200 and every_tool.json()["allowed_tools"] is None
    no_tools = await http.patch(url, json={"allowed_tools": []}, headers=t.headers)
    assert no_tools.json()["allowed_tools"] == [] and no_tools.json()["version"] == 4
    same = await http.patch(url, json={"handoff_keywords": ["Lawyer", "data breach", "रिफंड"]}, headers=t.headers)
    assert same.json()["version"] == 4  # nothing changed
    created = await _create(http, t.headers, handoff_keywords=["refund now"], low_confidence_turns=7, allowed_tools=["create_ticket"])
    assert (created["handoff_keywords"], created["low_confidence_turns"], created["allowed_tools"]) == (["refund now"], 7, ["create_ticket"])


async def test_bad_hand_over_and_tool_settings_are_refused_with_a_reason(http):
    t = await new_admin_tenant(http)
    cases = [
        ({"low_confidence_turns": 0}, "low_confidence_turns"),
        ({"low_confidence_turns": 21}, "low_confidence_turns"),
        ({"tool_failure_streak": 0}, "tool_failure_streak"),
        ({"max_tool_rounds": 11}, "max_tool_rounds"),
        ({"max_tool_rounds": "many"}, "max_tool_rounds"),
        ({"allowed_tools": ["rm_rf"]}, "unknown tool 'rm_rf'"),
        ({"allowed_tools": ["track order!"]}, "unknown tool"),
        ({"handoff_keywords": ["!!!"]}, "could never match"),
        ({"handoff_keywords": [""]}, "1-100 characters"),
        ({"handoff_keywords": ["x" * 101]}, "1-100 characters"),
        ({"handoff_keywords": [f"word{i}" for i in range(101)]}, "handoff_keywords"),
        ({"handoff_keywords": "lawyer"}, "handoff_keywords"),
        ({"human_only_topics": [{"name": "legal", "phrases": []}]}, "phrases"),
        ({"human_only_topics": [{"name": " ", "phrases": ["court"]}]}, "blank"),
        ({"human_only_topics": [{"name": "legal", "phrases": ["court"], "owner": "x"}]}, "owner"),
        ({"human_only_topics": [{"name": "Legal", "phrases": ["a"]}, {"name": "legal", "phrases": ["b"]}]}, "appears twice"),
        ({"human_only_topics": [{"name": "legal", "phrases": ["?"]}]}, "could never match"),
    ]
    for fields, reason in cases:
        r = await http.post(PROFILES, json={"name": "A", **fields}, headers=t.headers)
        assert r.status_code == 422, (fields, r.text)
        assert reason in r.text, (fields, r.text)
    url = f"{PROFILES}/{(await _create(http, t.headers, name='Ok'))['id']}"
    for field in ("handoff_keywords", "human_only_topics", "low_confidence_turns", "tool_failure_streak", "max_tool_rounds"):
        r = await http.patch(url, json={field: None}, headers=t.headers)
        assert r.status_code == 422 and f"{field} cannot be null" in r.text, (field, r.text)
    assert (await http.get(url, headers=t.headers)).json()["version"] == 1  # nothing was half-applied
