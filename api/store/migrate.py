"""Applies `sql/migrations/NNNN_*.sql` in order, each once, under an advisory lock.

Kept tiny on purpose: the lock is transaction-scoped (safe behind pgbouncer), every
migration runs in the same transaction as its bookkeeping row, and a migration whose
file changed after it was applied is reported instead of silently skipped.
"""

from __future__ import annotations

import hashlib

import psycopg

from api.store.sql import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"
LOCK_KEY = 7_302_159_001  # any constant; names this project's migration lock


def migration_files() -> list[tuple[str, str]]:
    return [(p.name, p.read_text()) for p in sorted(MIGRATIONS_DIR.glob("[0-9]*.sql"))]


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending migrations; return the names applied now."""
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
    return applied_now
