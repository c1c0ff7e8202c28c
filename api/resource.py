"""Serving items and lists from their stored representations.

Each item's JSON is built in Postgres when it changes (see sql/migrations), so a read is
one indexed query whose text goes out as it is. ETags come from revisions, never from
hashing a body: an item's is its revision, a list's is the newest revision sequence of
its collection. Lists page with signed keyset cursors.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from urllib.parse import quote, urlencode

import orjson
import psycopg
from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from psycopg import sql

from api.db import connection
from api.errors import ApiError
from api.sql import q
from schemas.common import SPARSE_JSON

SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
REVISION_NUMBER = re.compile(r"[0-9]{1,9}")  # fits Postgres integer


def is_id(value: str) -> bool:
    """Whether a path segment can name an item at all; anything else is a 404 without a query."""
    return len(value) <= 100 and SLUG.fullmatch(value) is not None


REPRESENTATION = "1"  # bump when the JSON shape changes, so old ETags stop matching
CACHE_CONTROL = "public, no-cache"  # always revalidate; the ETag makes that cheap


def make_etag(version: int | str, variant: str = "") -> str:
    """Names a representation: the version of its data, plus the variant (CSV, sparse fields)."""
    return f'"{REPRESENTATION}.{version}{variant}"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored on both sides."""
    if if_none_match.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in if_none_match.split(","))


