"""The fast path (api/http/fastpath.py) answers exactly as the Flask views would, and its bodies match
the OpenAPI document generated from the Marshmallow schemas."""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import time

import jsonschema
import orjson
import pytest
from psycopg_pool import PoolTimeout

from api import create_app
from api.config import Settings
from api.http import fastpath, logs
from api.http.fastpath import FastReads

TREATY = "us-russia-security-treaty"
TALK = "geneva-strategic-stability-2022-01-10"
RATE = re.compile(r";r=\d+;t=\d+")  # remaining and reset: both move between the two calls


def wsgi_layers(app) -> list:
    """The WSGI layers around Flask, outermost first (the request log, the turns, the fast path)."""
    layers, layer = [], app.wsgi_app
    while layer is not app and hasattr(layer, "app"):  # the fast path's `app` is the Flask app itself
        layers.append(layer)
        layer = layer.app
    return layers


def fast_layer(app) -> FastReads:
    [layer] = [layer for layer in wsgi_layers(app) if isinstance(layer, FastReads)]
    return layer


def environ(path: str, headers: dict[str, str]) -> dict:
    route, _, query = path.partition("?")
    env = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": route,
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.7",
        "HTTP_HOST": "api.example.org",
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    env |= {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return env


def call(wsgi_app, path: str, headers: dict[str, str] | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status, headers (the rate-limit count left out: it moves with every request) and body."""
    seen: dict = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"], seen["headers"] = status, response_headers

    body = wsgi_app(environ(path, {"X-Request-ID": "same-for-both", **(headers or {})}), start_response)
    data = b"".join(body)
    getattr(body, "close", lambda: None)()
    return seen["status"], [(k, RATE.sub(";r=N;t=N", v)) for k, v in seen["headers"]], data


def served_by_fast_path(app, path: str, headers: dict[str, str] | None = None) -> bool:
    layer = fast_layer(app)
    inner, calls = layer.inner, []
    layer.inner = lambda env, start: calls.append(1) or inner(env, start)
    try:
        call(layer, path, headers)
    finally:
        layer.inner = inner
    return not calls


HOT = [
    (f"/v1/proposals/{TREATY}", {}),
    (f"/v1/proposals/{TREATY}", {"If-None-Match": '"2.1"'}),
    (f"/v1/proposals/{TREATY}", {"If-None-Match": 'W/"1.999", "2.1;csv", "1.²", "2.99999999999"'}),
    (f"/v1/proposals/{TREATY}", {"If-None-Match": "*"}),
    (f"/v1/talks/{TALK}", {"If-None-Match": 'W/"1.1", W/"1.2"'}),
    (f"/v1/talks/{TALK}", {"Accept": "application/json"}),
    (f"/v1/clauses/{TREATY}-article-5", {}),
    ("/v1/parties/nato", {}),
    ("/v1/sources/sputnik-lavrov-security-guarantees", {}),
    ("/v1/talks", {}),
    ("/v1/talks?limit=2", {"Accept": "*/*"}),
    ("/v1/talks?limit=2", {"If-None-Match": "*"}),
    ("/v1/proposals?limit=1", {}),
    ("/v1/clauses?limit=3", {}),
    ("/v1/clauses?q=deployment&limit=2", {}),
    ("/v1/clauses?limit=5&q=nato", {}),
    ("/v1/clauses?q=zzzznothing", {}),
    ("/v1/clauses?q=the", {}),  # a stop word: no lexeme, no match
    ("/v1/clauses?q=1997&limit=1", {}),
]


@pytest.mark.parametrize(("path", "headers"), HOT)
def test_the_fast_path_answers_byte_for_byte_as_flask(app, path, headers):
    layer = fast_layer(app)
    assert served_by_fast_path(app, path, headers)
    assert call(layer, path, headers) == call(layer.inner, path, headers)


@pytest.mark.skipif(
    os.environ.get("PREPARED_STATEMENTS") == "off",
    reason="PREPARED_STATEMENTS=off, the run through pgbouncer in transaction mode: the version cache is never "
    "proven there (LISTEN does not reach its session), so no 304 comes from memory; the test above covers the rest",
)
@pytest.mark.parametrize(
    ("path", "if_none_match"),
    [(f"/v1/proposals/{TREATY}", "{}"), (f"/v1/talks/{TALK}", 'W/"1.1", W/{}'), ("/v1/parties/nato", "*")],
)
def test_a_304_from_the_version_cache_is_byte_for_byte_the_databases(app, monkeypatch, path, if_none_match):
    """The version cache (api/store/versions.py) answers without the database, with the same fields
    in the same order as the fast path's database read and as Flask."""
    layer, versions = fast_layer(app), app.extensions["versions"]
    ends = time.monotonic() + 5
    while not versions.proven:  # the listener proves itself within a second of the app's start
        assert time.monotonic() < ends, "the version cache was never proven"
        time.sleep(0.01)
    # A read from the database teaches the cache the item's version.
    etag = dict(call(layer, path)[1])["ETag"]
    headers = {"If-None-Match": if_none_match.replace("{}", etag)}
    proven = versions.proven
    versions.proven = False  # bypassed: the database answers, as with VERSION_CACHE=off
    try:
        from_database = call(layer, path, headers)
    finally:
        versions.proven = proven
    monkeypatch.setattr(fastpath, "lend", lambda *args, **kwargs: pytest.fail("asked the database"))
    from_memory = call(layer, path, headers)
    assert from_memory[0] == "304 NOT MODIFIED"
    assert from_memory == from_database == call(layer.inner, path, headers)


@pytest.mark.parametrize("first_page", ["/v1/talks?limit=2", "/v1/clauses?q=security&limit=2"])
def test_a_next_page_through_the_fast_path_is_the_same_page(app, first_page):
    layer = fast_layer(app)
    first = orjson.loads(call(layer, first_page)[2])
    path = f"{first_page}&cursor={first['next_cursor']}"
    assert served_by_fast_path(app, path)
    assert call(layer, path) == call(layer.inner, path)
    assert orjson.loads(call(layer, path)[2])["items"]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (f"/v1/proposals/{TREATY}?fields=id", {}),
        (f"/v1/proposals/{TREATY}?as_of=2022-01-01T00:00:00Z", {}),
        ("/v1/talks", {"Accept": "text/csv"}),
        ("/v1/talks?format=csv", {}),
        ("/v1/talks?limit=05", {}),
        ("/v1/talks?limit=201", {}),
        ("/v1/talks?limit=2&limit=3", {}),
        ("/v1/talks?party=russia", {}),
        ("/v1/clauses?q=nato+treaty", {}),
        ("/v1/talks?cursor=not-a-cursor", {}),
        ("/v1/proposals/no-such-proposal", {}),
        (f"/v1/proposals/{TREATY}", {"Authorization": "Bearer pat_1_xxxxxxxxxxxxxxxxxxxxxxxx"}),
        ("/v1/statements", {}),
    ],
)
def test_anything_else_is_left_to_flask(app, path, headers):
    assert not served_by_fast_path(app, path, headers)


