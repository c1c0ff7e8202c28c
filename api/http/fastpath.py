"""The hottest anonymous reads, answered without Flask's per-request machinery.

A plain `GET` of one item, or of a list page with nothing but `limit`, `cursor` (and `q` for
clauses and `/v1/search`), costs one indexed query; Flask's request context, webargs, the response object and
six hooks cost several times that in Python. This WSGI layer sits inside the request log
(api/http/logs.py), so access lines and metrics are the same, and answers those requests itself,
through the same code the views use (`api.resource.read_item`, `read_list`) and with the same
headers the hooks add (a test compares the two paths byte for byte, tests/test_fastpath.py).

It only ever answers 200 or 304. Anything else goes to the Flask app untouched: another
method, a token, an Accept header other than JSON, any other query parameter or an unusual
spelling of one, an unknown or deleted item, a bad cursor, a client over its rate limit. The
read is counted once either way (the count travels in the request's `Exchange`,
api/http/exchange.py), and a database error met here is raised again inside Flask, so it gets
the same 503 without a second wait.

Longer than most modules (about 390 lines): the routing it accepts, the libpq calls it makes
with their deadline, and the answer it builds belong together, and a test holds all of it to
Flask's answers byte for byte.
"""

from __future__ import annotations

import itertools
import logging
import re
import select
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from time import monotonic

import psycopg
from flask import Flask, request
from psycopg import errors, pq
from psycopg.generators import execute
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date

from api.collections import COLLECTIONS
from api.config import Settings
from api.http import ratelimit
from api.http.caching import REVALIDATE, shared_policy
from api.http.conditional import etag_matches, held_revisions, make_etag
from api.http.exchange import Exchange
from api.http.headers import REQUEST_ID, closing_headers, oversized_fields
from api.resources.paging import public_url
from api.resources.reads import ListQuery, Reply, is_id, item_query, read_list
from api.resources.search import SEARCH
from api.store.db import DeadlineConnection, give_back, lend

ACCEPTED = frozenset({"*/*", "application/json"})  # Accept values that select JSON for every route here
ITEMS = {collection.name: collection.singular for collection in COLLECTIONS.values()}
ITEM_PATH = re.compile(r"/v1/(" + "|".join(ITEMS) + r")/([^/]+)")
# Query values taken as they are: any other spelling goes to Flask, which decodes and validates it.
LIMIT_VALUE = re.compile(r"[1-9][0-9]{0,5}")  # then compared with MAX_PAGE_SIZE
CURSOR_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,1000}")
WORD_VALUE = re.compile(r"[A-Za-z0-9]{1,100}")
INVALID_SQL_STATEMENT_NAME = b"26000"
STATUS_LINES = {200: "200 OK", 304: "304 NOT MODIFIED"}
NAMED = re.compile(r"%\((\w+)\)s")
STATEMENT_NAMES: dict[str, str] = {}
STATEMENT_NUMBERS = itertools.count(1)
log = logging.getLogger("proposals_api")

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


@dataclass(frozen=True)
class ListRoute:
    """A list as its view reads it when no filter is given: the same filters, spec and defaults."""

    rule: str
    spec: ListQuery | None  # None: `q` is required (Flask answers its absence)
    filters: dict
    search: ListQuery | None = None  # with `q`: the ranked search
    site: bool = False  # its query takes `site`, what the URLs it writes start with (`/v1/search`)


def _defaults(schema: object, names: Iterable[str]) -> dict:
    """The filters the view passes when the query string names none: read from its schema."""
    loaded = schema.load({})  # type: ignore[attr-defined]
    return {name: loaded[name] for name in names}


LISTS = {
    f"/v1/{collection.name}": ListRoute(
        f"/v1/{collection.name}",
        collection.listing,
        _defaults(collection.query_schema(), collection.filters),
        search=replace(collection.search, page_query=collection.fast_search_query)  # type: ignore[type-var]
        if collection.fast_search_query
        else None,
    )
    for collection in COLLECTIONS.values()
    if collection.fast_list
}
# One search across every collection (api/resources/search.py), for a one-word `q`.
LISTS["/v1/search"] = ListRoute(
    "/v1/search", None, {"types": None}, search=replace(SEARCH, page_query=SEARCH.query), site=True
)


