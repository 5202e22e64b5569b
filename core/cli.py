"""The `frontdesk` command."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated, NoReturn

import typer

from core.cpu_affinity import confine_this_process
from core.gc_tuning import tune_for_server
from core.logging import configure_logging
from core.settings import get_settings

app = typer.Typer(help="Frontdesk: AI customer service on Temporal.", no_args_is_help=True, add_completion=False)


def _logging() -> None:
    settings = get_settings()
    json = settings.log_json if settings.log_json is not None else settings.env == "production"
    configure_logging(
        json=json,
        level=settings.log_level,
        mask_pii=settings.log_mask_pii,
        mask_extra_patterns=settings.log_mask_extra_patterns,
    )


@app.command()
def dev() -> None:
    """Run the whole platform locally: Temporal, PostgreSQL, Redis, worker and API."""
    from core.dev import run_dev

    _logging()
    run_dev(get_settings())


@app.command()
def api(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Serve the HTTP API (webhooks, web chat, health)."""
    import uvicorn

    _logging()
    import api.main  # noqa: F401 - imported before the freeze, so its modules' objects are frozen too

    tune_for_server()
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def worker(queue: Annotated[str, typer.Option(help="task queue to serve")] = "frontdesk") -> None:
    """Run a Temporal worker for one task queue."""
    settings = get_settings()
    # First, before the imports (seconds of CPU): a worker starting up after a crash must not
    # take the CPU from the workers that are running turns.
    os.nice(settings.worker_nice)
    confine_this_process(settings.turn_cpus)
    import uvloop

    from workers.main import run_worker

    _logging()
    tune_for_server()
    # uvloop: the worker is GIL-bound, and the event loop's own overhead is part of every turn.
    uvloop.run(run_worker(settings, queue))


@app.command()
def migrate() -> None:
    """Apply database migrations (DATABASE_URL)."""
    from models.migrate import upgrade_to_head

    settings = get_settings()
    if not settings.database_url:
        raise typer.BadParameter("set DATABASE_URL")
    upgrade_to_head(settings.database_url)
    typer.echo("database is at the latest migration")


@app.command("setup-temporal")
def setup_temporal() -> None:
    """Register Frontdesk's search attributes on the Temporal namespace (TEMPORAL_ADDRESS)."""
    from core.temporal import ensure_search_attributes

    settings = get_settings()
    if not settings.temporal_address:
        raise typer.BadParameter("set TEMPORAL_ADDRESS")
    asyncio.run(ensure_search_attributes(settings.temporal_address, settings.temporal_namespace))
    typer.echo("search attributes registered")


@app.command("rotate-master-key")
def rotate_master_key_command(
    new_key: Annotated[
        str,
        typer.Option(
            "--new-key",
            envvar="FRONTDESK_NEW_MASTER_KEY",
            help="base64 of 32 random bytes (prefer the environment variable: a flag shows in `ps` and shell history); generated when unset",
            show_default=False,
        ),
    ] = "",
) -> None:
    """Re-wrap every stored credential under a new master key, in one transaction."""
    from core.crypto import UnknownMasterKeyError
    from core.key_rotation import RotationError, rotate_master_key

    try:
        result = asyncio.run(rotate_master_key(get_settings(), new_key or None))
    except (RotationError, UnknownMasterKeyError) as exc:  # nothing was changed
        typer.echo(f"rotate-master-key: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"re-wrapped {result.count.rewrapped} secret(s) from key {result.old_key_id} to {result.new_key_id}"
        f" ({result.count.unchanged} already under it)"
    )
    if result.key_file is not None:
        typer.echo(f"{result.key_file} now holds the new key; the old one is in {result.key_file}.previous")
        typer.echo("`frontdesk dev` uses it from its next start")
        return
    # The only time the new key is shown: the database already needs it.
    typer.echo(
        "\nThe database now needs the new key. Set, then restart every API and worker:\n"
        f"  FRONTDESK_MASTER_KEY={result.new_key}\n"
        "  FRONTDESK_MASTER_KEY_PREVIOUS=<the key FRONTDESK_MASTER_KEY holds now>"
        "   (Temporal history written before the rotation is encrypted under it)"
    )


