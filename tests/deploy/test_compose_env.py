"""The environment docker-compose gives our services: where they find the servers, and that
production settings accept it."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from core.settings import Settings
from tests.deploy.compose_file import TEST_ENV, env_of, services


def test_app_services_reach_temporal_postgres_and_redis():
    svcs = services()
    pg_env = env_of(svcs["postgres"])
    for name in ("api", "worker", "migrate", "temporal-setup"):
        env = env_of(svcs[name])
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233", name
        assert env["FRONTDESK_MASTER_KEY"] == TEST_ENV["FRONTDESK_MASTER_KEY"], name
        assert env["FRONTDESK_ENV"] == "production", name

        db = urlsplit(env["DATABASE_URL"])
        assert db.scheme == "postgresql+asyncpg", name
        assert (db.hostname, db.port) == ("postgres", 5432), name
        assert db.username == pg_env["POSTGRES_USER"], name
        assert db.password == pg_env["POSTGRES_PASSWORD"], name
        assert db.path.lstrip("/") == pg_env["POSTGRES_DB"], name

        redis = urlsplit(env["REDIS_URL"])
        assert (redis.scheme, redis.hostname, redis.port or 6379) == ("redis", "redis", 6379)


def test_app_services_environment_is_accepted_by_production_settings(monkeypatch):
    """Production settings refuse to start without their secrets: every app service's
    environment must satisfy them, or its container would exit at once."""
    svcs = services()
    for name in ("api", "worker", "migrate", "temporal-setup"):
        env = env_of(svcs[name])
        for key in [k for k in os.environ if k.startswith("FRONTDESK_") or k in ("TEMPORAL_ADDRESS", "DATABASE_URL", "REDIS_URL")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        settings = Settings()
        assert settings.env == "production" and settings.admin_key is not None, name
