"""`GET /v1/search`: one ranked search across every collection (api/resources/search.py, migration
0016, sql/functions/search_items.sql), through HTTP, plus the index it reads kept in step by writes."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest

from api import create_app
from api.collections import COLLECTIONS
from api.config import Settings
from api.http.auth import create_token
from api.store.migrate import migrate
from api.store.sql import q
from tests.support import create_seeded_database, drop_database, keyset_pages
from tests.test_fastpath import call, fast_layer, served_by_fast_path

HIT_FIELDS = ["type", "id", "url", "title", "snippet", "rank"]
COLLECTION_OF = {c.singular: c.name for c in COLLECTIONS.values() if c.searchable}  # a hit's type: its collection
ENLARGEMENT_ARTICLES = {"us-russia-security-treaty-article-4", "russia-nato-security-agreement-article-6"}
MISSILE_ARTICLES = {"us-russia-security-treaty-article-6", "russia-nato-security-agreement-article-5"}
EXPECTED_TERMS = """
SELECT lexeme_query(u.lexeme), -ts_rank(i.search, lexeme_query(u.lexeme)), i.type, i.id
  FROM search_items i, unnest(i.search) AS u ORDER BY 1, 2, 3, 4
"""
STORED_TERMS = "SELECT term, neg_rank, type, id FROM search_terms ORDER BY 1, 2, 3, 4"
ENTRIES = "SELECT type, id, collection, title, search, snippet_source, snippet_words FROM search_items ORDER BY 1, 2"
DEFAULTS = {"types": None, "site": "/v1/", "after_1": None, "after_2": None, "after_3": None}


def search(client, query: str, status: int = 200) -> dict:
    response = client.get(f"/v1/search?{query}")
    assert response.status_code == status, response.data
    return response.get_json()


def every_hit(client, query: str, limit: int = 200) -> list[dict]:
    """Every page of a search, following `next_cursor` and checking `Link` on the way."""
    hits: list[dict] = []
    cursor = None
    while True:
        path = f"/v1/search?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(path)
        assert response.status_code == 200, response.data
        page = response.get_json()
        hits += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            assert "Link" not in response.headers
            return hits
        assert f"cursor={cursor}" in response.headers["Link"]
        assert len(page["items"]) == limit


def ids(hits: list[dict], kind: str | None = None) -> set[str]:
    return {hit["id"] for hit in hits if kind is None or hit["type"] == kind}


def test_one_search_ranks_hits_of_every_kind_with_their_urls(client):
    hits = every_hit(client, "q=lavrov")
    assert {"talk", "source", "statement"} <= {hit["type"] for hit in hits}
    assert [list(hit) for hit in hits] == [HIT_FIELDS] * len(hits)
    order = [(-hit["rank"], hit["type"], hit["id"]) for hit in hits]
    assert order == sorted(order) and len(set(order)) == len(order)
    assert all(hit["rank"] > 0 and "<mark>" in hit["snippet"] for hit in hits)
    talk = next(hit for hit in hits if hit["id"] == "blinken-lavrov-geneva-2022-01-21")
    assert talk["url"] == "/v1/talks/blinken-lavrov-geneva-2022-01-21"
    assert talk["title"] == client.get(talk["url"]).get_json()["title"]
    for hit in hits:
        assert hit["url"] == f"/v1/{COLLECTION_OF[hit['type']]}/{hit['id']}"
        assert client.get(hit["url"]).status_code == 200


def test_urls_are_absolute_under_the_public_base_url(database_url):
    app = create_app(Settings(database_url=database_url, public_base_url="https://api.example.org"))
    try:
        hits = search(app.test_client(), "q=hotlines&type=clause")["items"]
        assert "https://api.example.org/v1/clauses/russia-nato-security-agreement-article-2" in [h["url"] for h in hits]
        assert all(hit["url"] == f"https://api.example.org/v1/clauses/{hit['id']}" for hit in hits)
    finally:
        app.extensions["db_pool"].close()


@pytest.mark.parametrize("word", ["expansion", "enlargement", "expanding", "widening", "Enlargements"])
def test_close_word_forms_find_the_enlargement_articles(client, word):
    hits = every_hit(client, f"q={word}")
    assert ids(hits, "clause") >= ENLARGEMENT_ARTICLES
    assert {"us-russia-security-treaty", "russia-nato-security-agreement"} <= ids(hits, "proposal")


def test_every_form_of_a_synonym_group_finds_the_same_hits_with_the_same_ranks(client):
    found = [every_hit(client, f"q={word}") for word in ("expansion", "enlargement", "widening")]
    assert found[0] == found[1] == found[2]


@pytest.mark.parametrize("query", ["intermediate-range", "intermediate range", "INF", '"intermediate-range"'])
def test_intermediate_range_finds_the_missile_articles(client, query):
    assert ids(every_hit(client, f"q={quote(query)}&type=clause")) >= MISSILE_ARTICLES


def test_a_drill_finds_the_clauses_on_military_exercises(client, db):
    tagged = {row[0] for row in db.execute("SELECT id FROM clauses WHERE 'military-exercises' = ANY (topics)")}
    assert len(tagged) > 1
    assert tagged <= ids(every_hit(client, "q=drills&type=clause"))


def test_a_word_of_a_topic_name_finds_every_clause_tagged_with_it(client, db):
    topics = db.execute(
        "SELECT t, array_agg(id::text) FROM clauses, unnest(topics) AS t WHERE deleted_at IS NULL GROUP BY t"
    ).fetchall()
    assert len(topics) > 10
    for topic, tagged in topics:
        for word in topic.split("-"):
            if db.execute("SELECT numnode(plainto_tsquery('english', %s))", (word,)).fetchone()[0] == 0:
                continue  # a stop word ("into" of entry-into-force) matches nothing anywhere
            assert set(tagged) <= ids(every_hit(client, f"q={word}&type=clause")), (topic, word)


def test_an_excluded_word_removes_its_hits_and_the_rest_keep_their_ranks(client, db):
    everything = {hit["id"]: hit for hit in every_hit(client, "q=nato")}
    hits = every_hit(client, "q=nato%20-ukraine")
    assert 0 < len(hits) < len(everything)
    for hit in hits:
        assert hit["rank"] == everything[hit["id"]]["rank"] > 0.01
        entry = db.execute(
            "SELECT search @@ to_tsquery('english', 'ukraine') FROM search_items WHERE type = %s AND id = %s",
            (hit["type"], hit["id"]),
        ).fetchone()
        assert entry == (False,)
    assert "russia-nato-security-agreement-article-6" in everything  # it names Ukraine
    assert "russia-nato-security-agreement-article-6" not in ids(hits)
    phrase = every_hit(client, "q=nato%20-%22south%20caucasus%22")
    assert "russia-nato-security-agreement-article-7" in everything
    assert "russia-nato-security-agreement-article-7" not in ids(phrase) and phrase


@pytest.mark.parametrize("query", ["q=", "q=%20%20", "q=-ukraine", "q=-ukraine%20-south", "q=-", "q=--x", "q=a%00b"])
def test_an_empty_or_only_excluding_search_is_a_400_naming_q(client, query):
    problem = search(client, query, 400)
    assert problem["status"] == 400 and problem["title"] == "Bad Request"
    assert {error["parameter"] for error in problem["errors"]} == {"q"}


@pytest.mark.parametrize(
    ("query", "parameter"), [("", "q"), ("q=nato&type=treaty", "type"), ("q=nato&limit=0", "limit")]
)
def test_a_missing_or_bad_parameter_is_a_400(client, query, parameter):
    problem = search(client, query, 400)
    assert parameter in {error["parameter"] for error in problem["errors"]}


@pytest.mark.parametrize("query", ["q=the%20of", "q=!!!", "q=-ukraine%20-%22south%20caucasus%22"])
def test_a_search_of_stop_words_punctuation_or_an_excluded_phrase_finds_nothing(client, query):
    assert search(client, query) == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("query", ["q=nato", "q=nato%20-ukraine", "q=security%20guarantees", "q=expansion"])
def test_pages_follow_each_other_without_gaps_or_repeats(client, query):
    whole = every_hit(client, query)
    assert len(whole) > 3
    for limit in (1, 2, 7):
        assert every_hit(client, query, limit) == whole


def test_a_cursor_is_refused_under_another_search(client):
    cursor = search(client, "q=nato&limit=2")["next_cursor"]
    problem = search(client, f"q=russia&limit=2&cursor={cursor}", 400)
    assert problem["errors"][0]["parameter"] == "cursor"


def test_types_narrow_the_hits_in_the_same_order(client):
    whole = every_hit(client, "q=geneva")
    narrowed = every_hit(client, "q=geneva&type=talk,statement")
    assert narrowed == [hit for hit in whole if hit["type"] in {"talk", "statement"}]
    assert every_hit(client, "q=nato&type=party") == [
        hit for hit in every_hit(client, "q=nato") if hit["type"] == "party"
    ]


def test_a_search_is_a_list_with_an_etag_and_csv(client):
    first = client.get("/v1/search?q=hotlines")
    assert first.headers["Content-Type"] == "application/json"
    again = client.get("/v1/search?q=hotlines", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    csv = client.get("/v1/search?q=hotlines&format=csv")
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    assert csv.data.decode().splitlines()[0] == ",".join(HIT_FIELDS)


@pytest.mark.parametrize("path", ["/v1/search?q=nato", "/v1/search?q=Geneva&limit=3", "/v1/search?q=zzzz"])
def test_a_one_word_search_takes_the_fast_path_with_flasks_answer(app, path):
    assert served_by_fast_path(app, path)
    assert call(fast_layer(app), path) == call(fast_layer(app).inner, path)


def test_a_fast_cursor_serves_the_next_page_in_flask_too(app, client):
    cursor = search(client, "q=nato&limit=2")["next_cursor"]
    path = f"/v1/search?q=nato&limit=2&cursor={cursor}"
    assert call(fast_layer(app), path) == call(fast_layer(app).inner, path)
    assert not served_by_fast_path(app, "/v1/search?q=nato%20-ukraine")
    assert not served_by_fast_path(app, "/v1/search?limit=2")


def pages(conn: psycopg.Connection, sql: str, word: str, limit: int) -> list[list[tuple]]:
    return keyset_pages(conn, sql, dict(DEFAULTS, q=word), limit, keys=3)


def test_a_one_word_page_from_the_index_is_the_page_of_ranking_every_match(db):
    """The index branch of search_all (search_terms) gives the same pages as ranking every match."""
    switch = "numnode(m.query) <> 1 AS full_scan"
    assert switch in q("search_all")
    full_scan = q("search_all").replace(switch, "true AS full_scan")
    words = [row[0] for row in db.execute("SELECT DISTINCT word FROM ts_stat('SELECT search FROM search_items')")]
    assert len(words) > 300
    for word in [*words[::7], "nato", "Security", "geneva", "zzzz"]:
        for limit in (1, 4):
            assert pages(db, q("search_all"), word, limit) == pages(db, full_scan, word, limit), word


@pytest.fixture(scope="module")
def written(server_url: str) -> Iterator[tuple]:
    """An app on a database of its own, with a write token."""
    url = create_seeded_database(server_url, "proposals_search")
    with psycopg.connect(url, autocommit=True) as conn:
        token = create_token(conn, "search", "write", None)
    app = create_app(Settings(database_url=url, rate_limit_reads=0, rate_limit_writes=0))
    try:
        yield app, url, {"Authorization": f"Bearer {token}"}
    finally:
        app.extensions["db_pool"].close()
        drop_database(server_url, url)


def test_writes_and_deletions_keep_the_search_current(written):
    app, url, auth = written
    client = app.test_client()
    path = "/v1/talks/osce-russia-consultations-2022-01-13"
    assert search(client, "q=quokkas")["items"] == []
    etag = client.get(path).headers["ETag"]
    patched = client.patch(path, json={"summary": "Quokkas <b>&</b> wombats met."}, headers=auth | {"If-Match": etag})
    assert patched.status_code == 200, patched.data
    [hit] = search(client, "q=quokka")["items"]
    assert (hit["type"], hit["id"]) == ("talk", "osce-russia-consultations-2022-01-13")
    assert "<mark>Quokkas</mark> &lt;b&gt;&amp;&lt;/b&gt; wombats met." in hit["snippet"]
    assert "Quokkas <b>&</b> wombats met." in html.unescape(re.sub(r"</?mark>", "", hit["snippet"]))
    deleted = client.delete(path, headers=auth | {"If-Match": patched.headers["ETag"]})
    assert deleted.status_code == 204, deleted.data
    assert search(client, "q=quokkas")["items"] == []
    assert "osce-russia-consultations-2022-01-13" not in ids(every_hit(client, "q=osce"))
    with psycopg.connect(url) as conn:
        assert conn.execute(STORED_TERMS).fetchall() == conn.execute(EXPECTED_TERMS).fetchall()


def test_markup_in_any_text_is_escaped_in_titles_untouched_and_snippets_escaped(written):
    app, _, auth = written
    client = app.test_client()
    record = {
        "id": "markup-source",
        "publisher": "<script>alert(1)</script> Press",
        "title": 'Wombats & "quolls" <i>here</i>',
        "url": None,
        "published_on": "2022-01-01",
        "description": "It's <img src=x onerror=alert(2)> about quolls.",
    }
    created = client.post("/v1/sources", json=record, headers=auth)
    assert created.status_code == 201, created.data
    [hit] = search(client, "q=quolls")["items"]
    assert hit["title"] == record["title"]  # JSON text, as in the item itself
    assert hit["snippet"] == (
        "Wombats &amp; &quot;<mark>quolls</mark>&quot; &lt;i&gt;here&lt;/i&gt; … &lt;script&gt;alert(1)&lt;/script&gt; "
        "Press … It&#x27;s &lt;img src=x onerror=alert(2)&gt; about <mark>quolls</mark>."
    )


def test_migrate_fills_the_search_of_a_database_that_has_none(written):
    _, url, _ = written
    with psycopg.connect(url, autocommit=True) as conn:
        before = conn.execute(ENTRIES).fetchall()
        assert {row[0] for row in before} == set(COLLECTION_OF)
        conn.execute("TRUNCATE search_items")
        conn.execute("DELETE FROM term_pages WHERE kind = 'item'")
        migrate(conn)
        assert conn.execute(ENTRIES).fetchall() == before
        assert conn.execute(STORED_TERMS).fetchall() == conn.execute(EXPECTED_TERMS).fetchall()


@pytest.mark.parametrize(
    ("query", "positive"),
    [
        ("nato -ukraine", "nato "),
        ('-"south caucasus" nato', " nato"),
        ("nato-russia council", "nato-russia council"),
        ("a -b -c", "a  "),
        ('x -"unclosed', "x "),
    ],
)
def test_the_ranked_part_of_a_search_leaves_out_its_excluded_terms(db, query, positive):
    assert db.execute("SELECT search_positive(%s)", (query,)).fetchone() == (positive,)


def test_migrate_rebuilds_every_entry_when_the_functions_that_build_them_change(written):
    _, url, _ = written
    with psycopg.connect(url, autocommit=True) as conn:
        before = conn.execute(ENTRIES).fetchall()
        conn.execute("UPDATE search_items SET title = 'built by an older search_document'")
        migrate(conn)  # the same definitions: nothing is rebuilt
        assert {row[0] for row in conn.execute("SELECT DISTINCT title FROM search_items")} == {
            "built by an older search_document"
        }
        conn.execute("UPDATE search_definition SET digest = 'an older one'")
        migrate(conn)
        assert conn.execute(ENTRIES).fetchall() == before


def test_a_clause_is_titled_with_its_proposals_short_title_as_it_changes(written):
    app, _, auth = written
    client = app.test_client()
    article_2 = "russia-nato-security-agreement-article-2"
    [hit] = [hit for hit in search(client, "q=hotlines&type=clause")["items"] if hit["id"] == article_2]
    assert hit["title"] == "Article 2, Russia-NATO security agreement (draft)"
    path = "/v1/proposals/russia-nato-security-agreement"
    etag = client.get(path).headers["ETag"]
    patched = client.patch(path, json={"short_title": "NATO draft"}, headers=auth | {"If-Match": etag})
    assert patched.status_code == 200, patched.data
    [hit] = [hit for hit in search(client, "q=hotlines&type=clause")["items"] if hit["id"] == article_2]
    assert hit["title"] == "Article 2, NATO draft"


def test_types_repeated_mean_the_same_as_a_comma_list(client):
    assert search(client, "q=nato&type=talk&type=party") == search(client, "q=nato&type=talk,party")
    assert {hit["type"] for hit in search(client, "q=nato&type=talk&type=party")["items"]} == {"talk", "party"}
