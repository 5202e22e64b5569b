"""`frontdesk chat`: a terminal conversation with a web-chat channel."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


async def test_terminal_chat_shows_replies(api, tenant):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.cli", "chat",
        "--api-url", api.url, "--channel-account", tenant.webchat_id, "--session", "terminal-1",
        cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(b"Do you have size 9?\nAnd in blue?\n\n"), timeout=60)
    text = out.decode()
    assert process.returncode == 0, text
    assert f"bot> [{tenant.model}] Do you have size 9?" in text
    assert f"bot> [{tenant.model}] And in blue?" in text


async def test_terminal_chat_reports_an_unknown_channel(api):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.cli", "chat", "--api-url", api.url,
        "--channel-account", "00000000-0000-0000-0000-000000000000",
        cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(b"hello\n\n"), timeout=60)
    assert "error 404" in out.decode()
