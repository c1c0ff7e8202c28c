"""The one-word search index in pages (term_pages, sql/functions/search.sql; migration 0019).

term_pages_item (a write) and term_pages_apply (an import's batch) send each added or removed entry
to the page of its lexeme that holds its place (a batch writes a lexeme again whole when it brings
many entries), and cut a page past twice the size. These tests check its result against a model, then search through lexemes of many pages. Each
runs in a transaction that is rolled back; the page size is made small there (term_page_size() is
a function the transaction can replace) so that a few hundred entries make many pages."""

from __future__ import annotations

import random
from collections.abc import Iterator

import psycopg
import pytest

from api.store.sql import q
from tests import test_search, test_search_terms

LEXEME = "zzqx"  # in no text of the seed


@pytest.fixture
def rolled_back(db: psycopg.Connection) -> Iterator[psycopg.Connection]:
    with db.transaction(force_rollback=True):
        yield db


def page_size(conn: psycopg.Connection, size: int) -> None:
    conn.execute(
        f"CREATE OR REPLACE FUNCTION term_page_size() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT {size} $$"
    )


def apply(conn: psycopg.Connection, changes: list[tuple[float, str, int]]) -> None:
    """Adds (op 1) or removes (op -1) entries (neg_rank, key, op) of LEXEME in one batch."""
    conn.execute("SELECT term_changes_open()")
    with conn.cursor().copy("COPY term_changes (kind, lexeme, neg_rank, key, op) FROM STDIN") as copy:
        for neg_rank, key, op in changes:
            copy.write_row(("clause", LEXEME, neg_rank, key, op))
    conn.execute("SELECT term_pages_apply()")


def write_one(conn: psycopg.Connection, neg_rank: float, key: str, op: int) -> None:
    """As a write's trigger does, for one item with LEXEME alone (term_pages_item)."""
    conn.execute("SELECT term_pages_item('clause', %s, ARRAY[%s], ARRAY[%s::real], %s)", (key, LEXEME, neg_rank, op))


def stored_pages(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT last_neg_rank, last_key, neg_ranks, keys FROM term_pages"
        " WHERE kind = 'clause' AND lexeme = %s ORDER BY last_neg_rank, last_key",
        (LEXEME,),
    ).fetchall()


def check(conn: psycopg.Connection, model: dict[str, float], size: int) -> list[tuple]:
    """The pages hold the model's entries in (neg_rank, key) order, none empty or past twice the
    size, each named by its last entry."""
    pages = stored_pages(conn)
    entries = [entry for _, _, ranks, keys in pages for entry in zip(ranks, keys, strict=True)]
    assert entries == sorted((rank, key) for key, rank in model.items())
    for last_rank, last_key, ranks, keys in pages:
        assert 0 < len(keys) <= 2 * size
        assert (last_rank, last_key) == (ranks[-1], keys[-1])
    return pages


def test_a_batch_for_a_new_lexeme_is_cut_into_pages_of_the_size(rolled_back):
    page_size(rolled_back, 10)
    model = {f"k{n:03d}": -(n % 7) / 8 for n in range(45)}  # ties on the rank, ordered by key
    apply(rolled_back, [(rank, key, 1) for key, rank in model.items()])
    assert [len(keys) for *_, keys in check(rolled_back, model, 10)] == [10, 10, 10, 10, 5]


def test_a_batch_of_twenty_at_most_makes_one_page(rolled_back):
    page_size(rolled_back, 10)
    model = {f"k{n:03d}": -n / 4 for n in range(20)}
    apply(rolled_back, [(rank, key, 1) for key, rank in model.items()])
    assert len(check(rolled_back, model, 10)) == 1


@pytest.mark.parametrize("one_by_one", [True, False], ids=["term_pages_item", "term_pages_apply"])
def test_small_writes_go_to_their_pages_and_split_them(rolled_back, one_by_one):
    """As writes come: a few entries at a time, before, between and past the pages."""
    page_size(rolled_back, 4)
    chosen = random.Random(17)
    model: dict[str, float] = {}
    keys = [f"c-{n:04d}" for n in range(400)]
    for _ in range(300):
        batch: list[tuple[float, str, int]] = []
        for _ in range(chosen.randint(1, 3)):
            key = chosen.choice(keys)
            if any(k == key for _, k, _ in batch):  # an item's entry changes once a batch
                continue
            if key in model:
                batch.append((model.pop(key), key, -1))
            else:
                model[key] = -chosen.randint(0, 12) / 16
                batch.append((model[key], key, 1))
        if one_by_one:
            for change in batch:
                write_one(rolled_back, *change)
        else:
            apply(rolled_back, batch)
        check(rolled_back, model, 4)
    assert len(stored_pages(rolled_back)) > 10  # many pages were made and split on the way


def test_a_large_batch_writes_its_lexeme_again_whole(rolled_back):
    page_size(rolled_back, 10)
    model = {f"a{n:03d}": -(n % 5) / 4 for n in range(30)}
    apply(rolled_back, [(rank, key, 1) for key, rank in model.items()])
    added = {f"b{n:03d}": -(n % 3) / 4 for n in range(200)}  # many beside the 30 there
    removed = ["a000", "a007", "a029"]
    apply(rolled_back, [(rank, key, 1) for key, rank in added.items()] + [(model[k], k, -1) for k in removed])
    for key in removed:
        del model[key]
    model.update(added)
    pages = check(rolled_back, model, 10)
    assert [len(keys) for *_, keys in pages] == [10] * 22 + [7]  # cut again from the start


def test_removing_every_entry_leaves_no_page(rolled_back):
    page_size(rolled_back, 3)
    model = {f"k{n}": -n / 2 for n in range(9)}
    apply(rolled_back, [(rank, key, 1) for key, rank in model.items()])
    for n, (key, rank) in enumerate(model.items()):
        if n % 2:
            apply(rolled_back, [(rank, key, -1)])
        else:
            write_one(rolled_back, rank, key, -1)
    assert stored_pages(rolled_back) == []


def test_searches_page_alike_through_lexemes_of_many_pages(rolled_back):
    """Every word of the seed in pages of two: a search's keyset crosses pages at every limit."""
    page_size(rolled_back, 2)
    rolled_back.execute("SELECT term_pages_rebuild()")
    assert rolled_back.execute("SELECT max(cardinality(keys)) FROM term_pages").fetchone() == (4,)
    assert rolled_back.execute("SELECT count(*) > 1000 FROM term_pages").fetchone() == (True,)
    words = [row[0] for row in rolled_back.execute("SELECT DISTINCT word FROM ts_stat('SELECT search FROM clauses')")]
    for word in [*words[::5], "security", "nato"]:
        for limit in (1, 3):
            expected = test_search_terms.pages(
                rolled_back, test_search_terms.full_scan(q("search_clauses")), word, limit
            )
            assert test_search_terms.pages(rolled_back, q("search_clauses"), word, limit) == expected, word
            if "-" not in word:  # the fast path's query for one word (api/http/fastpath.py)
                by_term = test_search_terms.pages(rolled_back, q("search_clauses_by_term"), word, limit)
                assert by_term == expected, word
    full_scan = q("search_all").replace("numnode(m.query) <> 1 AS full_scan", "true AS full_scan")
    items = [
        row[0] for row in rolled_back.execute("SELECT DISTINCT word FROM ts_stat('SELECT search FROM search_items')")
    ]
    for word in [*items[::9], "nato", "geneva"]:
        for limit in (1, 3):
            expected = test_search.pages(rolled_back, full_scan, word, limit)
            assert test_search.pages(rolled_back, q("search_all"), word, limit) == expected, word