class FastReads:
    """WSGI middleware in front of the Flask app: see the module docstring."""

    def __init__(self, app: Flask, inner: WsgiApp, settings: Settings) -> None:
        self.app = app
        self.inner = inner
        self.settings = settings
        self.cache_control = shared_policy(settings.cache_shared_max_age) or REVALIDATE

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or "HTTP_AUTHORIZATION" in environ
            or environ.get("HTTP_ACCEPT", "*/*") not in ACCEPTED
            or oversized_fields(environ) is not None  # Flask answers 431
        ):
            return self.inner(environ, start_response)
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        route = LISTS.get(path)
        if route is not None:
            read = self._list_reader(route, query)
            rule = route.rule
        else:
            match = ITEM_PATH.fullmatch(path)
            if match is None or query or not is_id(match.group(2)):
                return self.inner(environ, start_response)
            collection, item_id = match.groups()
            singular = ITEMS[collection]
            rule = f"/v1/{collection}/<{singular}_id>"

            def read(conn: psycopg.Connection, if_none_match: str | None, environ: dict) -> Reply | None:
                return self._read_item(conn, collection, item_id, if_none_match)

        if read is None:
            return self.inner(environ, start_response)
        return self._answer(environ, start_response, rule, read)

    def _list_reader(self, route: ListRoute, query: str) -> Callable | None:
        """The page read for a query string of `limit`, `cursor` (and `q`) only, else None."""
        given: dict[str, str] = {}
        for part in query.split("&") if query else ():
            name, equals, value = part.partition("=")
            if not equals or name in given:
                return None
            if name == "limit":
                if not LIMIT_VALUE.fullmatch(value) or int(value) > self.settings.max_page_size:
                    return None
            elif name == "cursor":
                if not CURSOR_VALUE.fullmatch(value):
                    return None
            elif name == "q" and route.search is not None:
                if not WORD_VALUE.fullmatch(value):
                    return None
            else:
                return None
            given[name] = value
        spec, filters = route.spec, route.filters
        if "q" in given:
            spec, filters = route.search, dict(filters, q=given["q"])  # type: ignore[assignment]
        if spec is None:
            return None
        limit = int(given["limit"]) if "limit" in given else self.settings.default_page_size
        extensions = self.app.extensions
        public_base_url = self.settings.public_base_url

        def read(conn: psycopg.Connection, if_none_match: str | None, environ: dict) -> Reply:
            script_root = environ.get("SCRIPT_NAME", "").rstrip("/")
            return read_list(
                conn,
                extensions,
                spec,  # type: ignore[arg-type]
                dict(filters, site=public_url(public_base_url, script_root, "/v1/")) if route.site else filters,
                limit=limit,
                cursor=given.get("cursor"),
                if_none_match=if_none_match,
                base_url=public_url(public_base_url, script_root, route.rule),
                args=given.items(),
                fetch=lambda query, params: self._fetch(conn, query, params),
            )

        return read

    def _fetch(self, conn: psycopg.Connection, query: str, params: dict) -> list[tuple]:
        """A page query through libpq: rows of (JSON as bytes, keyset values as text, version).

        `read_list` reads the version of the first row (every row has the same) and the keyset
        values of one row, the last of a full page, for the next cursor: only those are decoded;
        the other rows carry None in their places."""
        text, names = positional(query)
        values = [_text(params[name]) for name in names]
        result = self._run(conn, _statement_name(query), text, values)
        count, width = result.ntuples, result.nfields
        if not count:
            return []
        version = int(result.get_value(0, width - 1))
        unread = (None,) * (width - 2)
        rows = [(result.get_value(row, 0), *unread, version) for row in range(count)]
        last = params["limit"] - 2  # `limit` asks for one row more than the page holds
        if 0 <= last < count - 1:
            keys = (result.get_value(last, column).decode() for column in range(1, width - 1))
            rows[last] = (rows[last][0], *keys, version)
        return rows

    def _read_item(self, conn: psycopg.Connection, table: str, item_id: str, if_none_match: str | None) -> Reply | None:
        """`read_item` in one round trip, through libpq: None for an unknown or deleted item."""
        star, held = held_revisions(if_none_match)
        params = [item_id.encode(), b"t" if star else b"f", ("{" + ",".join(map(str, held)) + "}").encode()]
        result = self._run(conn, f"item_fast_{table}", item_query("item_fast", table), params)
        if result.ntuples != 1 or result.get_value(0, 1) == b"t":
            return None  # Flask answers 404 or 410
        revision, last_modified, doc = result.get_value(0, 0), result.get_value(0, 2), result.get_value(0, 3)
        etag = make_etag(revision.decode())
        if if_none_match and etag_matches(if_none_match, etag):
            return Reply(304, etag)
        if doc is None:
            return None  # the client's tags named this revision after all: let Flask decide
        return Reply(200, etag, doc, last_modified_http=last_modified.decode() if last_modified else None)

    def _run(self, conn: DeadlineConnection, name: str, query: str, params: list[bytes | None]) -> pq.abc.PGresult:
        """One statement straight through libpq, prepared once per connection unless the
        connection prepares nothing (PREPARED_STATEMENTS=off, behind pgbouncer in transaction
        mode): psycopg's cursor costs three times the round trip here. Values travel as text;
        the answer is waited for as psycopg waits for any (`_answer_to`), within the request's
        deadline."""
        pgconn = conn.pgconn
        if conn.prepare_threshold is None:
            pgconn.send_query_params(query.encode(), params)
            result = _answer_to(conn)
        else:
            prepared: set[str] = conn.__dict__.setdefault("_fast_path_statements", set())
            result = self._exec_prepared(conn, prepared, name, query, params)
            if result.error_field(pq.DiagnosticField.SQLSTATE) == INVALID_SQL_STATEMENT_NAME:
                # psycopg sends DEALLOCATE ALL after a rolled-back transaction on this connection
                # (a refused write): prepare this one again, once. Only this one: a statement
                # prepared since the DEALLOCATE is still there, and preparing it again would fail.
                prepared.discard(name)
                result = self._exec_prepared(conn, prepared, name, query, params)
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise _error(conn, result)
        return result

    @staticmethod
    def _exec_prepared(
        conn: DeadlineConnection, prepared: set[str], name: str, query: str, params: list[bytes | None]
    ) -> pq.abc.PGresult:
        if name not in prepared:
            conn.pgconn.send_prepare(name.encode(), query.encode())
            done = _answer_to(conn)
            if done.status != pq.ExecStatus.COMMAND_OK:
                raise _error(conn, done)
            prepared.add(name)
        conn.pgconn.send_query_prepared(name.encode(), params)
        return _answer_to(conn)

    def _answer(self, environ: dict, start_response: Callable, rule: str, read: Callable) -> Iterable[bytes]:
        try:
            answer = self._reply(environ, rule, read)
        except Exception:  # a fault of this layer's own: Flask answers, and meets it too if it is not ours
            log.warning("fast path failed; answered by the app", exc_info=True)
            answer = None
        if answer is None:
            return self.inner(environ, start_response)
        status, headers, body = answer
        Exchange.of(environ).route = rule
        start_response(status, headers)
        return body

    def _reply(self, environ: dict, rule: str, read: Callable) -> tuple[str, list, list[bytes]] | None:
        """Status, headers and body of a 200 or 304, or None to leave the request to Flask."""
        limiter: ratelimit.Limiter = self.app.extensions["rate_limiter"]
        exchange = Exchange.of(environ)
        if exchange.read_count is None:
            exchange.read_count = limiter.count_read(
                ratelimit.client_address(limiter.trusted_proxies, environ=environ)
            )  # counted once: Flask judges this count if it answers instead
        counts = exchange.read_count
        if any(count.exceeded for count in counts):
            return None
        try:
            pool, conn = lend(self.app.extensions, anonymous_read=True)
        except (PoolTimeout, psycopg.Error) as error:
            exchange.database_error = error
            return None
        try:
            reply = read(conn, environ.get("HTTP_IF_NONE_MATCH"), environ)
            if reply is None:
                return None
        except HTTPException:
            return None  # 404, 410, a bad cursor: Flask answers as before
        except (PoolTimeout, psycopg.Error) as error:
            exchange.database_error = error
            return None
        finally:
            give_back(pool, conn)
        body = [reply.body] if reply.status == 200 else []
        return STATUS_LINES[reply.status], self._headers(environ, reply, counts), body

    def _headers(self, environ: dict, reply: Reply, counts: list[ratelimit.Count]) -> list[tuple[str, str]]:
        """In the order Flask and its after-request hook (api/http/hooks.py) write them, with the same builders."""
        headers = []
        if reply.status == 200:
            headers += [("Content-Type", reply.mimetype), ("Content-Length", str(len(reply.body)))]
        headers += [("ETag", reply.etag), ("Cache-Control", self.cache_control)]
        if reply.status == 200:
            if reply.last_modified_http is not None:
                headers.append(("Last-Modified", reply.last_modified_http))
            elif reply.last_modified is not None:
                headers.append(("Last-Modified", http_date(reply.last_modified)))
            if reply.link:
                headers.append(("Link", reply.link))
        headers += ratelimit.rate_limit_headers(counts)
        headers.append(("Vary", "Accept"))
        given = environ.get("HTTP_X_REQUEST_ID", "")
        return headers + closing_headers(given if REQUEST_ID.match(given) else uuid.uuid4().hex)


