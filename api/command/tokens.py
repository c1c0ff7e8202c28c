"""`proposals-api tokens …`: make, list and revoke API tokens.

A group of its own (api.command.cli adds it to `main`), so it cannot import api.command.cli back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import psycopg

from api.command import embedded
from api.config import Settings
from api.http.auth import SCOPES, create_token, list_tokens, revoke_token
from api.store.db import direct_connection
from api.store.migrate import migrate

COLUMNS = ("name", "scope", "created", "expires", "revoked")


def _database_url() -> str:
    """DATABASE_URL when set, else the embedded server (started on demand), as api.command.cli does."""
    settings = Settings.from_env()
    return settings.database_url or embedded.start(settings.embedded_pg_dir)


def _connect() -> psycopg.Connection:
    """A migrated database, so the tokens table exists even before the first `serve`."""
    conn = direct_connection(_database_url())
    try:
        migrate(conn)
    except RuntimeError as error:
        conn.close()
        raise click.ClickException(str(error)) from error
    return conn


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


@click.group()
def tokens() -> None:
    """Make, list and revoke API tokens (writes need one with scope write)."""


@tokens.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(SCOPES), default="write", show_default=True)
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None, help="Default: never expires.")
def create_command(name: str, scope: str, expires_in_days: int | None) -> None:
    """Make a token called NAME and print it (only this once)."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with _connect() as conn:
        try:
            token = create_token(conn, name, scope, expires_at)
        except psycopg.errors.UniqueViolation as error:
            raise click.ClickException(f"a token called {name!r} exists already") from error
        except psycopg.errors.CheckViolation as error:
            raise click.ClickException("a name is 1-100 of a-z 0-9 . _ - and starts with a letter or digit") from error
    click.echo(token)  # alone on stdout, so TOKEN=$(proposals-api tokens create NAME) works
    click.echo(f"(token {name!r}, scope {scope}: keep it now, it will not be shown again)", err=True)


@tokens.command("list")
def list_command() -> None:
    """List tokens, oldest first (never their secrets)."""
    with _connect() as conn:
        rows = [
            (row["name"], row["scope"], _when(row["created_at"]), _when(row["expires_at"]), _when(row["revoked_at"]))
            for row in list_tokens(conn)
        ]
    widths = [max(len(cell) for cell in column) for column in zip(COLUMNS, *rows, strict=True)]
    for cells in [COLUMNS, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())


@tokens.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Revoke the token called NAME, at once and for good."""
    with _connect() as conn:
        if not revoke_token(conn, name):
            raise click.ClickException(f"no active token called {name!r}")
    click.echo(f"revoked {name}")
