"""Schemathesis generates requests from the app's own OpenAPI schema: no server errors."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


async def test_no_server_errors_across_the_openapi_schema(api, tenant, tmp_path: Path):
    # Point the generated requests at real channel accounts, so they reach the handlers
    # instead of stopping at 404.
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f"""
[[operations]]
include-tag = "webchat"
parameters = {{ "channel_account_id" = "{tenant.webchat_id}" }}

[[operations]]
include-tag = "webhooks"
parameters = {{ "channel_account_id" = "{tenant.whatsapp_id}" }}
"""
    )
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("schemathesis")), "--no-color", "--config-file", str(config),
        "run", f"{api.url}/openapi.json", "--checks", "not_a_server_error",
        "--max-examples", "25", "--generation-deterministic",
        cwd=tmp_path,  # its crash cache stays out of the repository
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    report = out.decode()
    assert process.returncode == 0, report[-4000:]
    assert "Tested:" in report and " passed" in report
