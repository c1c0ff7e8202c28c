"""The change feed, `GET /v1/changes`: commit order under concurrent writers, paging, filters, bad
input, polling with 304, cursors that survive an export and import, and the Atom feed."""

from __future__ import annotations

import base64
import threading
import uuid
from pathlib import Path

import orjson
import psycopg
import pytest
from psycopg.types.json import Jsonb

from api import create_app
from api.config import Settings
from api.http.auth import create_token
from api.resources.changes import START, decode_cursor
from api.resources.export import export_lines
from api.store.dataset import import_dataset
from api.store.migrate import migrate
from tests.support import UNKNOWN_CURSOR, create_database, drop_database, new_talk, until

ORDERED = "SELECT r.collection, r.item_id, r.revision FROM revisions r ORDER BY r.seq"


def identities(items: list[dict]) -> list[tuple[str, str, int]]:
    return [(item["collection"], item["id"], item["revision"]) for item in items]


def walk(client, cursor: str | None = None, limit: int = 200, **params: str) -> tuple[list[dict], str]:
    """Every change from `cursor` to the head, page by page: the changes and the position to poll from."""
    seen: list[dict] = []
    while True:
        response = client.get(
            "/v1/changes", query_string={"limit": limit, **params} | ({"cursor": cursor} if cursor else {})
        )
        params.pop("since", None)  # the next pages go on with `cursor`
        assert response.status_code == 200, response.data
        body = response.get_json()
        seen += body["items"]
        cursor = body["next_cursor"]
        assert cursor
        if len(body["items"]) < limit:
            return seen, cursor


@pytest.fixture(scope="module")
def feed_app(own_database_url):
    app = create_app(
        Settings(
            database_url=own_database_url,
            rate_limit_writes=1_000_000,
            rate_limit_reads=1_000_000,
            pool_max_size=8,
        )
    )
    app.config["TESTING"] = True
    yield app
    app.extensions["db_pool"].close()


@pytest.fixture
def feed(feed_app):
    return feed_app.test_client()


def test_the_feed_lists_every_revision_once_in_commit_order(feed, own_database_url):
    seen, head = walk(feed, limit=37)
    with psycopg.connect(own_database_url) as conn:
        stored = [tuple(row) for row in conn.execute(ORDERED)]
    assert identities(seen) == stored
    assert seen[-1]["cursor"] == head  # at the head, the next position is the newest change's
    first = seen[0]
    assert set(first) == {
        "collection",
        "id",
        "revision",
        "valid_from",
        "recorded_at",
        "actor",
        "note",
        "deleted",
        "changeset",
        "url",
        "cursor",
    }
    assert first["url"] == f"/v1/{first['collection']}/{first['id']}/revisions/{first['revision']}"
    assert feed.get(first["url"]).status_code == 200
    recorded = [item["recorded_at"] for item in seen]
    assert recorded == sorted(recorded)


def test_writers_in_threads_while_a_reader_walks_the_feed(feed_app, feed, own_database_url):
    """API writes and importer-style writes commit while a reader pages through the feed, 3 at a time:
    it sees every committed revision exactly once, in seq order."""
    _, start = walk(feed)
    with psycopg.connect(own_database_url, autocommit=True) as conn:
        token = create_token(conn, f"feed-{uuid.uuid4().hex[:6]}", "write", None)
    talk_ids = [f"feed-talk-{uuid.uuid4().hex[:6]}-{n}" for n in range(2)]
    stop = threading.Event()
    failures: list[str] = []

    def api_writer(talk_id: str) -> None:
        client = feed_app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        created = client.post("/v1/talks", json=new_talk(talk_id), headers=headers)
        if created.status_code != 201:
            failures.append(created.data.decode())
            return
        etag = created.headers["ETag"]
        for n in range(15):
            patched = client.patch(
                f"/v1/talks/{talk_id}",
                json={"summary": f"Changed {n} times while the feed is read."},
                headers=headers | {"If-Match": etag, "Content-Type": "application/merge-patch+json"},
            )
            if patched.status_code != 200:
                failures.append(patched.data.decode())
                return
            etag = patched.headers["ETag"]

    def sql_writer() -> None:
        with psycopg.connect(own_database_url) as conn:
            for n in range(15):
                with conn.transaction():
                    changeset = conn.execute("SELECT id FROM new_changeset('feed-test')").fetchone()[0]
                    record = conn.execute(
                        "SELECT doc::jsonb - 'revision' - 'updated_at' FROM sources WHERE id = %s",
                        ("sputnik-lavrov-security-guarantees",),
                    ).fetchone()[0]
                    record["description"] = f"Described again ({n}) while the feed is read."
                    conn.execute("SELECT save_sources(%s, %s, now(), 'test')", (Jsonb(record), changeset))

    writers = [threading.Thread(target=api_writer, args=(talk_id,)) for talk_id in talk_ids]
    writers.append(threading.Thread(target=sql_writer))
    for writer in writers:
        writer.start()
    seen: list[dict] = []
    cursor = start
    try:
        while not stop.is_set():
            running = any(writer.is_alive() for writer in writers)
            response = feed.get("/v1/changes", query_string={"limit": 3, "cursor": cursor})
            assert response.status_code == 200
            body = response.get_json()
            seen += body["items"]
            cursor = body["next_cursor"]
            if not running and len(body["items"]) < 3:
                stop.set()
    finally:
        for writer in writers:
            writer.join()
    assert not failures
    with psycopg.connect(own_database_url) as conn:
        after = decode_cursor(start, "cursor")
        stored = [
            tuple(row)
            for row in conn.execute(
                "SELECT collection, item_id, revision FROM revisions WHERE seq > %s ORDER BY seq", (after.seq,)
            )
        ]
    assert len(stored) >= 2 * 16 + 15  # each new talk created and patched 15 times; the source 15 times
    assert identities(seen) == stored  # each once, in seq order, none skipped