def _answer_to(conn: DeadlineConnection) -> pq.abc.PGresult:
    """The result of the statement just sent, by the connection's deadline (DeadlinePassed after
    it). libpq's blocking calls would wait as long as a hung server keeps still; psycopg's own
    wait (`conn.wait(execute(pgconn))`, api/store/db.py) keeps the deadline too, but costs a third more
    than the query's round trip here: this is its common case in a few calls, and hands anything
    else (a query not sent whole at once) to it."""
    pgconn = conn.pgconn
    if pgconn.flush():
        return conn.wait(execute(pgconn))[-1]
    poller = conn.__dict__.get("_fast_path_poller")
    if poller is None:  # one per connection: its socket stays the same
        poller = conn.__dict__["_fast_path_poller"] = select.poll()
        poller.register(pgconn.socket, select.POLLIN)
    ends = conn.deadline or monotonic() + conn.wait_limit
    while True:
        left = ends - monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            raise conn.given_up("no answer to the fast path's query")
        pgconn.consume_input()
        if not pgconn.is_busy():
            break
    result = pgconn.get_result()
    while pgconn.get_result() is not None:
        pass
    return result


def _error(conn: psycopg.Connection, result: pq.abc.PGresult) -> psycopg.Error:
    """The exception psycopg's cursor would raise: a lost connection (its backend killed, the
    server gone) has no SQLSTATE, and is an OperationalError, as the error handlers expect."""
    if conn.pgconn.status != pq.ConnStatus.OK:
        message = conn.pgconn.error_message.decode(conn.info.encoding, "replace").strip()
        return psycopg.OperationalError(message or "the connection to the database was lost")
    return errors.error_from_result(result, encoding=conn.info.encoding)