@app.command()
def chat(
    api_url: Annotated[str, typer.Option(help="Frontdesk API base URL")] = "",
    channel_account: Annotated[str, typer.Option(help="web-chat channel account id")] = "",
    session: Annotated[str, typer.Option(help="reuse a session id to continue a conversation")] = "",
) -> None:
    """Chat with a web-chat channel from the terminal (the demo tenant's by default)."""
    from core.chat import run_chat
    from models.seed import DEMO_WEBCHAT_ID

    settings = get_settings()
    run_chat(api_url or f"http://{settings.api_host}:{settings.api_port}", channel_account or str(DEMO_WEBCHAT_ID), session or None)


def _fail(message: str) -> NoReturn:
    """One line on stderr and exit status 1 (SystemExit: `main` passes its code on)."""
    typer.echo(message, err=True)
    raise SystemExit(1)


telegram_app = typer.Typer(help="Telegram bot set-up.", no_args_is_help=True)
app.add_typer(telegram_app, name="telegram")


@telegram_app.command("set-webhook")
def telegram_set_webhook(
    account: Annotated[str, typer.Option(help="the Telegram channel account's id")],
    public_url: Annotated[str, typer.Option(help="where Telegram reaches the API; default FRONTDESK_PUBLIC_URL")] = "",
) -> None:
    """Point a Telegram bot's updates at this platform: setWebhook with the account's bot token,
    its webhook secret and the update kinds Frontdesk reads (DATABASE_URL, master key)."""
    import httpx
    from sqlalchemy.exc import SQLAlchemyError

    from channels.account_settings import ACCOUNT_SCHEMAS
    from channels.base import ChannelError
    from channels.telegram import ALLOWED_UPDATES, TelegramAdapter
    from core.crypto import SecretBox
    from core.key_rotation import RotationError, current_master_key
    from models.accounts_store import channel_account_by_id
    from models.db import one_off_sessions

    settings = get_settings()
    base = (public_url or settings.public_url or "").rstrip("/")
    if not base:
        _fail("telegram set-webhook: pass --public-url or set FRONTDESK_PUBLIC_URL")
    if not settings.database_url:
        _fail("telegram set-webhook: set DATABASE_URL")
    try:
        master_key, _ = current_master_key(settings)
    except RotationError:  # neither FRONTDESK_MASTER_KEY nor the development key file
        _fail("telegram set-webhook: set FRONTDESK_MASTER_KEY (the account's credentials are encrypted under it)")
    previous = [settings.master_key_previous.get_secret_value()] if settings.master_key_previous else []
    webhook_url = base + ACCOUNT_SCHEMAS["telegram"].webhook_path.format(id=account)

    async def set_webhook() -> bool:
        async with one_off_sessions(settings.database_url or "") as sessions, sessions() as session:
            found = await channel_account_by_id(session, SecretBox(master_key, previous=previous), account)
        if found is None or found.channel != "telegram":
            return False
        async with httpx.AsyncClient(timeout=30) as http:
            await TelegramAdapter(http).set_webhook(webhook_url, found.config, found.secrets)
        return True

    try:
        found = asyncio.run(set_webhook())
    except ChannelError as exc:  # Telegram refused (a revoked token, a URL it will not call)
        _fail(f"telegram set-webhook: {exc}")
    except (OSError, SQLAlchemyError) as exc:
        _fail(f"telegram set-webhook: cannot read the account from the database ({type(exc).__name__})")
    if not found:
        _fail(f"telegram set-webhook: no active Telegram channel account {account}")
    typer.echo(f"Telegram now delivers {', '.join(ALLOWED_UPDATES)} updates to {webhook_url}")


def main() -> None:
    code = 0
    try:
        returned = app(standalone_mode=False)
        # Without standalone mode click returns a command's typer.Exit code instead of raising it.
        code = returned if isinstance(returned, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            code = exc.exit_code
        else:
            raise
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio 1.35 segfaults at interpreter exit ~10% of the time (MODELS.md): leave now.
    os._exit(code)


if __name__ == "__main__":
    main()
