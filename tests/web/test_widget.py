"""The embeddable chat widget in a real browser (Debian's Chromium driven by Playwright), on a
shop's page of another origin, talking to the test API and the whole turn behind it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, async_playwright, expect
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from models.conversations import Conversation, Message
from tests.factories import eventually
from tests.standins.serve import serve
from tests.web.support import replies_offer_choices, webchat_account

CHROMIUM = Path("/usr/bin/chromium")
# As root Chromium needs --no-sandbox; with no network but loopback, its background services
# (component updates, sync, safe-browsing lists) would only fail, many connections at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BRAND = "#ff5a1f"
GREETING = "Hi there! Ask us anything."


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is not installed: `make test` installs it (deploy/system-packages.sh)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture(scope="session")
async def shop(api) -> AsyncIterator[str]:
    """A customer's site (its own origin) whose page embeds the widget exactly as documented."""

    async def page(request) -> HTMLResponse:
        account = request.path_params["account"]
        return HTMLResponse(
            "<!doctype html><html><head><title>Acme shoes</title>"
            f'<script src="{api.url}/v1/webchat/{account}/widget.js" async></script>'
            "</head><body><h1>Acme shoes</h1><p>Running shoes for every road.</p></body></html>"
        )

    server = await serve(Starlette(routes=[Route("/shop/{account}", page)]))
    yield server.url
    await server.stop()


@pytest.fixture
async def page(chromium) -> AsyncIterator[Page]:
    context = await chromium.new_context(viewport={"width": 1200, "height": 800})  # fresh localStorage
    yield await context.new_page()
    await context.close()


async def _open_chat(page: Page, shop: str, deps, tenant_id: str, **look) -> str:
    config = {"allowed_origins": [f"{shop}/"], "brand_color": BRAND, "greeting": GREETING, **look}
    account = await webchat_account(deps, tenant_id, config)
    await page.goto(f"{shop}/shop/{account}")
    await page.locator(".fd-bubble").click()
    await expect(page.locator(".fd-panel")).to_be_visible()
    return account


async def _say(page: Page, text: str) -> None:
    await page.locator(".fd-input").fill(text)
    await page.locator(".fd-input").press("Enter")


async def _messages(deps, tenant_id: str) -> list[Message]:
    async with deps.sessions() as session:
        return list(await session.scalars(select(Message).where(Message.tenant_id == uuid.UUID(tenant_id)).order_by(Message.seq)))


async def test_bubble_shows_the_brand_and_a_reply_streams_in(page, shop, tenant, deps, openai_standin):
    config = {"allowed_origins": [f"{shop}/"], "brand_color": BRAND, "position": "left", "greeting": GREETING, "title": "Acme help"}
    account = await webchat_account(deps, tenant.tenant_id, config)
    await page.goto(f"{shop}/shop/{account}")
    bubble = page.locator(".fd-bubble")
    await expect(bubble).to_be_visible()
    assert await bubble.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(255, 90, 31)"
    box = await bubble.bounding_box()
    assert box is not None and box["x"] < 100  # bottom left, as configured
    await expect(page.locator(".fd-panel")).to_be_hidden()  # closed until the visitor opens it

    await bubble.click()
    await expect(page.locator(".fd-header")).to_contain_text("Acme help")
    await expect(page.locator(".fd-greeting")).to_have_text(GREETING)
    # What the visitor saw, change by change: the typing dots may be up for a moment only, and
    # the words come in tens of milliseconds apart.
    await page.evaluate(
        """() => {
            const root = document.querySelector('[data-frontdesk-widget]').shadowRoot;
            const typing = root.querySelector('.fd-typing');
            window.seen = { typing: false, streamed: [] };
            new MutationObserver(() => {
                if (!typing.hidden) window.seen.typing = true;
                const writing = root.querySelector('.fd-msg-streaming');
                if (writing) window.seen.streamed.push(writing.textContent);
            }).observe(root.querySelector('.fd-log'), { attributes: true, childList: true, subtree: true, characterData: true });
        }"""
    )
    openai_standin.slow_seconds = 1.0  # the model thinks a while before its first word
    openai_standin.word_seconds = 0.08  # then writes a word at a time (the preview sends at most one update per 50 ms)
    await _say(page, "SLOW when do you deliver?")
    await expect(page.locator(".fd-msg-customer")).to_have_text("SLOW when do you deliver?")
    await expect(page.locator(".fd-typing")).to_be_visible()  # while the turn runs
    answer = f"[{tenant.model}] SLOW when do you deliver?"
    await expect(page.locator(".fd-msg-agent:not(.fd-greeting)")).to_have_text([answer])
    await expect(page.locator(".fd-msg-streaming")).to_have_count(0)
    await expect(page.locator(".fd-typing")).to_be_hidden()
    seen = await page.evaluate("() => window.seen")
    assert seen["typing"] is True
    streamed = [text for text in seen["streamed"] if text]
    assert len(set(streamed)) > 2 and streamed[0] == f"[{tenant.model}] "  # word by word, before the reply
    assert all(answer.startswith(text) for text in streamed)
    session_id = await page.evaluate(f"() => JSON.parse(localStorage.getItem('frontdesk:{account}:session'))")
    async with deps.sessions() as session:
        query = select(Conversation.workflow_id).where(Conversation.tenant_id == uuid.UUID(tenant.tenant_id))
        workflow_ids = list(await session.scalars(query))
    assert [w.endswith(f":{session_id}") for w in workflow_ids] == [True]  # the session kept in localStorage

    await page.reload()  # the conversation survives a reload
    await page.locator(".fd-bubble").click()
    await expect(page.locator(".fd-msg-agent:not(.fd-greeting)")).to_have_text([answer])