def _statement_name(query: str) -> str:
    """A name of its own for each query text (prepared once per connection under it)."""
    name = STATEMENT_NAMES.get(query)
    if name is None:
        name = STATEMENT_NAMES.setdefault(query, f"list_fast_{next(STATEMENT_NUMBERS)}")
    return name


@lru_cache(maxsize=64)
def positional(query: str) -> tuple[str, tuple[str, ...]]:
    """A query with psycopg's %(name)s placeholders as libpq's $1, $2 …, and the names in order."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return NAMED.sub(number, query).replace("%%", "%"), tuple(names)


def _text(value: object) -> bytes | None:
    """A parameter in Postgres' text format; its type comes from the query's casts and context."""
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    return str(value).encode()


def raise_database_error() -> None:
    """Before the view: the database error the fast path met, so Flask answers it (503) at once."""
    error = Exchange.of(request.environ).database_error
    if error is not None:
        raise error


def init_app(app: Flask, settings: Settings) -> None:
    """Installs the fast path inside whatever wraps `app.wsgi_app` later (the request log), unless
    FAST_PATH is off: then every request takes Flask's path (to measure what the fast path gains,
    or to rule it out when something looks wrong)."""
    if not settings.fast_path:
        return
    app.wsgi_app = FastReads(app, app.wsgi_app, settings)  # type: ignore[method-assign]