def test_filters_snapshot_and_the_link(feed):
    response = feed.get("/v1/changes", query_string={"collection": "talks", "limit": 2, "include": "snapshot"})
    assert response.status_code == 200
    body = response.get_json()
    assert [item["collection"] for item in body["items"]] == ["talks", "talks"]
    item = body["items"][0]
    assert item["snapshot"] == feed.get(item["url"]).get_json()["item"]
    assert body["next_cursor"] == body["items"][-1]["cursor"]
    link = response.headers["Link"]
    assert link.startswith("</v1/changes?") and link.endswith('>; rel="next"')
    following = feed.get(link[1 : -len('>; rel="next"')])
    assert following.status_code == 200
    assert all(item["collection"] == "talks" for item in following.get_json()["items"])
    assert response.headers["Cache-Control"] == "public, max-age=86400"  # a full page never changes


def test_since_an_instant_and_since_a_cursor(feed):
    everything, _ = walk(feed)
    assert identities(walk(feed, since="2000-01-01T00:00:00Z")[0]) == identities(everything)
    late = feed.get("/v1/changes", query_string={"since": "2100-01-01T00:00:00+02:00"}).get_json()
    assert late["items"] == [] and late["next_cursor"] == everything[-1]["cursor"]
    middle = everything[10]
    by_since = feed.get("/v1/changes", query_string={"since": middle["cursor"], "limit": 5}).get_json()
    by_cursor = feed.get("/v1/changes", query_string={"cursor": middle["cursor"], "limit": 5}).get_json()
    assert by_since == by_cursor
    assert identities(by_cursor["items"]) == identities(everything[11:16])
    instant = everything[-1]["recorded_at"]
    assert feed.get("/v1/changes", query_string={"since": instant}).get_json()["items"] == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"c1:zz:talks:x:1:1").decode().rstrip("=")}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"c1:0123456789abcdef:nope:x:1:1").decode().rstrip("=")}, "cursor"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2022-01-01T00:00:00"}, "since"),  # no zone
        ({"since": "2022-13-01T00:00:00Z"}, "since"),
        ({"since": "2022-01-01T00:00:00Z", "cursor": START}, "since"),
        ({"collection": "planets"}, "collection"),
        ({"limit": "0"}, "limit"),
        ({"include": "everything"}, "include"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(feed, query, parameter):
    response = feed.get("/v1/changes", query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert parameter in {error.get("parameter") for error in response.get_json().get("errors", [])}


def test_a_cursor_naming_a_revision_not_held_here_is_a_409_with_retry_after(feed):
    unknown = UNKNOWN_CURSOR
    response = feed.get("/v1/changes", query_string={"cursor": unknown})
    assert response.status_code == 409
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["errors"] == [{"parameter": "cursor", "detail": "Unknown here."}]
    # The instance it is: a mirror tells another origin from a replica that has not caught up yet.
    assert response.headers["Instance-Id"] == feed.get("/v1/changes").headers["Instance-Id"]


def test_the_head_answers_304_until_something_is_committed(feed, own_database_url):
    _, head = walk(feed)
    polled = feed.get("/v1/changes", query_string={"cursor": head})
    assert polled.status_code == 200 and polled.get_json() == {"items": [], "next_cursor": head}
    assert polled.headers["Cache-Control"] == "public, max-age=5"
    etag = polled.headers["ETag"]
    again = feed.get("/v1/changes", query_string={"cursor": head}, headers={"If-None-Match": f"W/{etag}"})
    assert again.status_code == 304 and again.headers["ETag"] == etag and again.data == b""
    assert again.headers["Cache-Control"] == "public, max-age=5"
    with psycopg.connect(own_database_url) as conn:
        changeset = conn.execute("SELECT id FROM new_changeset('feed-test')").fetchone()[0]
        record = conn.execute("SELECT doc::jsonb - 'revision' - 'updated_at' FROM parties WHERE id = 'osce'").fetchone()
        conn.execute(
            "SELECT save_parties(%s, %s, now(), 'polled')",
            (Jsonb(record[0] | {"name": f"OSCE {uuid.uuid4()}"}), changeset),
        )
    # This worker hears of a commit made elsewhere by its version cache's notice (docs/deploy.md,
    # "Version cache"): within a bound, not at once.
    until(
        lambda: (
            feed.get("/v1/changes", query_string={"cursor": head}, headers={"If-None-Match": etag}).status_code == 200
        ),
        "the head's ETag moves on",
    )
    news = feed.get("/v1/changes", query_string={"cursor": head}, headers={"If-None-Match": etag})
    assert news.status_code == 200 and news.headers["ETag"] != etag
    assert identities(news.get_json()["items"])[0][:2] == ("parties", "osce")


def test_an_empty_database_starts_at_the_beginning(empty_database_url):
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn)
    app = create_app(Settings(database_url=empty_database_url))
    try:
        client = app.test_client()
        body = client.get("/v1/changes").get_json()
        assert body == {"items": [], "next_cursor": START}
        assert client.get("/v1/changes", query_string={"cursor": START}).get_json() == body
        assert client.get("/v1/changes", query_string={"since": "2020-01-01T00:00:00Z"}).get_json() == body
        atom = client.get("/v1/changes.atom")
        assert atom.status_code == 200 and atom.mimetype == "application/atom+xml"
    finally:
        app.extensions["db_pool"].close()


def test_a_cursor_survives_export_and_import(feed, own_database_url, server_url, tmp_path: Path):
    """On a database rebuilt from an export, a cursor from the first resumes at the same place or a
    little before it (the start of the commit that holds its revision there): nothing is skipped."""
    everything, _ = walk(feed)
    path = tmp_path / "export.ndjson"
    with psycopg.connect(own_database_url) as conn:
        path.write_bytes(b"".join(export_lines(conn)))
    copy_url = create_database(server_url, "proposals_feed_copy")
    try:
        with psycopg.connect(copy_url, autocommit=True) as conn:
            migrate(conn)
            import_dataset(conn, path)
        app = create_app(Settings(database_url=copy_url))
        try:
            copy = app.test_client()
            for index in (0, len(everything) // 3, len(everything) // 2, len(everything) - 2):
                cursor = everything[index]["cursor"]
                resumed, _ = walk(copy, cursor)
                rest = set(identities(everything[index + 1 :]))
                assert rest <= set(identities(resumed))  # nothing after the cursor is missed
                again = set(identities(resumed)) - rest
                assert len(again) < 40  # at most the rest of one commit comes again
            assert copy.get("/v1/changes", query_string={"cursor": everything[-1]["cursor"]}).status_code == 200
        finally:
            app.extensions["db_pool"].close()
    finally:
        drop_database(server_url, copy_url)


def test_a_writer_holds_the_feed_lock_until_it_commits(own_database_url):
    """new_changeset takes the feed's lock: while one writer's transaction is open, no other can draw a
    changeset, so revisions commit in seq order."""
    with psycopg.connect(own_database_url) as first, psycopg.connect(own_database_url) as second:
        first.execute("SELECT id FROM new_changeset('first')")
        assert second.execute("SELECT pg_try_advisory_xact_lock(7302159002)").fetchone()[0] is False
        second.rollback()
        first.rollback()
        assert second.execute("SELECT pg_try_advisory_xact_lock(7302159002)").fetchone()[0] is True
        second.rollback()


def atom(response, location: str = "http://localhost/v1/changes.atom"):
    """The feed as a feed reader sees it: feedparser, told the response's type and the feed's URL."""
    import feedparser

    headers = {"content-type": response.headers["Content-Type"], "content-location": location}
    return feedparser.parse(response.data, response_headers=headers)


def test_the_atom_feed_parses_newest_first_with_links_and_escaped_text(feed, feed_app, own_database_url):
    note = 'Checked <b>again</b> & "quoted" — ü, imported with a \x0b in it'
    with psycopg.connect(own_database_url) as conn:
        changeset = conn.execute("SELECT id FROM new_changeset('atom <test> & co')").fetchone()[0]
        record = conn.execute("SELECT doc::jsonb - 'revision' - 'updated_at' FROM parties WHERE id = 'nato'").fetchone()
        conn.execute(
            "SELECT save_parties(%s, %s, now(), %s)",
            (Jsonb(record[0] | {"name": f"NATO <{uuid.uuid4().hex[:6]}>"}), changeset, note),
        )
    response = feed.get("/v1/changes.atom", query_string={"limit": 5})
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    parsed = atom(response, "https://reader.example/v1/changes.atom?limit=5")
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert len(parsed.entries) == 5
    newest = parsed.entries[0]
    revision = feed.get("/v1/parties/nato").get_json()["revision"]
    assert newest.title == f"Party “{feed.get('/v1/parties/nato').get_json()['name']}” revised (revision {revision})"
    assert note.replace("\x0b", "\ufffd") in newest.summary and "atom <test> & co" in newest.summary
    assert newest.author == "atom <test> & co"
    assert newest.id.startswith("urn:uuid:")
    links = {(link.rel, link.type): link.href for link in newest.links}
    assert links[("alternate", "application/json")] == f"https://reader.example/v1/parties/nato/revisions/{revision}"
    assert newest.link == links[("alternate", "text/html")]  # what a feed reader opens
    assert links[("alternate", "text/html")] == f"https://reader.example/explore/parties/nato/history?to={revision}"
    assert links[("related", "application/json-patch+json")].endswith(f"/v1/parties/nato/revisions/{revision}/diff")
    assert links[("related", "application/json")] == "https://reader.example/v1/parties/nato"
    updated = [entry.updated_parsed for entry in parsed.entries]
    assert updated == sorted(updated, reverse=True)  # newest first
    # The entry ids name revisions, not positions: the same revision keeps its id when the feed moves on.
    older = atom(feed.get("/v1/changes.atom", query_string={"limit": 10}))
    assert [entry.id for entry in older.entries[:5]] == [entry.id for entry in parsed.entries]
    assert len({entry.id for entry in older.entries}) == 10
    # Polling: 304 until something is committed.
    again = feed.get("/v1/changes.atom", query_string={"limit": 5}, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    only = atom(feed.get("/v1/changes.atom", query_string={"collection": "talks"}))
    assert only.entries and all("/explore/talks/" in entry.link for entry in only.entries)


def test_the_atom_feed_links_under_public_base_url(own_database_url):
    app = create_app(Settings(database_url=own_database_url, public_base_url="https://api.example.org/base"))
    try:
        parsed = atom(app.test_client().get("/v1/changes.atom", headers={"Host": "forged.example"}))
        assert parsed.bozo == 0
        hrefs = [link.href for entry in parsed.entries for link in entry.links] + [
            link.href for link in parsed.feed.links
        ]
        assert hrefs and all(href.startswith("https://api.example.org/base/") for href in hrefs)
        assert "forged" not in str(parsed)
    finally:
        app.extensions["db_pool"].close()


def test_the_fast_path_serves_the_feed_and_its_polls_byte_for_byte_as_flask(app):
    from tests.test_fastpath import call, fast_layer, served_by_fast_path

    layer = fast_layer(app)
    first = call(layer, "/v1/changes?limit=3")
    cursor = orjson.loads(first[2])["next_cursor"]
    while True:  # to the head
        page = orjson.loads(call(layer, f"/v1/changes?cursor={cursor}&limit=200")[2])
        if len(page["items"]) < 200:
            break
        cursor = page["next_cursor"]
    head = page["next_cursor"]
    etag = dict(call(layer, f"/v1/changes?cursor={head}")[1])["ETag"]
    for path, headers in [
        ("/v1/changes?limit=3", {}),
        (f"/v1/changes?cursor={cursor}&limit=2", {}),
        (f"/v1/changes?cursor={head}", {}),
        (f"/v1/changes?cursor={head}", {"If-None-Match": etag}),
        ("/v1/changes", {"If-None-Match": etag}),
    ]:
        assert served_by_fast_path(app, path, headers), path
        assert call(layer, path, headers) == call(layer.inner, path, headers)
    assert call(layer, f"/v1/changes?cursor={head}", {"If-None-Match": etag})[0].startswith("304")
    assert not served_by_fast_path(app, "/v1/changes?collection=talks")
    assert not served_by_fast_path(app, "/v1/changes?cursor=garbage!")
