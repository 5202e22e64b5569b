"""`frontdesk rotate-master-key`: every stored credential moves to the new key in one transaction.

Runs against its own database on the test PostgreSQL server: rotating the shared test database
would leave the session's worker holding a key that no longer opens anything.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import make_url

import models.all  # noqa: F401 - registers every table on the metadata
from core.crypto import SecretBox, UnknownMasterKeyError, generate_master_key
from core.key_rotation import NEXT_KEY_FILE, RotationError, rotate_master_key
from models.accounts_store import channel_account_by_id, tenant_providers
from models.base import Base
from models.db import one_off_sessions
from models.migrate import upgrade_to_head
from models.secret_rotation import ENCRYPTED_COLUMNS
from models.tenants import LlmProvider
from tests.factories import TestTenant, create_tenant

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def own_database(settings) -> str:
    """A fresh, migrated database beside the test one."""
    name = f"rotate_{uuid.uuid4().hex[:12]}"
    url = make_url(settings.database_url)
    admin = await asyncpg.connect(host=url.query["host"], user=url.username, database=url.database)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    own = url.set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade_to_head, own)  # alembic runs its own event loop
    yield own
    admin = await asyncpg.connect(host=url.query["host"], user=url.username, database=url.database)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _tenant(database_url: str, key: str) -> TestTenant:
    async with one_off_sessions(database_url) as sessions:
        return await create_tenant(sessions, SecretBox(key), openai_url="http://127.0.0.1:9", graph_url="http://127.0.0.1:9")


async def _read(database_url: str, box: SecretBox, tenant: TestTenant) -> tuple[dict, str | None]:
    """(the WhatsApp account's secrets, the provider's API key), decrypted the way the product does."""
    async with one_off_sessions(database_url) as sessions, sessions() as session:
        account = await channel_account_by_id(session, box, tenant.whatsapp_id)
        providers = await tenant_providers(session, box, uuid.UUID(tenant.tenant_id))
    assert account is not None and len(providers) == 1
    return account.secrets, providers[0].api_key


async def _tokens(database_url: str) -> list[str]:
    async with one_off_sessions(database_url) as sessions, sessions() as session:
        return sorted(t for t in await session.scalars(select(LlmProvider.api_key_encrypted)) if t)


def _expected(tenant: TestTenant) -> tuple[dict, str]:
    secrets = {"app_secret": tenant.app_secret, "verify_token": tenant.verify_token, "access_token": tenant.access_token}
    return secrets, "sk-test"


async def test_rotation_moves_every_secret_to_the_new_key(settings, own_database, tmp_path):
    old, new = generate_master_key(), generate_master_key()
    tenant = await _tenant(own_database, old)
    rotating = settings.model_copy(update={"database_url": own_database, "master_key": SecretStr(old), "data_dir": tmp_path})

    result = await rotate_master_key(rotating, new)

    assert (result.count.rewrapped, result.count.unchanged) == (2, 0)  # WhatsApp secrets + provider key
    assert result.key_file is None and result.new_key == new
    assert await _read(own_database, SecretBox(new), tenant) == _expected(tenant)
    with pytest.raises(UnknownMasterKeyError, match=SecretBox(new).key_id):
        await _read(own_database, SecretBox(old), tenant)
    # The next rotation's window: the new key as the previous one still reads everything.
    assert await _read(own_database, SecretBox(generate_master_key(), previous=[new]), tenant) == _expected(tenant)


async def test_running_it_again_with_the_same_new_key_changes_nothing(settings, own_database, tmp_path):
    old, new = generate_master_key(), generate_master_key()
    tenant = await _tenant(own_database, old)
    rotating = settings.model_copy(update={"database_url": own_database, "master_key": SecretStr(old), "data_dir": tmp_path})
    await rotate_master_key(rotating, new)
    tokens = await _tokens(own_database)

    again = await rotate_master_key(rotating, new)  # e.g. the operator did not update the env yet

    assert (again.count.rewrapped, again.count.unchanged) == (0, 2)
    assert await _tokens(own_database) == tokens
    assert await _read(own_database, SecretBox(new), tenant) == _expected(tenant)


async def test_a_value_no_key_opens_rolls_everything_back(settings, own_database, tmp_path):
    old = generate_master_key()
    await _tenant(own_database, old)
    tokens = await _tokens(own_database)
    wrong = settings.model_copy(
        update={"database_url": own_database, "master_key": SecretStr(generate_master_key()), "data_dir": tmp_path}
    )

    with pytest.raises(UnknownMasterKeyError, match=SecretBox(old).key_id):
        await rotate_master_key(wrong, generate_master_key())

    assert await _tokens(own_database) == tokens


async def test_key_from_the_data_dir_file_is_replaced_and_kept_as_previous(settings, own_database, tmp_path):
    old = generate_master_key()
    tenant = await _tenant(own_database, old)
    (tmp_path / "master.key").write_text(old)
    dev = settings.model_copy(update={"database_url": own_database, "master_key": None, "data_dir": tmp_path})

    result = await rotate_master_key(dev)  # no new key given: one is generated

    new = (tmp_path / "master.key").read_text()
    assert result.key_file == tmp_path / "master.key" and new == result.new_key != old
    assert (tmp_path / "master.key.previous").read_text() == old
    assert not (tmp_path / NEXT_KEY_FILE).exists()
    assert oct((tmp_path / "master.key").stat().st_mode & 0o777) == "0o600"
    assert await _read(own_database, SecretBox(new), tenant) == _expected(tenant)


async def test_refuses_while_frontdesk_dev_runs_on_the_data_dir(settings, stack):
    # The session's embedded PostgreSQL stands in for a running `frontdesk dev`.
    dev = settings.model_copy(update={"database_url": None, "master_key": None, "data_dir": stack.data_dir})
    with pytest.raises(RotationError, match="stop it"):
        await rotate_master_key(dev, generate_master_key())
    assert not (stack.data_dir / NEXT_KEY_FILE).exists()


def test_every_encrypted_column_is_rotated():
    encrypted = {(t.name, c.name) for t in Base.metadata.tables.values() for c in t.columns if c.name.endswith("_encrypted")}
    assert encrypted == set(ENCRYPTED_COLUMNS)


async def test_cli_prints_the_count_and_the_new_key_once(own_database, tmp_path):
    old, new = generate_master_key(), generate_master_key()
    tenant = await _tenant(own_database, old)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update(
        DATABASE_URL=own_database, FRONTDESK_MASTER_KEY=old, FRONTDESK_NEW_MASTER_KEY=new, FRONTDESK_DATA_DIR=str(tmp_path)
    )
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "core.cli", "rotate-master-key"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "re-wrapped 2 secret(s)" in done.stdout
    assert done.stdout.count(new) == 1 and old not in done.stdout + done.stderr
    assert "FRONTDESK_MASTER_KEY_PREVIOUS" in done.stdout
    assert await _read(own_database, SecretBox(new), tenant) == _expected(tenant)
