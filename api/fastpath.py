"""The hottest anonymous reads, answered without Flask's per-request machinery.

A plain `GET` of one item, or of a list page with nothing but `limit`, `cursor` (and `q` for
clauses), costs one indexed query; Flask's request context, webargs, the response object and
six hooks cost several times that in Python. This WSGI layer sits inside the request log
(api/logs.py), so access lines and metrics are the same, and answers those requests itself,
through the same code the views use (`api.resource.read_item`, `read_list`) and with the same
headers the hooks add (a test compares the two paths byte for byte, tests/test_fastpath.py).

It only ever answers 200 or 304. Anything else goes to the Flask app untouched: another
method, a token, an Accept header other than JSON, any other query parameter or an unusual
spelling of one, an unknown or deleted item, a bad cursor, a client over its rate limit. The
read is counted once either way (the count travels in the WSGI environ), and a database error
met here is raised again inside Flask, so it gets the same 503 without a second wait.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg
from flask import Flask, request
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date
from werkzeug.wsgi import get_current_url

from api import ratelimit
from api.caching import REVALIDATE
from api.config import Settings
from api.db import give_back, lend
from api.headers import CORS, REQUEST_ID, SERVER
from api.logs import ROUTE_KEY
from api.resource import ListQuery, Reply, is_id, read_item, read_list
from schemas.clauses import ClauseQuerySchema
from schemas.common import ListQuerySchema
from schemas.proposals import ProposalQuerySchema
from schemas.talks import TalkQuerySchema

DATABASE_ERROR = "proposals_api.fast_path_error"  # environ: raised again in Flask by `_raise_database_error`
ACCEPTED = frozenset({"*/*", "application/json"})  # Accept values that select JSON for every route here
ITEMS = {
    "proposals": "proposal",
    "talks": "talk",
    "clauses": "clause",
    "parties": "party",
    "sources": "source",
    "statements": "statement",
}
ITEM_PATH = re.compile(r"/v1/(" + "|".join(ITEMS) + r")/([^/]+)")
# Query values taken as they are: any other spelling goes to Flask, which decodes and validates it.
LIMIT_VALUE = re.compile(r"[1-9][0-9]{0,2}")
CURSOR_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,1000}")
WORD_VALUE = re.compile(r"[A-Za-z0-9]{1,100}")
STATUS_LINES = {200: "200 OK", 304: "304 NOT MODIFIED"}

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


@dataclass(frozen=True)
class ListRoute:
    """A list as its view reads it when no filter is given: the same filters, spec and defaults."""

    rule: str
    spec: ListQuery
    filters: dict
    search: ListQuery | None = None  # with `q`: the ranked search


def _defaults(schema: object, names: Iterable[str]) -> dict:
    """The filters the view passes when the query string names none: read from its schema."""
    loaded = schema.load({})  # type: ignore[attr-defined]
    return {name: loaded[name] for name in names}


def _limit_range() -> tuple[int, int]:
    (bounds,) = [v for v in ListQuerySchema._declared_fields["limit"].validators if hasattr(v, "max")]
    return bounds.min, bounds.max


LISTS = {
    "/v1/talks": ListRoute(
        "/v1/talks",
        ListQuery("talks", 2, sort_alias="t"),
        _defaults(TalkQuerySchema(), ("party", "proposal", "status", "since", "until", "sort")),
    ),
    "/v1/proposals": ListRoute(
        "/v1/proposals",
        ListQuery("proposals", 2, sort_alias="p"),
        _defaults(ProposalQuerySchema(), ("proposer", "party", "status", "sort")),
    ),
    "/v1/clauses": ListRoute(
        "/v1/clauses",
        ListQuery("clauses", 3),
        _defaults(ClauseQuerySchema(), ("q", "proposal", "topic", "party", "quoted")),
        search=ListQuery("clauses", 2, query="search_clauses"),
    ),
}
LIMIT_MIN, LIMIT_MAX = _limit_range()


class FastReads:
    """WSGI middleware in front of the Flask app: see the module docstring."""

    def __init__(self, app: Flask, inner: WsgiApp, settings: Settings) -> None:
        self.app = app
        self.inner = inner
        self.settings = settings
        self.cache_control = (
            f"public, max-age=0, s-maxage={settings.cache_shared_max_age}"
            if settings.cache_shared_max_age > 0
            else REVALIDATE
        )
        self.static_headers = [("Vary", "Accept")]
        self.trailing_headers = [
            ("X-Content-Type-Options", "nosniff"),
            ("Server", SERVER),
            *CORS.items(),
        ]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or "HTTP_AUTHORIZATION" in environ
            or environ.get("HTTP_ACCEPT", "*/*") not in ACCEPTED
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

            def read(conn: psycopg.Connection, if_none_match: str | None, environ: dict) -> Reply:
                return read_item(conn, collection, singular, item_id, if_none_match)

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
                if not LIMIT_VALUE.fullmatch(value) or not LIMIT_MIN <= int(value) <= LIMIT_MAX:
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
        limit = int(given["limit"]) if "limit" in given else self.settings.default_page_size
        extensions = self.app.extensions

        def read(conn: psycopg.Connection, if_none_match: str | None, environ: dict) -> Reply:
            return read_list(
                conn,
                extensions,
                spec,  # type: ignore[arg-type]
                filters,
                limit=limit,
                cursor=given.get("cursor"),
                if_none_match=if_none_match,
                base_url=get_current_url(environ, strip_querystring=True),
                args=given.items(),
            )

        return read

    def _answer(self, environ: dict, start_response: Callable, rule: str, read: Callable) -> Iterable[bytes]:
        limiter: ratelimit.Limiter = self.app.extensions["rate_limiter"]
        counts = limiter.count_read(
            ratelimit.address_of(
                environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR", ""), limiter.trusted_proxies
            )
        )
        environ[ratelimit.COUNTED] = counts  # counted once: Flask reuses this if it answers instead
        if any(count.exceeded for count in counts):
            return self.inner(environ, start_response)
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        try:
            pool, conn = lend(self.app.extensions, anonymous_read=True)
        except (PoolTimeout, psycopg.Error) as error:
            environ[DATABASE_ERROR] = error
            return self.inner(environ, start_response)
        try:
            reply = read(conn, if_none_match, environ)
        except HTTPException:
            return self.inner(environ, start_response)  # 404, 410, a bad cursor: Flask answers as before
        except (PoolTimeout, psycopg.Error) as error:
            environ[DATABASE_ERROR] = error
            return self.inner(environ, start_response)
        finally:
            give_back(pool, conn)
        environ[ROUTE_KEY] = rule
        start_response(STATUS_LINES[reply.status], self._headers(environ, reply, counts))
        return [reply.body] if reply.status == 200 else []

    def _headers(self, environ: dict, reply: Reply, counts: list[ratelimit.Count]) -> list[tuple[str, str]]:
        """In the order Flask and the after-request hooks write them."""
        headers = []
        if reply.status == 200:
            headers += [("Content-Type", reply.mimetype), ("Content-Length", str(len(reply.body)))]
        headers += [("ETag", reply.etag), ("Cache-Control", self.cache_control)]
        if reply.status == 200:
            if reply.last_modified is not None:
                headers.append(("Last-Modified", http_date(reply.last_modified)))
            if reply.link:
                headers.append(("Link", reply.link))
        if counts:
            headers.append(("RateLimit-Policy", ", ".join(count.policy_item() for count in counts)))
            headers.append(("RateLimit", ", ".join(count.state_item() for count in counts)))
        given = environ.get("HTTP_X_REQUEST_ID", "")
        headers += self.static_headers
        headers.append(("X-Request-ID", given if REQUEST_ID.match(given) else uuid.uuid4().hex))
        return headers + self.trailing_headers


def _raise_database_error() -> None:
    """Before the view: the database error the fast path met, so Flask answers it (503) at once."""
    error = request.environ.get(DATABASE_ERROR)
    if error is not None:
        raise error


def init_app(app: Flask, settings: Settings) -> None:
    """Installs the fast path inside whatever wraps `app.wsgi_app` later (the request log)."""
    app.before_request(_raise_database_error)
    app.wsgi_app = FastReads(app, app.wsgi_app, settings)  # type: ignore[method-assign]