def test_a_read_left_to_flask_is_counted_once(app):
    layer = fast_layer(app)

    def remaining(path: str) -> int:
        seen: dict = {}
        body = layer(environ(path, {}) | {"REMOTE_ADDR": "192.0.2.99"}, lambda s, h, e=None: seen.update(h=dict(h)))
        b"".join(body)
        return int(re.search(r"r=(\d+)", seen["h"]["RateLimit"])[1])

    # A 404 the fast path tried first, one it never took, and one it answered: one count each.
    paths = ["/v1/talks/no-such-talk", "/v1/talks?limit=05", "/v1/talks/no-such-talk", f"/v1/talks/{TALK}"]
    counts = [remaining(path) for path in paths]
    assert counts == list(range(counts[0], counts[0] - len(paths), -1))


def test_a_database_failure_in_the_fast_path_is_the_usual_503(app, monkeypatch):
    def unavailable(*args, **kwargs):
        raise PoolTimeout("no connection within the timeout")

    monkeypatch.setattr(fastpath, "lend", unavailable)
    monkeypatch.setitem(app.extensions, "bodies", None)  # an answer kept in memory would not ask the database
    status, headers, body = call(fast_layer(app), f"/v1/proposals/{TREATY}")
    assert status.startswith("503")
    assert dict(headers)["Retry-After"] == "1"
    assert orjson.loads(body)["detail"] == "The database is unavailable; try again shortly."


