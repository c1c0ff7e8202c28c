"""Brings a database's schema up to date: numbered migrations, then the current functions.

`sql/migrations/NNNN_*.sql` hold tables, indexes, constraints and data moves: each is applied
once, in order, and one whose file changed after it was applied is refused, not skipped.
`sql/functions/*.sql` hold the current definition of every function, trigger and view; they are
applied after the migrations every time, written so that applying them again changes nothing.
All of it runs in one transaction under a transaction-scoped advisory lock (safe behind pgbouncer).

A baseline (`0012_baseline.sql`) replaces the migrations before it, as Django's squashed
migrations and Flyway's baseline migrations do: `-- replaces NAME sha256:…` opens the section that
migration NAME's objects are in. A database that applied NAME (with that checksum) skips the
section; what follows `-- after sql/functions` runs after the function files when a section ran
(in any other migration, when the migration ran).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import psycopg

from api.store.sql import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"
FUNCTIONS_DIR = SQL_DIR / "functions"
# The order the function files are applied in: a LANGUAGE sql body is checked when it is created,
# so whatever it calls comes first.
FUNCTION_FILES = (
    "bulk.sql",
    "representations.sql",
    "writes.sql",
    "search.sql",
    "snippets.sql",
    "filters.sql",
    "search_items.sql",
    "versions.sql",
    "changes.sql",
)
LOCK_KEY = 7_302_159_001  # any constant; names this project's migration lock
# The change feed's lock, as lock_changes() in sql/functions/writes.sql takes it (it may not exist
# yet when migrations run): a migration that writes revisions commits in feed order like any writer.
CHANGES_LOCK_KEY = 7_302_159_002

REPLACES = re.compile(r"^-- replaces (\S+\.sql) sha256:([0-9a-f]{64})$", re.MULTILINE)
AFTER_FUNCTIONS = re.compile(r"^-- after sql/functions$", re.MULTILINE)


@dataclass(frozen=True)
class Section:
    """What one replaced migration left behind, in a baseline."""

    name: str
    sha256: str
    sql: str


def migration_files() -> list[tuple[str, str]]:
    return [(p.name, p.read_text()) for p in sorted(MIGRATIONS_DIR.glob("[0-9]*.sql"))]


def function_files() -> list[tuple[str, str]]:
    """The files of sql/functions in FUNCTION_FILES' order; a file it does not list is an error."""
    unlisted = sorted({p.name for p in FUNCTIONS_DIR.glob("*.sql")} - set(FUNCTION_FILES))
    if unlisted:
        raise RuntimeError(f"sql/functions/{unlisted[0]} is not listed in api.store.migrate.FUNCTION_FILES")
    return [(name, (FUNCTIONS_DIR / name).read_text()) for name in FUNCTION_FILES]


def sections(text: str) -> tuple[list[Section], str]:
    """A migration's `-- replaces` sections (none: it replaces nothing) and its after-functions part."""
    text, *after = AFTER_FUNCTIONS.split(text, maxsplit=1)
    parts = REPLACES.split(text)  # [preamble, name, sha256, sql, name, sha256, sql, …]
    found = [Section(*parts[i : i + 3]) for i in range(1, len(parts), 3)]
    return found, after[0].strip() if after else ""


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending migrations, then every function file; return the migrations applied now."""
    applied_now: list[str] = []
    after_functions: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHANGES_LOCK_KEY,))  # migrations may write history
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
            replaced, after = sections(text)
            if not replaced:
                conn.execute(AFTER_FUNCTIONS.split(text, maxsplit=1)[0])
                if after:
                    after_functions.append(after)
            elif pending := _pending_sections(name, replaced, done):
                for section in pending:
                    conn.execute(section.sql)
                if after:
                    after_functions.append(after)
            conn.execute("INSERT INTO schema_migrations (name, sha256) VALUES (%s, %s)", (name, digest))
            applied_now.append(name)
        for _name, text in function_files():
            conn.execute(text)
        for text in after_functions:
            conn.execute(text)
    return applied_now


def _pending_sections(baseline: str, replaced: list[Section], done: dict[str, str]) -> list[Section]:
    """The sections of a baseline still to run: those after the replaced migrations this database
    applied, which must be the first ones, each as the baseline knows it."""
    applied = [section for section in replaced if section.name in done]
    for section in applied:
        if done[section.name] != section.sha256:
            raise RuntimeError(f"migration {section.name} as applied is not the one {baseline} replaces")
    if applied != replaced[: len(applied)]:
        raise RuntimeError(f"this database applied {applied[-1].name} but not all before it that {baseline} replaces")
    return replaced[len(applied) :]
