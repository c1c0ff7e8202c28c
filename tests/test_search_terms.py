"""Single-word search reads its page from clause_search_terms (sql/functions/search.sql; first migration 0009):
the same page, ranks and order as ranking every match, kept in step by writes and deletions."""

from __future__ import annotations

import psycopg
import pytest

from api.store.dataset import seed
from api.store.migrate import migrate
from api.store.sql import q
from tests.conftest import SEARCH_DEFAULTS, save_clause
from tests.support import keyset_pages

EXPECTED_TERMS = """
SELECT lexeme_query(u.lexeme), -ts_rank(c.search, lexeme_query(u.lexeme)), c.id
  FROM clauses c, unnest(c.search) AS u WHERE c.deleted_at IS NULL ORDER BY 1, 2, 3
"""
STORED_TERMS = "SELECT term, neg_rank, clause_id FROM clause_search_terms ORDER BY 1, 2, 3"


def full_scan(sql: str) -> str:
    """The same query with the index branch switched off: every match ranked, as before."""
    switch = "numnode(websearch_to_tsquery('english', %(q)s)) = 1"
    assert switch in sql
    return sql.replace(switch, "false")


def pages(conn: psycopg.Connection, sql: str, word: str, limit: int) -> list[list[tuple]]:
    return keyset_pages(conn, sql, dict(SEARCH_DEFAULTS, q=word), limit, keys=2)


def test_every_word_pages_alike_from_the_index_and_by_ranking_every_match(db):
    words = [row[0] for row in db.execute("SELECT DISTINCT word FROM ts_stat('SELECT search FROM clauses')")]
    assert len(words) > 100
    for word in [*words, "deployments", "Security", "nato-russia", "zzzz", "the", "1997"]:
        for limit in (1, 3, 20):
            expected = pages(db, full_scan(q("search_clauses")), word, limit)
            assert pages(db, q("search_clauses"), word, limit) == expected
            if "-" not in word:  # the fast path's query for one word (api/http/fastpath.py)
                assert pages(db, q("search_clauses_by_term"), word, limit) == expected


def test_the_index_follows_the_clauses_through_writes_and_deletions(empty_database_url):
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn)
        seed(conn)
        assert conn.execute(STORED_TERMS).fetchall() == conn.execute(EXPECTED_TERMS).fetchall()
        with conn.transaction():
            changeset = conn.execute(q("new_changeset"), {"actor": "test"}).fetchone()[0]
            save_clause(
                conn,
                changeset,
                "us-russia-security-treaty-article-5",
                summary="Neither side keeps quokkas near the other.",
            )
            conn.execute(
                "SELECT delete_item('clauses', 'us-russia-security-treaty-article-8', %s, now(), 'test')",
                (changeset,),
            )
        stored = conn.execute(STORED_TERMS).fetchall()
        assert stored == conn.execute(EXPECTED_TERMS).fetchall()
        assert not [row for row in stored if row[2] == "us-russia-security-treaty-article-8"]
        found = conn.execute(q("search_clauses"), dict(SEARCH_DEFAULTS, q="quokkas", limit=5)).fetchall()
        assert [row[2] for row in found] == ["us-russia-security-treaty-article-5"]


@pytest.mark.parametrize("word", ["o'brien", "back\\slash", "quote''d"])
def test_a_lexeme_with_quotes_or_backslashes_is_its_own_query(db, word):
    assert db.execute("SELECT array_to_tsvector(ARRAY[%s]) @@ lexeme_query(%s)", (word, word)).fetchone() == (True,)
    assert db.execute("SELECT numnode(lexeme_query(%s))", (word,)).fetchone() == (1,)
