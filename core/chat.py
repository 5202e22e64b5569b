"""`frontdesk chat`: talk to a web-chat channel from the terminal."""

from __future__ import annotations

import uuid

import httpx


def run_chat(api_url: str, channel_account_id: str, session_id: str | None = None) -> None:
    session_id = session_id or f"cli-{uuid.uuid4().hex[:12]}"
    url = f"{api_url.rstrip('/')}/v1/webchat/{channel_account_id}/messages"
    print(f"Chatting as session {session_id}. Empty line or Ctrl-D quits.")
    with httpx.Client(timeout=60) as http:
        while True:
            try:
                text = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                return
            if not text:
                return
            body = {"session_id": session_id, "client_message_id": uuid.uuid4().hex, "text": text}
            reply = _post_with_retry(http, url, body)
            print(f"bot> {reply}")


def _post_with_retry(http: httpx.Client, url: str, body: dict, attempts: int = 5) -> str:
    """Retries reuse the client_message_id, so a retry never makes a second turn."""
    last = ""
    for _ in range(attempts):
        try:
            response = http.post(url, json=body)
        except httpx.HTTPError as exc:
            last = f"(connection failed: {exc!r}; retrying)"
            continue
        if response.status_code == 200:
            data = response.json()
            return data["reply"] + ("  [flagged for a person]" if data.get("needs_human") else "")
        if response.status_code not in (503, 504):
            return f"(error {response.status_code}: {response.text[:300]})"
        last = f"(error {response.status_code}; retrying)"
    return last