def test_statements_deallocated_under_the_fast_path_are_prepared_again(app, monkeypatch):
    """psycopg sends DEALLOCATE ALL after a transaction rolls back (a refused write): the read
    executor's prepared statements (api/store/executor.py) go with it, and must come back, not
    turn into 500s."""
    pool, conn = fastpath.lend(app.extensions, anonymous_read=True)
    conn.deadline = None  # lent for several requests here: no single request's deadline applies
    monkeypatch.setattr(fastpath, "lend", lambda extensions, anonymous_read: (pool, conn))
    monkeypatch.setattr(fastpath, "give_back", lambda pool, conn: None)
    try:
        path = f"/v1/proposals/{TREATY}"
        assert call(fast_layer(app), path)[0] == "200 OK"
        conn.execute("DEALLOCATE ALL")
        assert served_by_fast_path(app, path)
        assert call(fast_layer(app), path)[0] == "200 OK"
    finally:
        monkeypatch.undo()
        fastpath.give_back(pool, conn)


def test_a_statement_prepared_after_a_deallocate_is_not_prepared_twice(app, monkeypatch):
    """DEALLOCATE ALL can come between two of the read executor's statements: the one prepared
    before it is missing (prepared again), the one prepared after it is still there and must not be
    prepared again (that was a 500, DuplicatePreparedStatement, after a run of refused writes, when
    the fast path kept its own statement names)."""
    pool, conn = fastpath.lend(app.extensions, anonymous_read=True)
    monkeypatch.setattr(fastpath, "lend", lambda extensions, anonymous_read: (pool, conn))
    monkeypatch.setattr(fastpath, "give_back", lambda pool, conn: None)
    try:
        treaty, nato = f"/v1/proposals/{TREATY}", "/v1/parties/nato"
        assert call(fast_layer(app), treaty)[0] == "200 OK"
        conn.execute("DEALLOCATE ALL")
        for path in (nato, treaty, nato, treaty):
            assert served_by_fast_path(app, path)
            assert call(fast_layer(app), path)[0] == "200 OK", path
    finally:
        monkeypatch.undo()
        fastpath.give_back(pool, conn)


def test_a_connection_that_prepares_nothing_gets_no_prepared_statements(app, monkeypatch):
    """Behind pgbouncer in transaction mode (PREPARED_STATEMENTS=off) a statement prepared on one
    server connection is missing, or already there, on the next: the fast path must not prepare
    (psycopg prepares nothing on a connection whose prepare_threshold is None)."""
    pool, conn = fastpath.lend(app.extensions, anonymous_read=True)
    conn.deadline = None  # lent for several requests here: no single request's deadline applies
    monkeypatch.setattr(fastpath, "lend", lambda extensions, anonymous_read: (pool, conn))
    monkeypatch.setattr(fastpath, "give_back", lambda pool, conn: None)
    monkeypatch.setitem(app.extensions, "bodies", None)  # every read asks the database here
    threshold = conn.prepare_threshold
    try:
        conn.execute("DEALLOCATE ALL")
        conn.prepare_threshold = None
        for path in (f"/v1/proposals/{TREATY}", "/v1/clauses?q=deployment", "/v1/talks?limit=2"):
            assert served_by_fast_path(app, path)
            assert call(fast_layer(app), path)[0] == "200 OK"
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
        if threshold is not None:  # and one that prepares gets them
            conn.prepare_threshold = threshold
            assert call(fast_layer(app), f"/v1/proposals/{TREATY}")[0] == "200 OK"
            assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] >= 1
    finally:
        conn.prepare_threshold = threshold
        monkeypatch.undo()
        fastpath.give_back(pool, conn)


