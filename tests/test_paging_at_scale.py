"""Keyset paging and search on 10,000 synthetic clauses: every row once, indexes used."""

import json
import threading

import psycopg
import pytest

from api import create_app
from api.config import Settings
from api.store.migrate import migrate
from api.store.sql import q

PROPOSALS, CLAUSES_EACH = 400, 25  # 10,000 clauses
WORDS = ["deployment", "missiles", "consultations", "territory", "security", "exercises", "forces", "treaty"]

# Written set-wise as an import writes (bulk_import): the row triggers stand aside and the one-word
# search pages are built once at the end; row by row they rewrite a page per word of each clause.
SYNTHESIZE = """
SELECT set_config('proposals.bulk', 'on', true);
INSERT INTO sources (id, publisher, description) VALUES ('synthetic', 'tests', 'Made up for paging tests.');
INSERT INTO parties (id, name, short_name, kind) VALUES ('alpha', 'Alpha', 'Alpha', 'state');
INSERT INTO proposals (id, title, short_title, proposer_id, document_type, status, summary)
SELECT format('p-%s', lpad(n::text, 4, '0')), 'Synthetic', 'Synthetic', 'alpha', 'treaty', 'draft', 'Made up.'
  FROM generate_series(1, {proposals}) AS n;
INSERT INTO clauses (id, proposal_id, position, label, summary, topics)
SELECT format('p-%s-c-%s', lpad(p::text, 4, '0'), c), format('p-%s', lpad(p::text, 4, '0')), c,
       format('Article %s', c), format('Clause about %s and %s, see annex%s.', ({words})[1 + (p * 7 + c) % 8],
              ({words})[1 + (p + c * 3) % 8], p),
       '{{}}'
  FROM generate_series(1, {proposals}) AS p, generate_series(1, {each}) AS c;
UPDATE clauses SET search = to_tsvector('english', label || ' ' || summary), revision = 1, updated_at = now();
UPDATE clauses c SET doc = doc_clauses(c);
SELECT set_config('proposals.bulk', 'off', true);
SELECT term_pages_rebuild();
"""


@pytest.fixture(scope="module")
def big(server_url):
    from tests.conftest import create_database, drop_database

    url = create_database(server_url, "proposals_big")
    words = "ARRAY[" + ",".join(f"'{w}'" for w in WORDS) + "]"
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        conn.execute(SYNTHESIZE.format(proposals=PROPOSALS, each=CLAUSES_EACH, words=words))
        conn.execute("VACUUM ANALYZE")  # as autovacuum would: flushes the GIN pending list, gathers statistics
    app = create_app(Settings(database_url=url))
    yield url, app.test_client()
    app.extensions["db_pool"].close()
    drop_database(server_url, url)


def test_walking_every_page_sees_each_row_once_while_rows_are_inserted(big):
    url, client = big
    stop = threading.Event()

    def insert_more():
        with psycopg.connect(url, autocommit=True) as conn:
            n = 0
            while not stop.is_set() and n < 500:
                n += 1
                proposal = f"p-{(n * 37) % PROPOSALS + 1:04d}"
                conn.execute(
                    "INSERT INTO clauses (id, proposal_id, position, label, summary, doc, revision)"
                    " VALUES (%s, %s, %s, 'New', 'Inserted while paging.', '{}'::json, 1)",
                    (f"{proposal}-new-{n}", proposal, 1000 + n),
                )

    writer = threading.Thread(target=insert_more)
    writer.start()
    seen: list[str] = []
    cursor = None
    try:
        while True:
            response = client.get(
                "/v1/clauses", query_string={"limit": 200, "fields": "id"} | ({"cursor": cursor} if cursor else {})
            )
            assert response.status_code == 200
            body = response.get_json()
            seen += [item["id"] for item in body["items"] if "id" in item]
            cursor = body["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        writer.join()
    originals = [s for s in seen if "-new-" not in s]
    assert len(originals) == PROPOSALS * CLAUSES_EACH
    assert len(set(seen)) == len(seen)  # nothing twice, inserted rows included


def _plan(conn: psycopg.Connection, query: str, params: dict) -> str:
    rows = conn.execute("EXPLAIN (FORMAT JSON) " + query, params).fetchone()[0]
    return json.dumps(rows)


def _scans_of_clauses(plan: str) -> set[str]:
    found = set()

    def walk(node: dict) -> None:
        if node.get("Relation Name") == "clauses" or node.get("Index Name", "").startswith("clauses_"):
            found.add(node["Node Type"] + ":" + node.get("Index Name", ""))
        for child in node.get("Plans", []):
            walk(child)

    walk(json.loads(plan)[0]["Plan"])
    return found


def test_search_and_deep_pages_use_the_indexes(big):
    url, _ = big
    base = {"q": None, "proposal": None, "topic": None, "party": None, "quoted": None, "responds_to": None, "limit": 21}
    with psycopg.connect(url, autocommit=True) as conn:
        search = _plan(conn, q("search_clauses"), base | {"q": "annex123", "after_1": None, "after_2": None})
        assert "Bitmap Index Scan:clauses_search_idx" in _scans_of_clauses(search)
        assert not any(scan.startswith("Seq Scan") for scan in _scans_of_clauses(search))
        deep = _plan(conn, q("list_clauses"), base | {"after_1": "p-0390", "after_2": "7", "after_3": "p-0390-c-7"})
        assert _scans_of_clauses(deep) == {"Index Scan:clauses_document_order_idx"}
        first = _plan(conn, q("list_clauses"), base | {"after_1": None, "after_2": None, "after_3": None})
        assert _scans_of_clauses(first) == _scans_of_clauses(deep)
