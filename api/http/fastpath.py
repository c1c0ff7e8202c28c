"""The hottest anonymous reads, answered without Flask's per-request machinery.

A plain `GET` of one item, or of a list page with nothing but `limit`, `cursor` (and `q` for
clauses and `/v1/search`; the change feed's pages and polls too), costs one indexed query; Flask's request context, webargs, the response object and
six hooks cost several times that in Python. This WSGI layer sits inside the request log
(api/http/logs.py), so access lines and metrics are the same, and answers those requests itself,
through the same code the views use: the read core (`read_item`, `read_list` in
api/resources/reads.py, which run their queries through api/store/executor.py) and the header
builders (api/http/replies.py). A test compares the two paths byte for byte, tests/test_fastpath.py.

It only ever answers 200 or 304. Anything else goes to the Flask app untouched: another
method, a token, an Accept header other than JSON, any other query parameter or an unusual
spelling of one, an unknown or deleted item, a bad cursor, a client over its rate limit. The
read is counted once either way (the count travels in the request's `Exchange`,
api/http/exchange.py), and a database error met here is raised again inside Flask, so it gets
the same 503 without a second wait.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import psycopg
from flask import Flask, request
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from api.collections import COLLECTIONS
from api.config import Settings
from api.http import ratelimit
from api.http.caching import REVALIDATE, effective_policy, shared_policy
from api.http.conditional import etag_matches, make_etag
from api.http.exchange import Exchange
from api.http.headers import REQUEST_ID, new_request_id, oversized_fields
from api.http.replies import Reply, after_fields, reply_fields
from api.resources.changes import HEAD_KEY, read_changes, unchanged_poll
from api.resources.paging import public_url
from api.resources.reads import ListQuery, is_id, read_item, read_list
from api.resources.search import SEARCH, search_site
from api.store.bodies import Bodies
from api.store.db import give_back, lend
from api.store.versions import Key, Versions

ACCEPTED = frozenset({"*/*", "application/json"})  # Accept values that select JSON for every route here
ITEMS = {collection.name: collection.singular for collection in COLLECTIONS.values()}
ITEM_RULES = {name: f"/v1/{name}/<{singular}_id>" for name, singular in ITEMS.items()}
ITEM_PATH = re.compile(r"/v1/(" + "|".join(ITEMS) + r")/([^/]+)")
# Query values taken as they are: any other spelling goes to Flask, which decodes and validates it.
LIMIT_VALUE = re.compile(r"[1-9][0-9]{0,5}")  # then compared with MAX_PAGE_SIZE
CURSOR_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,1000}")
WORD_VALUE = re.compile(r"[A-Za-z0-9]{1,100}")
STATUS_LINES = {200: "200 OK", 304: "304 NOT MODIFIED"}
CHANGES = "/v1/changes"  # the change feed (api/resources/changes.py): its polls are the hottest reads of all
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


@dataclass(frozen=True)
class ChangesRead:
    """A page of the change feed as the fast path reads it, and a poll's 304 from the cached head."""

    extensions: dict
    settings: Settings
    args: dict
    given: tuple[tuple[str, str], ...]

    def __call__(self, conn: psycopg.Connection, if_none_match: str | None, environ: dict) -> Reply:
        script_root = environ.get("SCRIPT_NAME", "").rstrip("/")
        return read_changes(
            conn,
            self.extensions,
            self.settings,
            self.args,
            if_none_match=if_none_match,
            script_root=script_root,
            query=self.given,
        )

    def head_unchanged(self, head: int, if_none_match: str) -> Reply | None:
        return unchanged_poll(self.extensions, self.settings, self.args, head, if_none_match)


