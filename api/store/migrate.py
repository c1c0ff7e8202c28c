"""Brings a database's schema up to date: numbered migrations, then the current functions.

`sql/migrations/NNNN_*.sql` hold tables, indexes, constraints and data moves: each is applied
once, in order, and one whose file changed after it was applied is refused, not skipped.
`sql/functions/*.sql` hold the current definition of every function, trigger and view; they are
applied after the migrations every time, written so that applying them again changes nothing.
All of it runs in one transaction under a transaction-scoped advisory lock (safe behind pgbouncer).
"""

from __future__ import annotations

import hashlib

import psycopg

from api.store.sql import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"
FUNCTIONS_DIR = SQL_DIR / "functions"
# The order the function files are applied in: a LANGUAGE sql body is checked when it is created,
# so whatever it calls comes first.
FUNCTION_FILES = ("representations.sql", "writes.sql", "search.sql", "snippets.sql", "filters.sql", "search_items.sql")
LOCK_KEY = 7_302_159_001  # any constant; names this project's migration lock


def migration_files() -> list[tuple[str, str]]:
    return [(p.name, p.read_text()) for p in sorted(MIGRATIONS_DIR.glob("[0-9]*.sql"))]


def function_files() -> list[tuple[str, str]]:
    """The files of sql/functions in FUNCTION_FILES' order; a file it does not list is an error."""
    unlisted = sorted({p.name for p in FUNCTIONS_DIR.glob("*.sql")} - set(FUNCTION_FILES))
    if unlisted:
        raise RuntimeError(f"sql/functions/{unlisted[0]} is not listed in api.store.migrate.FUNCTION_FILES")
    return [(name, (FUNCTIONS_DIR / name).read_text()) for name in FUNCTION_FILES]


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending migrations, then every function file; return the migrations applied now."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, sha256 text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = dict(conn.execute("SELECT name, sha256 FROM schema_migrations").fetchall())
        for name, text in migration_files():
            digest = hashlib.sha256(text.encode()).hexdigest()
            if name in done:
                if done[name] != digest:
                    raise RuntimeError(f"migration {name} changed after it was applied")
                continue
            conn.execute(text)
            conn.execute("INSERT INTO schema_migrations (name, sha256) VALUES (%s, %s)", (name, digest))
            applied_now.append(name)
        for _name, text in function_files():
            conn.execute(text)
    return applied_now
