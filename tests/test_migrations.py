"""Migrations: applied once each, in order, recorded, and guarded against edits."""

import psycopg
import pytest

from api.store import migrate as migrations


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
