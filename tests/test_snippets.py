"""Clause search snippets cut from words parsed when the clause is written
(sql/functions/snippets.sql; first migration 0010): the parse joins back into the text, follows every
write, and marks the words of the query however they are inflected."""

from __future__ import annotations

import psycopg
import pytest

from api.store.dataset import seed
from api.store.migrate import migrate
from api.store.sql import q
from tests.conftest import SEARCH_DEFAULTS, save_clause

STALE = """
SELECT c.id FROM clauses c, snippet_tokens(clause_snippet_source(c.doc)) AS t
 WHERE c.snippet_words IS DISTINCT FROM html_escape_tokens(t.words) OR c.snippet_lexemes IS DISTINCT FROM t.lexemes
"""
FILLER = " ".join(["The Parties shall consult each other in good faith."] * 6)


def snippet(db: psycopg.Connection, text: str, query: str) -> str:
    return db.execute(
        "SELECT clause_snippet(html_escape_tokens(t.words), t.lexemes, tsquery_lexemes(websearch_to_tsquery('english', %s)))"
        "  FROM snippet_tokens(%s) AS t",
        (query, text),
    ).fetchone()[0]


@pytest.mark.parametrize(
    "text",
    [
        "Article 5 … The Parties shall refrain from deploying forces.",
        "NATO-Russia Council; non-proliferation of F-16s, see https://example.org/a?b=1 or mail@example.org.",
        "«Guillemets», “curly quotes”, tabs\tand\nnewlines, 3.5 km, v2.1 — and &amp; <b>tags</b>  twice  spaced ",
    ],
)
def test_the_words_join_back_into_the_text(db, text):
    words, lexemes = db.execute("SELECT words, lexemes FROM snippet_tokens(%s)", (text,)).fetchone()
    assert "".join(words) == text
    assert len(lexemes) == len(words)


def test_inflected_forms_of_the_query_are_marked(db):
    text = "Article 5 … The Parties shall refrain from deploying forces where such deployment threatens."
    assert snippet(db, text, "deploy") == (
        "Article 5 … The Parties shall refrain from <mark>deploying</mark> forces where such "
        "<mark>deployment</mark> threatens."
    )
    assert "<mark>Parties</mark>" in snippet(db, text, "party")
    assert "<mark>" not in snippet(db, text, "the")  # a stop word is no lexeme


def test_at_most_two_fragments_around_the_first_matches(db):
    text = f"Missiles first. {FILLER} Then missiles again. {FILLER} And missiles a third time. {FILLER}"
    found = snippet(db, text, "missile")
    first, second = found.split(" … ")
    assert first.startswith("<mark>Missiles</mark> first.")
    assert "Then <mark>missiles</mark> again." in second
    assert "third" not in found
    assert len(found) < len(text) / 2


def test_words_of_several_lexemes_are_marked_in_text_order(db):
    text = f"Forces first, then military. {FILLER}"
    assert snippet(db, text, "military forces").startswith("<mark>Forces</mark> first, then <mark>military</mark>.")


def test_a_text_without_the_query_gives_its_opening_words(db):
    assert snippet(db, f"Opening words here. {FILLER}", "zzzz").startswith("Opening words here. The Parties")
    assert len(snippet(db, f"Opening words here. {FILLER}", "zzzz").split()) <= 24


@pytest.mark.parametrize(
    ("query", "lexemes"),
    [
        ("'deploy' & !'forc'", ["deploy", "forc"]),
        ("'it''s' | 'back\\\\slash'", ["back\\slash", "it's"]),
        ("'deploy':A <-> 'troop'", ["deploy", "troop"]),
        ("", []),
    ],
)
def test_the_lexemes_of_a_query(db, query, lexemes):
    assert sorted(db.execute("SELECT tsquery_lexemes(%s::tsquery)", (query,)).fetchone()[0]) == lexemes


def test_every_seeded_clause_has_its_words_and_writes_keep_them(empty_database_url):
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn)
        seed(conn)
        assert conn.execute("SELECT count(*) FROM clauses WHERE snippet_words IS NULL").fetchone() == (0,)
        assert conn.execute(STALE).fetchall() == []
        with conn.transaction():
            changeset = conn.execute(q("new_changeset"), {"actor": "test"}).fetchone()[0]
            excerpt = conn.execute(
                "SELECT doc->'excerpts'->0 FROM clauses WHERE id = 'us-russia-security-treaty-article-5'"
            ).fetchone()[0]
            save_clause(
                conn,
                changeset,
                "us-russia-security-treaty-article-5",
                summary="Neither side keeps quokkas near the other.",
                excerpts=[dict(excerpt, text="No wombats either.")],
            )
        assert conn.execute(STALE).fetchall() == []
        for word, marked in (("quokka", "<mark>quokkas</mark>"), ("wombat", "<mark>wombats</mark>")):
            (row,) = conn.execute(q("search_clauses"), dict(SEARCH_DEFAULTS, q=word, limit=5)).fetchall()
            assert marked in row[0]

        # A clause whose words are missing is still searched, with ts_headline's snippet.
        conn.execute("UPDATE clauses SET snippet_words = NULL, snippet_lexemes = NULL")
        (row,) = conn.execute(q("search_clauses"), dict(SEARCH_DEFAULTS, q="quokkas", limit=5)).fetchall()
        assert "<mark>quokkas</mark>" in row[0]


@pytest.mark.parametrize(
    "words",
    [
        ["Article", " ", "5", " … ", "<b>", "&amp;", '"quoted"', "'s"],
        ["a\x01b", " ", "<"],  # a token holding the separator the fast path joins with
        ["only"],
        [],
    ],
)
def test_tokens_are_escaped_one_by_one(db, words):
    escaped = db.execute("SELECT html_escape_tokens(%s::text[])", (words,)).fetchone()[0]
    assert escaped == [db.execute("SELECT html_escape(%s)", (w,)).fetchone()[0] for w in words]
    assert db.execute("SELECT html_escape_tokens(NULL)").fetchone()[0] is None