async def test_buttons_render_and_a_tap_sends_the_choice(page, shop, tenant, deps):
    async with replies_offer_choices(deps, tenant.tenant_id, marker="options"):
        await _open_chat(page, shop, deps, tenant.tenant_id)
        await _say(page, "what are my options?")
        choices = page.locator(".fd-choice")
        await expect(choices).to_have_count(3)
        await expect(choices.nth(0)).to_have_text("Parcel status")
        await expect(choices.nth(2)).to_contain_text("30 days, free pickup")  # a list row's description
        await choices.nth(0).click()
        await expect(page.locator(".fd-msg-customer")).to_have_text(["what are my options?", "Parcel status"])
        await expect(page.locator(".fd-msg-agent:not(.fd-greeting)").last).to_have_text(f"[{tenant.model}] Parcel status")
        for index in range(3):
            await expect(choices.nth(index)).to_be_disabled()  # one answer per question
    tapped = [m for m in await _messages(deps, tenant.tenant_id) if m.direction == "inbound" and m.text == "Parcel status"]
    assert [m.content.get("reply_payload") for m in tapped] == ["track"]


async def test_a_dropped_connection_reconnects_and_the_reply_arrives_once(page, shop, tenant, deps, openai_standin):
    connections: list[dict] = []

    def through(route: WebSocketRoute) -> None:
        """Between the page and the API, so the test can cut the line as a server restart would."""
        server = route.connect_to_server()
        sent: list[dict] = []
        connections.append({"route": route, "sent": sent})

        def forward(message: str | bytes) -> None:
            sent.append(json.loads(message))
            server.send(message)

        route.on_message(forward)

    await page.route_web_socket("**/ws?session_id=*", through)
    openai_standin.slow_seconds = 2.0
    await _open_chat(page, shop, deps, tenant.tenant_id)
    await _say(page, "SLOW is my parcel late?")
    await expect(page.locator(".fd-typing")).to_be_visible()
    await page.wait_for_timeout(500)  # the turn is running: the model stalls 2 s before its first word

    await connections[0]["route"].close(code=1012, reason="service restart")
    await expect(page.locator(".fd-status")).to_have_text("reconnecting\u2026")

    async def reconnected() -> bool:
        return len(connections) >= 2 and any(f.get("type") == "message" for f in connections[1]["sent"])

    await eventually(reconnected, timeout=10, what="the widget to reconnect and resend")
    first = [f for f in connections[0]["sent"] if f.get("type") == "message"]
    resent = [f for f in connections[1]["sent"] if f.get("type") == "message"]
    assert [f["client_message_id"] for f in resent] == [f["client_message_id"] for f in first]  # same id: exactly once
    answer = f"[{tenant.model}] SLOW is my parcel late?"
    await expect(page.locator(".fd-msg-agent:not(.fd-greeting)")).to_have_text([answer])
    await expect(page.locator(".fd-status")).to_have_text("")
    await expect(page.locator(".fd-typing")).to_be_hidden()
    assert len(openai_standin.calls_for(tenant.model)) == 1  # one turn
    assert [m.direction for m in await _messages(deps, tenant.tenant_id)] == ["inbound", "outbound"]

    await _say(page, "thanks")  # the new connection carries on
    await expect(page.locator(".fd-msg-agent:not(.fd-greeting)")).to_have_text([answer, f"[{tenant.model}] thanks"])


async def test_a_site_not_allowed_gets_no_chat(page, shop, tenant, deps):
    account = await webchat_account(deps, tenant.tenant_id, {"allowed_origins": ["https://another-shop.example/"], "greeting": GREETING})
    await page.goto(f"{shop}/shop/{account}")
    await page.locator(".fd-bubble").click()
    await _say(page, "hello?")
    await expect(page.locator(".fd-status")).to_have_text("reconnecting\u2026")  # refused at the handshake, every time
    assert await _messages(deps, tenant.tenant_id) == []
