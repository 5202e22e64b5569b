"""Schemathesis generates requests from the app's own OpenAPI schema: no server errors."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.api.admin.conftest import admin_key_for


async def test_no_server_errors_across_the_openapi_schema(make_api, deps, tenant, tmp_path: Path):
    # A tenant admin key lets the generated requests past authentication into the admin
    # routes; limits high enough that they are not all answered 429.
    client = await make_api(admin_rate_per_key_per_s=10_000, admin_burst_per_key=10_000, admin_rate_per_tenant_per_s=10_000, admin_burst_per_tenant=10_000)
    key = await admin_key_for(deps, tenant.tenant_id)
    # Point the generated requests at real channel accounts, so they reach the handlers
    # instead of stopping at 404. The credential is given, so schemathesis need not sign up.
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f"""
[auth]
auto-signup = false

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
        "run", f"{str(client.base_url).rstrip('/')}/openapi.json", "--checks", "not_a_server_error",
        "--header", f"Authorization: Bearer {key}",
        "--max-examples", "25", "--generation-deterministic",
        cwd=tmp_path,  # its crash cache stays out of the repository
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    report = out.decode()
    assert process.returncode == 0, report[-4000:]
    assert "Tested:" in report and " passed" in report
