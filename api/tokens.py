"""`proposals-api tokens …`: make, list and revoke API tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import psycopg

from api import embedded
from api.auth import SCOPES, create_token, list_tokens, revoke_token
from api.config import Settings
from api.db import direct_connection
from api.migrate import migrate


def _connect() -> psycopg.Connection:
    settings = Settings.from_env()
    conn = direct_connection(settings.database_url or embedded.start(settings.embedded_pg_dir))
    migrate(conn)
    return conn


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
    click.echo(token)
    click.echo(f"(token {name!r}, scope {scope}: keep it now, it will not be shown again)", err=True)


@tokens.command("list")
def list_command() -> None:
    """List tokens (never their secrets)."""
    with _connect() as conn:
        rows = list_tokens(conn)
    click.echo(f"{'name':30} {'scope':6} {'created':20} {'expires':20} revoked")
    for row in rows:
        stamp = [
            row[k].strftime("%Y-%m-%d %H:%M") if row[k] else "-" for k in ("created_at", "expires_at", "revoked_at")
        ]
        click.echo(f"{row['name']:30} {row['scope']:6} {stamp[0]:20} {stamp[1]:20} {stamp[2]}")


@tokens.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Revoke the token called NAME, at once and for good."""
    with _connect() as conn:
        if not revoke_token(conn, name):
            raise click.ClickException(f"no active token called {name!r}")
    click.echo(f"revoked {name}")
