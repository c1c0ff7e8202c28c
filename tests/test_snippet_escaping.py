"""Search snippets are HTML (sql/functions/snippets.sql; first migration 0011): the stored text escaped, with no
tags but our own <mark> and </mark>, on every way a snippet is made: the words parsed when a clause is
written (the fast path's one-word search and Flask's filtered one), ts_headline for statements and for
clauses whose words are missing, and a database migrated with markup already stored."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest

from api import create_app
from api.config import Settings
from api.http.auth import create_token
from api.store import migrate
from api.store import sql as named_sql
from api.store.dataset import DATA_DIR, import_dataset
from api.store.sql import parse_queries, q
from api.store.sql import queries as named_queries
from tests.conftest import SEARCH_DEFAULTS, baseline, landed, landed_migrations, save_clause
from tests.support import create_seeded_database, drop_database
from tests.test_fastpath import call, fast_layer, served_by_fast_path

CLAUSE = "us-russia-security-treaty-article-5"
STATEMENT = "biden-shared-responsibility-and-allied-consultations"
ATTACK = "<img src=x onerror=alert(3)>"
# Markup, the five characters HTML gives a meaning, a fake mark, and the two control characters
# html_headline uses as its own marks.
MARKUP = f'Quokkas {ATTACK} & "wombats" aren\'t <mark>here</mark></mark> \x01 either \x02 <script>x</script>.'
ESCAPED = "&lt;img src=x onerror=alert(3)&gt; &amp; &quot;wombats&quot; aren&#x27;t "
FAKE_MARK = "&lt;mark&gt;here&lt;/mark&gt;&lt;/mark&gt;"  # ts_headline leaves out what its parser takes for tags


def assert_html_snippet(snippet: str, parsed_words: bool = True) -> None:
    """Only our marks are tags, each around a form of the searched word; the rest is escaped text."""
    assert re.findall(r"<mark>(.*?)</mark>", snippet) == ["Quokkas"]
    text = snippet.replace("<mark>", "").replace("</mark>", "")
    assert not set(text) & set("<>\"'")
    assert ESCAPED + (FAKE_MARK if parsed_words else "") in text
    assert ATTACK in html.unescape(text)


@pytest.fixture(scope="module")
def stored(server_url: str) -> Iterator[tuple]:
    """An app on a database of its own, where a clause and a statement hold MARKUP in their summary,
    written through the API."""
    url = create_seeded_database(server_url, "proposals_snippets")
    with psycopg.connect(url, autocommit=True) as conn:
        token = create_token(conn, "snippets", "write", None)
    app = create_app(Settings(database_url=url, rate_limit_reads=0, rate_limit_writes=0))
    client = app.test_client()
    for path in (f"/v1/clauses/{CLAUSE}", f"/v1/statements/{STATEMENT}"):
        etag = client.get(path).headers["ETag"]
        written = client.patch(
            path, json={"summary": MARKUP}, headers={"Authorization": f"Bearer {token}", "If-Match": etag}
        )
        assert written.status_code == 200, written.data
        assert client.get(path).get_json()["summary"] == MARKUP
    try:
        yield app, url
    finally:
        app.extensions["db_pool"].close()
        drop_database(server_url, url)


def snippets(app, path: str) -> list[str]:
    response = app.test_client().get(path)
    assert response.status_code == 200, response.data
    return [item["search"]["snippet"] for item in response.get_json()["items"]]


@pytest.mark.parametrize(
    ("path", "fast"),
    [
        ("/v1/clauses?q=quokkas", True),
        ("/v1/clauses?q=Quokka&limit=5", True),
        ("/v1/clauses?q=quokkas&proposal=us-russia-security-treaty", False),
        ("/v1/clauses?q=quokkas%20-zzzz", False),
        ("/v1/statements?q=quokkas", False),  # ts_headline
    ],
)
def test_stored_markup_is_escaped_in_snippets(stored, path, fast):
    app, _ = stored
    assert served_by_fast_path(app, path) is fast
    (snippet,) = snippets(app, path)
    assert_html_snippet(snippet, parsed_words=path.startswith("/v1/clauses"))
    if fast:
        layer = fast_layer(app)
        assert call(layer, path) == call(layer.inner, path)


def test_the_words_a_clause_is_written_with_are_stored_escaped(stored):
    _, url = stored
    with psycopg.connect(url, autocommit=True) as conn:
        words = conn.execute("SELECT snippet_words FROM clauses WHERE id = %s", (CLAUSE,)).fetchone()[0]
    assert "".join(words).endswith(html.escape(MARKUP))  # the summary closes the snippet's text


def test_ts_headline_snippets_are_escaped_too(stored, monkeypatch):
    """A clause whose parsed words are missing gets its snippet from ts_headline, on both paths."""
    app, url = stored
    # The words go missing behind the API's back (no revision, so no notice): a search answer kept
    # in memory (api/store/bodies.py) would not know, so this test reads the database every time.
    monkeypatch.setitem(app.extensions, "bodies", None)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE clauses SET snippet_words = NULL, snippet_lexemes = NULL WHERE id = %s", (CLAUSE,))
        try:
            for path in ("/v1/clauses?q=quokkas", "/v1/clauses?q=quokkas&proposal=us-russia-security-treaty"):
                (snippet,) = snippets(app, path)
                assert_html_snippet(snippet, parsed_words=False)
                assert "\x01" not in snippet and "\x02" not in snippet  # html_headline's own marks, all used up
        finally:
            conn.execute("UPDATE clauses SET doc = doc WHERE id = %s", (CLAUSE,))  # the trigger parses it again


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
        ("\"quoted\" 'single'", "&quot;quoted&quot; &#x27;single&#x27;"),
        ("&amp; stays visible as typed", "&amp;amp; stays visible as typed"),
        ("plain words, «unicode», \t tabs", "plain words, «unicode», \t tabs"),
    ],
)
def test_html_escape_is_pythons(db, text, expected):
    assert db.execute("SELECT html_escape(%s)", (text,)).fetchone() == (expected,)
    assert html.escape(text) == expected


def without_people(tmp_path: Path) -> Path:
    """The seed view in the shape a database from before people (migration 0013) stores: no people,
    no person ids (the save functions of that time take the records without them)."""
    document = orjson.loads((DATA_DIR / "dataset.json").read_bytes())
    changes = []
    for change in document["changes"]:
        if change["collection"] == "people":
            continue
        record = dict(change["record"])
        record.pop("speaker_id", None)
        if record.get("delegations"):
            record["delegations"] = [{k: v for k, v in d.items() if k != "head_id"} for d in record["delegations"]]
        changes.append(change | {"record": record})
    path = tmp_path / "dataset.json"
    path.write_bytes(orjson.dumps(document | {"changes": changes}))
    return path


def test_a_database_migrated_with_markup_stored_gets_escaped_words(empty_database_url, monkeypatch, tmp_path):
    before = [(name, text) for name, text in landed_migrations() if name < "0011"]
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        with monkeypatch.context() as then:  # as a deployment before 0011 migrated: no sql/functions
            then.setattr(migrate, "migration_files", lambda: before)
            then.setattr(migrate, "function_files", list)
            migrate.migrate(conn)
        # Record by record (bulk_import() came later), and changesets as that release drew them
        # (new_changeset() came with the change feed).
        then_queries = named_queries() | parse_queries(landed("sql/queries/records.sql").decode())
        with monkeypatch.context() as then:
            then.setattr(named_sql, "queries", lambda: then_queries)
            import_dataset(conn, without_people(tmp_path), bulk=False)
            with conn.transaction():
                changeset = conn.execute(q("new_changeset"), {"actor": "test"}).fetchone()[0]
                save_clause(conn, changeset, CLAUSE, summary=MARKUP)
        raw = conn.execute("SELECT snippet_words FROM clauses WHERE id = %s", (CLAUSE,)).fetchone()[0]
        assert "".join(raw).endswith(MARKUP)  # as migration 0010 keeps them
        assert baseline()[0] in migrate.migrate(conn)  # the rest of what it replaces, 0011 among them
        words = conn.execute("SELECT snippet_words FROM clauses WHERE id = %s", (CLAUSE,)).fetchone()[0]
        assert words == [html.escape(word) for word in raw]
        (row,) = conn.execute(q("search_clauses"), dict(SEARCH_DEFAULTS, q="quokkas", limit=5)).fetchall()
        assert_html_snippet(orjson.loads(row[0])["search"]["snippet"])
