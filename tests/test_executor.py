"""The read executor (api/store/executor.py): a named query and its parameters in, a small page or
one row out, prepared by psycopg once per connection, or never when the connection prepares
nothing (PREPARED_STATEMENTS=off)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from api.collections import TALKS
from api.resources.reads import _list_query, item_query
from api.store.db import direct_connection
from api.store.executor import Page, read_page, read_row
from api.store.sql import q
from tests.conftest import SEARCH_DEFAULTS

TALK_FILTERS = {name: None for name in TALKS.filters} | {"sort": "starts_on"}  # every filter unset
FIRST = {"after_1": None, "after_2": None}


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection of the test's own, so that the statements prepared on it are the test's."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def talks(limit: int, **after: str | None) -> tuple[str, dict, int]:
    return _list_query("list_talks", "starts_on", "t"), TALK_FILTERS | FIRST | after, limit


def prepared(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]


def test_a_page_holds_the_stored_documents_the_last_keyset_and_the_version(conn):
    query, params, _ = talks(2)
    rows = conn.execute(query, params | {"limit": 3}).fetchall()  # what the query returns, read by psycopg
    version = conn.execute(q("collection_version"), {"collection": "talks"}).fetchone()[0]
    page = read_page(conn, query, params, 2)
    assert page == Page(tuple(row[0].encode() for row in rows[:2]), tuple(rows[1][1:3]), version)
    assert page.more


def test_the_last_page_says_there_is_no_more(conn):
    query, params, _ = talks(2)
    every = conn.execute(query, params | {"limit": 1000}).fetchall()
    page = read_page(conn, query, params, len(every))
    assert len(page.docs) == len(every) and page.keyset is None and not page.more
    after = read_page(conn, query, params | {"after_1": every[-2][1], "after_2": every[-2][2]}, 5)
    assert after.docs == (every[-1][0].encode(),) and not after.more


def test_an_empty_page_has_no_version(conn):
    query = _list_query("list_talks", "starts_on", "t")
    assert read_page(conn, query, TALK_FILTERS | FIRST | {"status": "no-such-status"}, 5) == Page((), None, None)


def test_a_row_comes_as_postgres_text_and_no_row_as_none(conn):
    query = item_query("item_current", "parties")
    row = read_row(conn, query, {"id": "nato", "any": False, "held": "{}"})
    stored = conn.execute("SELECT revision::text, doc::text FROM parties WHERE id = 'nato'").fetchone()
    revision, deleted, updated, doc = row
    assert (revision, deleted, doc) == (stored[0].encode(), b"f", stored[1].encode())
    assert updated.endswith(b" GMT")
    assert (
        read_row(conn, query, {"id": "nato", "any": False, "held": "{" + revision.decode() + "}"})[3] is None
    )  # held: not read
    assert read_row(conn, query, {"id": "no-such-party", "any": False, "held": "{}"}) is None


@pytest.mark.skipif(
    os.environ.get("PREPARED_STATEMENTS") == "off",
    reason="PREPARED_STATEMENTS=off (a transaction pooler): nothing is prepared, and pg_prepared_statements "
    "would be read on another server connection; the next test covers that setting",
)
def test_each_statement_is_prepared_once_per_connection(conn):
    conn.execute("DEALLOCATE ALL")
    query, params, limit = talks(2)
    read_page(conn, query, params, limit)
    assert prepared(conn) == 1
    read_page(conn, query, params, 3)  # another page size: the same statement
    read_page(conn, q("search_clauses_by_term"), {"q": "security", "after_1": None, "after_2": None}, 2)
    read_page(conn, q("search_clauses_by_term"), {"q": "treaty", "after_1": None, "after_2": None}, 20)
    assert prepared(conn) == 2
    statements = [row[0] for row in conn.execute("SELECT statement FROM pg_prepared_statements")]
    assert all("%(" not in text and "$1" in text for text in statements)  # psycopg numbered the parameters


def test_a_connection_that_prepares_nothing_runs_the_same_queries_unprepared(conn):
    conn.execute("DEALLOCATE ALL")
    conn.prepare_threshold = None  # PREPARED_STATEMENTS=off (api/store/db.py)
    query, params, limit = talks(2)
    assert read_page(conn, query, params, limit).more
    search = read_page(conn, q("search_clauses"), SEARCH_DEFAULTS | {"q": "security"}, 2)
    assert len(search.docs) == 2
    assert read_row(conn, item_query("item_current", "parties"), {"id": "nato", "any": False, "held": "{}"})
    assert prepared(conn) == 0


@pytest.mark.parametrize(("setting", "threshold"), [("off", None), ("on", 5)])
def test_the_command_line_connections_prepare_as_the_setting_says(database_url, monkeypatch, setting, threshold):
    """The CLI's connections (mirror, import, migrate) follow PREPARED_STATEMENTS as the pool's do:
    behind pgbouncer in transaction mode the mirror's per-change query, prepared on one server
    connection, was asked for by name on another (DuplicatePreparedStatement)."""
    if setting == "on" and os.environ.get("PREPARED_STATEMENTS") == "off":
        pytest.skip("through a transaction pooler pg_prepared_statements is read on another server connection")
    monkeypatch.setenv("PREPARED_STATEMENTS", setting)
    with direct_connection(database_url) as conn:
        assert conn.prepare_threshold == threshold
        for _ in range(8):  # past psycopg's threshold of 5
            conn.execute("SELECT 1 WHERE %s::int > 0", [1])
        assert prepared(conn) == (0 if threshold is None else 1)