class FastReads:
    """WSGI middleware in front of the Flask app: see the module docstring."""

    def __init__(self, app: Flask, inner: WsgiApp, settings: Settings) -> None:
        self.app = app
        self.inner = inner
        self.settings = settings
        self.cache_control = effective_policy(REVALIDATE, shared_policy(settings.cache_shared_max_age))

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
        key = None
        if path == CHANGES:
            read = self._changes_reader(query)
            rule = CHANGES
            key = HEAD_KEY
        elif route is not None:
            read = self._list_reader(route, query)
            rule = route.rule
        else:
            match = ITEM_PATH.fullmatch(path)
            if match is None or query or not is_id(match.group(2)):
                return self.inner(environ, start_response)
            collection, item_id = match.groups()
            singular = ITEMS[collection]
            rule = ITEM_RULES[collection]
            key = (collection, item_id)

            def read(conn: psycopg.Connection, if_none_match: str | None, environ: dict) -> Reply:
                return read_item(conn, collection, singular, item_id, if_none_match)

        if read is None:
            return self.inner(environ, start_response)
        return self._answer(environ, start_response, rule, read, key)

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
                dict(filters, site=search_site(public_base_url, script_root)) if route.site else filters,
                limit=limit,
                cursor=given.get("cursor"),
                if_none_match=if_none_match,
                base_url=public_url(public_base_url, script_root, route.rule),
                args=given.items(),
            )

        return read

    def _changes_reader(self, query: str) -> Callable | None:
        """The change feed's page (polled most: a cursor, perhaps a limit) for a query string of `limit`
        and `cursor` only, else None."""
        given: dict[str, str] = {}
        for part in query.split("&") if query else ():
            name, equals, value = part.partition("=")
            if not equals or name in given or name not in ("limit", "cursor"):
                return None
            if name == "limit" and (not LIMIT_VALUE.fullmatch(value) or int(value) > self.settings.max_page_size):
                return None
            if name == "cursor" and not CURSOR_VALUE.fullmatch(value):
                return None
            given[name] = value
        args = {"cursor": given.get("cursor"), "limit": int(given["limit"]) if "limit" in given else None}
        return ChangesRead(self.app.extensions, self.settings, args, tuple(given.items()))

    def _answer(
        self, environ: dict, start_response: Callable, rule: str, read: Callable, key: Key | None
    ) -> Iterable[bytes]:
        try:
            answer = self._reply(environ, rule, read, key)
        except Exception:  # a fault of this layer's own: Flask answers, and meets it too if it is not ours
            log.warning("fast path failed; answered by the app", exc_info=True)
            answer = None
        if answer is None:
            return self.inner(environ, start_response)
        status, headers, body = answer
        Exchange.of(environ).route = rule
        start_response(status, headers)
        return body

    def _reply(self, environ: dict, rule: str, read: Callable, key: Key | None) -> tuple[str, list, list[bytes]] | None:
        """Status, headers and body of a 200 or 304, or None to leave the request to Flask. An
        item's (`key`) 304 comes from the version cache when it knows the item (api/store/versions.py),
        and a read from the database teaches the cache the item's version. A 200 (or a page's 304)
        comes from the answers kept (api/store/bodies.py) while they are current."""
        limiter: ratelimit.Limiter = self.app.extensions["rate_limiter"]
        exchange = Exchange.of(environ)
        if exchange.read_count is None:
            exchange.read_count = limiter.count_read(
                ratelimit.client_address(limiter.trusted_proxies, environ=environ)
            )  # counted once: Flask judges this count if it answers instead
        counts = exchange.read_count
        if any(count.exceeded for count in counts):
            return None
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        versions: Versions | None = self.app.extensions.get("versions")  # type: ignore[assignment]
        bodies: Bodies | None = self.app.extensions.get("bodies")  # type: ignore[assignment]
        page_key = None
        if key is None and bodies is not None:  # a page: kept under its URL as the client wrote it
            page_key = (environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""), environ.get("SCRIPT_NAME", ""))
            kept = bodies.page(page_key)
            if kept is not None:
                return self._kept(environ, kept, if_none_match, counts)
        elif key is not None and versions is not None and (if_none_match or bodies is not None):
            version = versions.get(key)
            if version is not None:
                remembered = self._remembered(key, version, if_none_match, read) if if_none_match else None
                if remembered is not None:
                    return STATUS_LINES[304], self._headers(environ, remembered, counts), []
                kept = bodies.item(key, version) if bodies is not None and key != HEAD_KEY else None
                if kept is not None:
                    return STATUS_LINES[200], self._headers(environ, kept, counts), [kept.body]
        since = clears = 0
        if versions is not None:  # before the read's snapshot: see Versions.learn
            since, clears = versions.epoch, versions.clears
        try:
            pool, conn = lend(self.app.extensions, anonymous_read=True)
        except (PoolTimeout, psycopg.Error) as error:
            exchange.database_error = error
            return None
        try:
            reply = read(conn, if_none_match, environ)
        except HTTPException:
            return None  # 404, 410, a bad cursor: Flask answers as before
        except (PoolTimeout, psycopg.Error) as error:
            exchange.database_error = error
            return None
        finally:
            give_back(pool, conn)
        primary = pool is self.app.extensions["db_pool"]
        if key is not None and versions is not None and reply.version is not None:
            versions.learn(key, reply.version, since, primary=primary)
        if bodies is not None and primary and reply.status == 200:
            if page_key is not None:
                bodies.keep_page(page_key, reply, since)
            elif key != HEAD_KEY:
                bodies.keep_item(key, reply, clears)
        body = [reply.body] if reply.status == 200 else []
        return STATUS_LINES[reply.status], self._headers(environ, reply, counts), body

    def _kept(
        self, environ: dict, kept: Reply, if_none_match: str | None, counts: list[ratelimit.Count]
    ) -> tuple[str, list, list[bytes]]:
        """A kept page's answer: a 304 when the client holds its ETag, as the database would say."""
        if if_none_match and etag_matches(if_none_match, kept.etag):
            return STATUS_LINES[304], self._headers(environ, Reply(304, kept.etag), counts), []
        return STATUS_LINES[200], self._headers(environ, kept, counts), [kept.body]

    def _remembered(self, key: Key, version: int, if_none_match: str, read: Callable) -> Reply | None:
        """The 304 the database would give, from the version the cache holds for `key`, or None."""
        if key == HEAD_KEY:  # the feed's newest position: the page's own rules say whether it is a 304
            return read.head_unchanged(version, if_none_match)  # type: ignore[attr-defined]
        etag = make_etag(version)
        return Reply(304, etag) if etag_matches(if_none_match, etag) else None

    def _headers(self, environ: dict, reply: Reply, counts: list[ratelimit.Count]) -> list[tuple[str, str]]:
        """What Flask's path writes, with its builders (api/http/replies.py), in its order."""
        given = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = given if REQUEST_ID.match(given) else new_request_id()
        return reply_fields(reply, self.cache_control) + after_fields(counts, request_id, api_read=True)


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