def response_schema(app, path_template: str) -> dict:
    spec = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    content = spec["paths"][path_template]["get"]["responses"]["200"]["content"]["application/json"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": spec["components"]} | content[
        "schema"
    ]


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (f"/v1/proposals/{TREATY}", "/v1/proposals/{proposal_id}"),
        (f"/v1/talks/{TALK}", "/v1/talks/{talk_id}"),
        (f"/v1/clauses/{TREATY}-article-5", "/v1/clauses/{clause_id}"),
        ("/v1/talks?limit=200", "/v1/talks"),
        ("/v1/proposals?limit=200", "/v1/proposals"),
        ("/v1/clauses?limit=200", "/v1/clauses"),
        ("/v1/clauses?q=deployment", "/v1/clauses"),
    ],
)
def test_what_the_fast_path_sends_matches_the_openapi_document(app, path, template):
    assert served_by_fast_path(app, path)
    status, _, body = call(fast_layer(app), path)
    assert status == "200 OK"
    jsonschema.validate(orjson.loads(body), response_schema(app, template))


def test_the_direct_access_line_is_the_one_the_formatter_writes():
    fields = {"method": "GET", "path": "/v1/talks", "route": "/v1/talks", "status": 200, "duration_ms": 1.23}
    fields |= {"request_id": "abc", "remote_addr": "192.0.2.7"}
    record = logs.ACCESS.makeRecord(logs.ACCESS.name, logging.INFO, __file__, 1, "request", (), None, extra=fields)
    expected = logs.JsonFormatter().format(record)
    assert orjson.dumps(logs.access_entry(fields, record.created, record.process)).decode() == expected


def test_a_fast_answer_reaches_the_server_as_a_list_and_is_logged(app, caplog):
    """granian sends a list in one piece; any other iterable chunk by chunk, a GIL handover each."""
    seen: dict = {}
    with caplog.at_level(logging.INFO, logger=logs.ACCESS.name):
        body = app.wsgi_app(
            environ(f"/v1/talks/{TALK}", {}), lambda status, headers, exc_info=None: seen.update(s=status)
        )
        assert isinstance(body, list) and seen["s"] == "200 OK"
        (line,) = [record for record in caplog.records if record.name == logs.ACCESS.name]
    assert (line.route, line.status) == ("/v1/talks/<talk_id>", 200)
    # Flask's answers too, made whole within their turn (api/http/serving.py), and logged at once.
    with caplog.at_level(logging.INFO, logger=logs.ACCESS.name):
        flask_body = app.wsgi_app(environ("/v1/talks/no-such-talk", {}), lambda *args: None)
        assert isinstance(flask_body, list)
        assert [record.status for record in caplog.records if record.name == logs.ACCESS.name][-1] == 404


def test_with_fast_path_off_every_request_takes_flask_and_gets_the_same_answer(app, database_url):
    """FAST_PATH=off (for measuring what the fast path gains) removes the layer, not the answers."""
    slow_app = create_app(Settings(database_url=database_url, fast_path=False, rate_limit_reads=1_000_000))
    try:
        assert not [layer for layer in wsgi_layers(slow_app) if isinstance(layer, FastReads)]
        for path, headers in HOT[:3] + HOT[9:11]:
            assert call(slow_app.wsgi_app, path, headers) == call(app.wsgi_app, path, headers)
    finally:
        slow_app.extensions["db_pool"].close()
