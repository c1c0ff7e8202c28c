"""Migrations: applied once each, in order, recorded, and guarded against edits; the functions of
sql/functions applied after them every time, so an old database and a new one end up alike."""

import glob
import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from api.store import migrate as migrations
from tests.conftest import baseline, create_database, drop_database, landed_migrations


def test_migrate_applies_everything_once_then_nothing(empty_database_url):
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        names = [name for name, _ in migrations.migration_files()]
        assert migrations.migrate(conn) == names
        assert migrations.migrate(conn) == []
        recorded = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
        assert recorded == names


def test_a_migration_edited_after_it_was_applied_is_refused(empty_database_url, monkeypatch):
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrations.migrate(conn)
        files = migrations.migration_files()
        edited = [(files[0][0], files[0][1] + "\n-- edited\n"), *files[1:]]
        monkeypatch.setattr(migrations, "migration_files", lambda: edited)
        with pytest.raises(RuntimeError, match="changed after it was applied"):
            migrations.migrate(conn)


def test_migrations_wait_for_each_other_under_the_advisory_lock(empty_database_url):
    with psycopg.connect(empty_database_url) as holder, psycopg.connect(empty_database_url, autocommit=True) as other:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (migrations.LOCK_KEY,))
        other.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            migrations.migrate(other)
        holder.rollback()
        assert migrations.migrate(other)  # the lock is free again


def test_the_schema_enforces_closed_sets(database_url):
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE talks SET status = 'postponed-forever' WHERE id = 'geneva-strategic-stability-2022-01-10'")


# The schema as the catalog describes it: every object the migrations and sql/functions make, each
# with its full definition, so two databases compare equal only when their schemas do.
CATALOG = {
    "functions": """
        SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace""",
    "triggers": """
        SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
         WHERE NOT t.tgisinternal AND t.tgrelid::regclass::text NOT LIKE 'pg\\_%'""",
    "views": """
        SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')""",
    "relations": """
        SELECT c.relname, concat_ws(' ', c.relkind, c.relpersistence) FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace""",
    "columns": """
        SELECT a.attrelid::regclass || '.' || a.attname,
               concat_ws(' ', a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                         pg_get_expr(d.adbin, d.adrelid))
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped""",
    "indexes": """
        SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'""",
    "constraints": """
        SELECT coalesce(conrelid::regclass::text, contypid::regtype::text) || '.' || conname,
               pg_get_constraintdef(oid) FROM pg_constraint
         WHERE connamespace = 'public'::regnamespace""",
    "types": """
        SELECT t.typname, concat_ws(' ', t.typtype, format_type(t.typbasetype, t.typtypmod)) FROM pg_type t
         WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('d', 'e', 'b')""",
}


def schema_of(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    return {kind: dict(conn.execute(query).fetchall()) for kind, query in CATALOG.items()}


def test_the_catalog_sees_the_schema(database_url):
    with psycopg.connect(database_url) as conn:
        schema = schema_of(conn)
    assert "BEFORE INSERT OR UPDATE OF doc ON public.clauses" in schema["triggers"]["clauses_snippet_tokens"]
    assert "LANGUAGE plpgsql" in schema["functions"]["rfc3339(timestamp with time zone)"]
    assert schema["relations"]["rate_limit_hits"] == "r u"
    assert "clauses_document_order_idx" in schema["indexes"]
    assert schema["types"]["slug"] == "d text"


def test_every_function_and_trigger_is_defined_once_in_sql_functions(database_url):
    """A reader who opens sql/functions sees the definition the database runs, and only one."""
    written = "\n".join(text for _, text in migrations.function_files())
    defined = re.findall(r"^CREATE OR REPLACE (?:FUNCTION|TRIGGER|VIEW) (\w+)", written, re.MULTILINE)
    assert len(defined) == len(set(defined)), "defined twice"
    assert not re.search(r"^CREATE (FUNCTION|TRIGGER|VIEW)", written, re.MULTILINE), "not rerunnable"
    with psycopg.connect(database_url) as conn:
        schema = schema_of(conn)
    in_database = {name.partition("(")[0] for name in schema["functions"]} | set(schema["triggers"])
    in_database |= set(schema["views"])
    assert in_database == set(defined)


def test_migrating_again_changes_nothing(empty_database_url):
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrations.migrate(conn)
        once = schema_of(conn)
        assert migrations.migrate(conn) == []
        assert schema_of(conn) == once


def migrated_then(server_url: str, files: list[tuple[str, str]]) -> str:
    """A new database brought to `files` as a deployment of that time did (the migration files alone,
    before sql/functions existed); its URL."""
    url = create_database(server_url, "proposals_then")
    with psycopg.connect(url, autocommit=True) as conn, pytest.MonkeyPatch.context() as then:
        then.setattr(migrations, "migration_files", lambda: files)
        then.setattr(migrations, "function_files", list)
        assert migrations.migrate(conn) == [name for name, _ in files]
    return url


def test_the_baseline_replaces_every_migration_before_it():
    name, replaced = baseline()
    names = [name for name, _ in migrations.migration_files()]
    assert names[0] == name, "the baseline comes first"
    assert all(later > replaced[-1].name for later in names[1:]), "every later migration sorts after those it replaces"


@pytest.fixture(scope="module")
def fresh_url(server_url: str) -> Iterator[str]:
    """A database migrated from nothing today."""
    url = create_database(server_url, "proposals_fresh")
    with psycopg.connect(url, autocommit=True) as conn:
        assert migrations.migrate(conn) == [name for name, _ in migrations.migration_files()]
    yield url
    drop_database(server_url, url)


@pytest.fixture(scope="module")
def upgraded_urls(server_url: str) -> Iterator[dict[int, str]]:
    """For every k, a database brought to the landed migrations 1..k, then migrated today: for k = all
    of them the baseline is recorded without running, for fewer only what the rest left behind runs."""
    landed = landed_migrations()
    today = [name for name, _ in migrations.migration_files()]
    urls: dict[int, str] = {}
    try:
        for k in range(1, len(landed) + 1):
            urls[k] = migrated_then(server_url, landed[:k])
            with psycopg.connect(urls[k], autocommit=True) as conn:
                assert migrations.migrate(conn) == today
        yield urls
    finally:
        for url in urls.values():
            drop_database(server_url, url)


def test_every_older_database_migrates_to_the_schema_of_a_new_one(fresh_url, upgraded_urls):
    """Each has the schema of a new database, and migrating it again changes nothing."""
    with psycopg.connect(fresh_url) as conn:
        fresh = schema_of(conn)
    for k, url in upgraded_urls.items():
        with psycopg.connect(url, autocommit=True) as conn:
            upgraded = schema_of(conn)
            assert migrations.migrate(conn) == []
            assert schema_of(conn) == upgraded
        for kind in CATALOG:
            assert upgraded[kind] == fresh[kind], f"{kind} differ after migrations 1..{k}"


def pg_dumps() -> list[str]:
    """Every pg_dump here: Debian's, PATH's, then the embedded Postgres's own (the one that can dump the
    embedded server; tried last, since a newer pg_dump dumps more, such as statistics, than an older)."""
    embedded = importlib.util.find_spec("pgserver")
    found = [*sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True), shutil.which("pg_dump") or ""]
    if embedded and embedded.origin:
        found.append(str(Path(embedded.origin).parent / "pginstall" / "bin" / "pg_dump"))
    return [path for path in dict.fromkeys(found) if path and os.access(path, os.X_OK)]