def json_response(body: bytes, etag: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def not_modified(etag: str) -> Response:
    response = Response(status=304)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def not_found(singular: str, item_id: str) -> ApiError:
    shown = item_id if len(item_id) <= 100 else item_id[:100] + "…"
    return ApiError(404, f"No {singular} with id {shown!r}.")


def gone(singular: str, item_id: str) -> ApiError:
    return ApiError(410, f"The {singular} {item_id!r} was deleted; its revisions stay readable.")


def held_revisions(if_none_match: str | None, tag: str = "") -> tuple[bool, list[int]]:
    """What an If-None-Match names, for a query that leaves out a document the client holds:
    whether it is `*`, and the revisions its ETags for this variant name. `etag_matches` still
    decides; this only spares reading a document that would not be sent."""
    if not if_none_match:
        return False, []
    if if_none_match.strip() == "*":
        return True, []
    prefix, suffix = f'"{REPRESENTATION}.', f'{tag}"'
    held = []
    for tag_text in if_none_match.split(","):
        tag_text = tag_text.strip().removeprefix("W/")
        number = tag_text.removeprefix(prefix).removesuffix(suffix)
        if tag_text.startswith(prefix) and tag_text.endswith(suffix) and REVISION_NUMBER.fullmatch(number):
            held.append(int(number))
    return False, held


@cache
def item_query(name: str, table: str) -> str:
    """Composed once per (query, table), as text: composing (and psycopg turning a Composed into
    bytes on every execute) costs more than the indexed lookup it names."""
    return sql.SQL(q(name)).format(table=sql.Identifier(table)).as_string(None)


def wants_csv(requested: str | None, csv_allowed: bool) -> bool:
    """`format=` wins; else the Accept header decides between JSON and CSV (406 if neither)."""
    if requested is not None:
        return requested == "csv"
    if not request.accept_mimetypes:
        return False
    offered = ["application/json", "text/csv"] if csv_allowed else ["application/json"]
    best = request.accept_mimetypes.best_match(offered)
    if best is None:
        raise ApiError(406, f"This resource is available as {' or '.join(offered)}.")
    return best == "text/csv"


def variant(only: Sequence[str] | None, csv: bool) -> str:
    tag = ";csv" if csv else ""
    if only:
        tag += ";f=" + hashlib.sha256(",".join(only).encode()).hexdigest()[:10]
    return tag


def project(doc: str, only: Sequence[str] | None) -> dict | str:
    """The representation with only the requested fields, in the order they are stored."""
    if not only:
        return doc
    item = orjson.loads(doc)
    return {k: v for k, v in item.items() if k in only}


@dataclass(frozen=True)
class Reply:
    """A 200 or a 304, worked out without Flask: the views and api/fastpath.py both send it.

    Every other outcome (404, 410, a bad cursor, a database error) is raised, so it is
    answered by the error handlers as before.
    """

    status: int
    etag: str
    body: bytes = b""
    mimetype: str = "application/json"
    last_modified: datetime | None = None
    link: str | None = None
    last_modified_http: str | None = None  # Last-Modified already as an HTTP date (api/fastpath.py)

    def response(self) -> Response:
        """As a Flask response, for the views."""
        if self.status == 304:
            return not_modified(self.etag)
        response = json_response(self.body, self.etag, headers={"Link": self.link} if self.link else None)
        if self.mimetype == "text/csv":
            response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
        elif self.mimetype != "application/json":
            response.headers["Content-Type"] = self.mimetype
        if self.last_modified is not None:
            # Informational: when this state became true. Conditional requests use the ETag only,
            # since imported history can make it go backwards.
            response.last_modified = self.last_modified
        return response


def read_item(
    conn: psycopg.Connection,
    table: str,
    singular: str,
    item_id: str,
    if_none_match: str | None,
    only: Sequence[str] | None = None,
) -> Reply:
    """The current representation of one item, or 304: one indexed query (two only when the
    client holds an ETag that turns out stale). Raises 404 (unknown) and 410 (deleted)."""
    tag = variant(only, csv=False)
    if if_none_match:
        row = conn.execute(item_query("item_revision", table), {"id": item_id}).fetchone()
        if row is None:
            raise not_found(singular, item_id)
        if row[1]:
            raise gone(singular, item_id)
        if etag_matches(if_none_match, make_etag(row[0], tag)):
            return Reply(304, make_etag(row[0], tag))
    row = conn.execute(item_query("item_doc", table), {"id": item_id}).fetchone()
    if row is None:
        raise not_found(singular, item_id)
    return _item_reply(row, singular, item_id, tag, if_none_match, only)


def _item_reply(
    row: Sequence, singular: str, item_id: str, tag: str, if_none_match: str | None, only: Sequence[str] | None
) -> Reply:
    doc, revision, deleted, valid_from = row
    if deleted:
        raise gone(singular, item_id)
    etag = make_etag(revision, tag)
    if if_none_match and etag_matches(if_none_match, etag):
        return Reply(304, etag)
    body = project(doc, only)
    mimetype = SPARSE_JSON if only else "application/json"  # a sparse answer has a schema of its own
    return Reply(
        200, etag, body.encode() if isinstance(body, str) else orjson.dumps(body), mimetype, last_modified=valid_from
    )


def item_response(table: str, singular: str, item_id: str, args: Mapping[str, object] | None = None) -> Response:
    """GET of one item: 304 on a matching If-None-Match, 404 unknown, 410 deleted.

    With `as_of`, the item as it stood then: its newest revision valid by that instant.
    With `fields`, a sparse representation (its ETag differs).
    """
    args = args or {}
    as_of, only = args.get("as_of"), args.get("only")
    wants_csv(None, csv_allowed=False)
    if not is_id(item_id):
        raise not_found(singular, item_id)
    conn = connection()
    if_none_match = request.headers.get("If-None-Match")
    if as_of is None:
        return read_item(conn, table, singular, item_id, if_none_match, only).response()
    row = conn.execute(q("revision_as_of"), {"collection": table, "id": item_id, "as_of": as_of}).fetchone()
    if row is None:
        known = conn.execute(q("item_exists"), {"collection": table, "id": item_id}).fetchone()
        if known is None:
            raise not_found(singular, item_id)
        raise ApiError(404, f"The {singular} {item_id!r} did not exist yet at {as_of.isoformat()}.")
    return _item_reply(row, singular, item_id, variant(only, csv=False), if_none_match, only).response()


def cursor_secret(conn: psycopg.Connection, extensions: MutableMapping[str, object]) -> str:
    """Lives in the database, so every worker and host signs alike; read once per app."""
    secret = extensions.get("cursor_secret")
    if secret is None:
        secret = extensions["cursor_secret"] = conn.execute(q("cursor_secret")).fetchone()[0]
    return secret  # type: ignore[return-value]


def _cursor_secret() -> str:
    return cursor_secret(connection(), current_app.extensions)


@cache
def _serializer_for(secret: str, collection: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=f"cursor:{collection}")


def _serializer(collection: str, secret: str | None = None) -> URLSafeSerializer:
    return _serializer_for(secret or _cursor_secret(), collection)


def _fingerprint(filters: Mapping[str, object]) -> str:
    """Names the filters a cursor was made under, so it is not replayed under others."""
    canonical = orjson.dumps({k: str(v) for k, v in sorted(filters.items()) if v is not None})
    return hashlib.sha256(canonical).hexdigest()[:16]


def encode_cursor(
    collection: str, keys: Sequence[str], filters: Mapping[str, object], secret: str | None = None
) -> str:
    return _signed_cursor(secret or _cursor_secret(), collection, tuple(keys), _fingerprint(filters))


@lru_cache(maxsize=4096)
def _signed_cursor(secret: str, collection: str, keys: tuple[str, ...], fingerprint: str) -> str:
    """Signing (JSON, zlib, HMAC) costs more than reading the page; the same page gets the same cursor."""
    return _serializer(collection, secret).dumps({"k": list(keys), "f": fingerprint})


@lru_cache(maxsize=256)
def public_url(public_base_url: str, script_root: str, path: str) -> str:
    """A URL the service writes (`Link`, `Location`): the path under PUBLIC_BASE_URL, or the path
    alone (a path-absolute reference, which clients resolve against the URL they asked).

    Never from the request's Host: behind a shared cache one forged Host would reach every client."""
    return public_base_url + quote(script_root + path, safe="/")


@lru_cache(maxsize=1024)
def _next_link(base_url: str, args: tuple[tuple[str, str], ...], cursor: str) -> str:
    query = {k: v for k, v in args if k != "cursor"} | {"cursor": cursor}
    return f'<{base_url}?{urlencode(query)}>; rel="next"'


def decode_cursor(
    collection: str, cursor: str, filters: Mapping[str, object], key_count: int, secret: str | None = None
) -> list[str]:
    try:
        payload = _serializer(collection, secret).loads(cursor)
    except BadSignature:
        payload = None
    if (
        not isinstance(payload, dict)
        or payload.get("f") != _fingerprint(filters)
        or not isinstance(payload.get("k"), list)
        or len(payload["k"]) != key_count
    ):
        raise ApiError(
            400,
            "The cursor is not valid for this list; start again without it.",
            errors=[{"parameter": "cursor", "detail": "Unknown, altered, or made for other filters."}],
        )
    return payload["k"]


SORT_CASTS = {"starts_on": "date", "updated_at": "timestamptz"}  # every other sortable field is text


@lru_cache(maxsize=256)
def _page_query(name: str, rows: int) -> str:
    """The named query with its LIMIT written in (`ListQuery.page_query`), composed once per
    limit: one text, and so one prepared statement, for each."""
    return q(name).replace("%(limit)s", str(int(rows)))


@cache
def _list_query(name: str, sort: str | None, alias: str) -> str:
    """The named list query with its ORDER BY and keyset filled in for `sort` (from an allowlist),
    composed once, as text (see `item_query`)."""
    text = q(name)
    if sort is None:
        return text
    column = sort.removeprefix("-")
    descending = sort.startswith("-")
    return (
        sql.SQL(text)
        .format(
            key=sql.Identifier(alias, column),
            cast=sql.SQL(SORT_CASTS.get(column, "text")),
            cmp=sql.SQL("<" if descending else ">"),
            dir=sql.SQL("DESC" if descending else "ASC"),
        )
        .as_string(None)
    )


@dataclass(frozen=True)
class ListQuery:
    """Which list: its collection, page query, version query and keyset width."""

    collection: str
    key_count: int
    query: str | None = None  # by default `list_<collection>`
    version_query: str = "collection_version"
    sort_alias: str | None = None
    # Another query that reads the same page (cursors keep the name of `query`), with its LIMIT
    # written into the text: a prepared statement Postgres then plans once, where a LIMIT
    # parameter makes every generic plan look too dear to use (api/fastpath.py).
    page_query: str | None = None

    @property
    def name(self) -> str:
        return self.query or self.collection


def read_list(
    conn: psycopg.Connection,
    extensions: MutableMapping[str, object],
    spec: ListQuery,
    filters: dict,
    *,
    limit: int,
    cursor: str | None,
    if_none_match: str | None,
    base_url: str,
    args: Iterable[tuple[str, str]],
    only: Sequence[str] | None = None,
    csv_columns: Sequence[str] | None = None,
    fetch: Callable[[str, dict], list[tuple]] | None = None,
) -> Reply:
    """One page of a list, or 304: one query for the page (plus one for the ETag when it is empty).

    Each row of the page query is the item's JSON, its keyset values, then the version the list's
    ETag names. `base_url` (`public_url`) and `args`, the request's query parameters, make the
    next page's `Link`. `fetch`
    runs the page query another way (api/fastpath.py: through libpq, the JSON as bytes).
    """
    version_params = {"collection": spec.collection} | filters
    tag = variant(only, csv_columns is not None)
    if if_none_match:
        version = conn.execute(q(spec.version_query), version_params).fetchone()[0]
        if etag_matches(if_none_match, make_etag(version, tag)):
            return Reply(304, make_etag(version, tag))
    secret = cursor_secret(conn, extensions)
    after: list[str | None] = [None] * spec.key_count
    if cursor:
        after = decode_cursor(spec.name, cursor, filters, spec.key_count, secret)
    params = dict(filters, limit=limit + 1, **{f"after_{i + 1}": v for i, v in enumerate(after)})
    sort = filters.get("sort") if spec.sort_alias else None
    if spec.page_query:
        page_query = _page_query(spec.page_query, limit + 1)
    else:
        page_query = _list_query(spec.query or f"list_{spec.collection}", sort, spec.sort_alias or "")
    rows = fetch(page_query, params) if fetch else conn.execute(page_query, params).fetchall()
    page = rows[:limit]
    version = rows[0][-1] if rows else conn.execute(q(spec.version_query), version_params).fetchone()[0]
    link = None
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(spec.name, [str(v) for v in page[-1][1:-1]], filters, secret)
        link = _next_link(base_url, tuple(args), next_cursor)
    etag = make_etag(version, tag)
    if csv_columns is not None:
        body = csv_body([orjson.loads(row[0]) for row in page], csv_columns)
        return Reply(200, etag, body, mimetype="text/csv", link=link)
    if only:
        items = b",".join(orjson.dumps(project(row[0], only)) for row in page)
    elif fetch:
        items = b",".join([row[0] for row in page])
    else:
        items = ",".join([row[0] for row in page]).encode()
    body = b'{"items":[' + items + b'],"next_cursor":' + orjson.dumps(next_cursor) + b"}"
    return Reply(200, etag, body, SPARSE_JSON if only else "application/json", link=link)


def list_response(
    collection: str,
    filters: dict,
    paging: Mapping[str, object],
    key_count: int,
    *,
    query: str | None = None,
    version_query: str = "collection_version",
    columns: Sequence[str] | None = None,
    sort_alias: str | None = None,
) -> Response:
    """GET of a list: one query for the page (plus one for the ETag when it is empty).

    `query` (by default `list_<collection>`) gives the page: each row is the item's JSON, its keyset values,
    then the version the list's ETag names. `version_query` gives that version alone.
    """
    settings = current_app.config["SETTINGS"]
    only = paging.get("only")
    as_csv = wants_csv(paging.get("representation"), csv_allowed=columns is not None)
    return read_list(
        connection(),
        current_app.extensions,
        ListQuery(collection, key_count, query, version_query, sort_alias),
        filters,
        limit=paging.get("limit") or settings.default_page_size,
        cursor=paging.get("cursor"),
        if_none_match=request.headers.get("If-None-Match"),
        base_url=public_url(settings.public_base_url, request.script_root, request.path),
        args=request.args.items(),
        only=only,
        csv_columns=(only or columns) if as_csv else None,
    ).response()


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection").
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """Lists of ids joined with ';', nested objects as JSON text, null as an empty cell. A text cell
    that a spreadsheet would run as a formula gets a leading `'`; numbers are left as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)  # a number, its sign included, is no formula
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = ";".join(str(v) for v in value)
    elif isinstance(value, list | dict):
        text = orjson.dumps(value).decode()
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_LEADS) else text


def csv_body(items: list[dict], columns: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow([csv_cell(item.get(column)) for column in columns])
    return out.getvalue().encode()
