"""Apply Alembic migrations programmatically (used by `frontdesk migrate`, `frontdesk dev`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    # env.py runs its own event loop, so call this from a thread when one is already running.
    command.upgrade(alembic_config(database_url), "head")