def schema_dump(url: str) -> str:
    """`pg_dump --schema-only` of the database, by the first pg_dump that can dump its server (a pg_dump
    refuses a newer server), without the lines that differ on every run."""
    errors = []
    for pg_dump in pg_dumps():
        dumped = subprocess.run([pg_dump, "--schema-only", "--no-owner", url], capture_output=True, text=True)
        if dumped.returncode == 0:
            lines = dumped.stdout.splitlines()
            return "\n".join(line for line in lines if not line.startswith(("\\restrict", "\\unrestrict")))
        errors.append(f"{pg_dump}: {dumped.stderr.strip()}")
    pytest.skip(f"no pg_dump here can dump this server: {errors}")


def test_a_database_migrated_step_by_step_dumps_like_a_new_one(fresh_url, upgraded_urls):
    """What pg_dump sees beyond the catalog queries (column order, defaults, sequences, storage)."""
    fresh = schema_dump(fresh_url)
    for k, url in upgraded_urls.items():
        assert schema_dump(url) == fresh, f"pg_dump differs after migrations 1..{k}"


def test_clauses_written_before_search_terms_and_snippets_get_them(server_url):
    """A database that stopped before 0009 had clauses without search terms or snippet tokens: the
    baseline's last step gives them both, HTML-escaped, as the triggers do for any clause."""
    landed = landed_migrations()
    url = migrated_then(server_url, landed[: [name for name, _ in landed].index("0009_search_terms.sql")])
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO parties (id, name, short_name, kind) VALUES ('ru', 'Russia', 'Russia', 'state')")
            conn.execute(
                "INSERT INTO proposals (id, title, short_title, proposer_id, document_type, status, summary)"
                " VALUES ('p', 'P', 'P', 'ru', 'treaty', 'draft', 'P')"
            )
            conn.execute(
                "INSERT INTO clauses (id, proposal_id, position, label, summary, search, doc)"
                " VALUES ('c', 'p', 1, 'Article 1', 'No <b>deployments</b>', to_tsvector('english', 'deployments'),"
                """ '{"label": "Article 1", "excerpts": [], "summary": "No <b>deployments</b>"}')"""
            )
            migrations.migrate(conn)
            words, lexemes = conn.execute("SELECT snippet_words, snippet_lexemes FROM clauses").fetchone()
            terms = conn.execute("SELECT term::text FROM clause_search_terms WHERE clause_id = 'c'").fetchall()
        assert "".join(words) == "Article 1 … No &lt;b&gt;deployments&lt;/b&gt;"
        assert "deploy" in lexemes
        assert terms == [("'deploy'",)]
    finally:
        drop_database(server_url, url)


def test_a_database_that_applied_another_version_of_a_replaced_migration_is_refused(server_url):
    landed = landed_migrations()
    edited = [*landed[:3], (landed[3][0], landed[3][1] + "\n-- edited\n")]
    url = migrated_then(server_url, edited)
    try:
        with psycopg.connect(url, autocommit=True) as conn, pytest.raises(RuntimeError, match="is not the one"):
            migrations.migrate(conn)
    finally:
        drop_database(server_url, url)
