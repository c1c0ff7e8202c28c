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
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

import orjson
from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from psycopg import sql

from api.db import connection
from api.errors import ApiError
from api.sql import q

SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


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


def _item_query(name: str, table: str) -> sql.Composed:
    return sql.SQL(q(name)).format(table=sql.Identifier(table))


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
    tag = variant(only, csv=False)
    if_none_match = request.headers.get("If-None-Match")
    if as_of is not None:
        row = conn.execute(q("revision_as_of"), {"collection": table, "id": item_id, "as_of": as_of}).fetchone()
        if row is None:
            known = conn.execute(q("item_exists"), {"collection": table, "id": item_id}).fetchone()
            if known is None:
                raise not_found(singular, item_id)
            raise ApiError(404, f"The {singular} {item_id!r} did not exist yet at {as_of.isoformat()}.")
    else:
        if if_none_match:
            row = conn.execute(_item_query("item_revision", table), {"id": item_id}).fetchone()
            if row is None:
                raise not_found(singular, item_id)
            if row[1]:
                raise gone(singular, item_id)
            if etag_matches(if_none_match, make_etag(row[0], tag)):
                return not_modified(make_etag(row[0], tag))
        row = conn.execute(_item_query("item_doc", table), {"id": item_id}).fetchone()
        if row is None:
            raise not_found(singular, item_id)
    doc, revision, deleted, valid_from = row
    if deleted:
        raise gone(singular, item_id)
    etag = make_etag(revision, tag)
    if if_none_match and etag_matches(if_none_match, etag):
        return not_modified(etag)
    body = project(doc, only)
    response = json_response(body.encode() if isinstance(body, str) else orjson.dumps(body), etag)
    if valid_from is not None:
        # Informational: when this state became true. Conditional requests use the ETag only,
        # since imported history can make it go backwards.
        response.last_modified = valid_from
    return response


def _cursor_secret() -> str:
    """Lives in the database, so every worker and host signs alike; read once per app."""
    secret = current_app.extensions.get("cursor_secret")
    if secret is None:
        secret = current_app.extensions["cursor_secret"] = connection().execute(q("cursor_secret")).fetchone()[0]
    return secret


def _serializer(collection: str) -> URLSafeSerializer:
    return URLSafeSerializer(_cursor_secret(), salt=f"cursor:{collection}")


def _fingerprint(filters: Mapping[str, object]) -> str:
    """Names the filters a cursor was made under, so it is not replayed under others."""
    canonical = orjson.dumps({k: str(v) for k, v in sorted(filters.items()) if v is not None})
    return hashlib.sha256(canonical).hexdigest()[:16]


def encode_cursor(collection: str, keys: Sequence[str], filters: Mapping[str, object]) -> str:
    return _serializer(collection).dumps({"k": list(keys), "f": _fingerprint(filters)})


def decode_cursor(collection: str, cursor: str, filters: Mapping[str, object], key_count: int) -> list[str]:
    try:
        payload = _serializer(collection).loads(cursor)
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


def _list_query(name: str, sort: str | None, alias: str) -> str | sql.Composed:
    """The named list query with its ORDER BY and keyset filled in for `sort` (from an allowlist)."""
    text = q(name)
    if sort is None:
        return text
    column = sort.removeprefix("-")
    descending = sort.startswith("-")
    return sql.SQL(text).format(
        key=sql.Identifier(alias, column),
        cast=sql.SQL(SORT_CASTS.get(column, "text")),
        cmp=sql.SQL("<" if descending else ">"),
        dir=sql.SQL("DESC" if descending else "ASC"),
    )


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
    version_params = {"collection": collection} | filters
    settings = current_app.config["SETTINGS"]
    limit = paging.get("limit") or settings.default_page_size
    only = paging.get("only")
    as_csv = wants_csv(paging.get("representation"), csv_allowed=columns is not None)
    tag = variant(only, as_csv)
    conn = connection()
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match:
        version = conn.execute(q(version_query), version_params).fetchone()[0]
        if etag_matches(if_none_match, make_etag(version, tag)):
            return not_modified(make_etag(version, tag))
    after: list[str | None] = [None] * key_count
    if paging.get("cursor"):
        after = decode_cursor(query or collection, paging["cursor"], filters, key_count)
    params = dict(filters, limit=limit + 1, **{f"after_{i + 1}": v for i, v in enumerate(after)})
    sort = filters.get("sort") if sort_alias else None
    rows = conn.execute(_list_query(query or f"list_{collection}", sort, sort_alias or ""), params).fetchall()
    page = rows[:limit]
    version = rows[0][-1] if rows else conn.execute(q(version_query), version_params).fetchone()[0]
    headers = {}
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(query or collection, [str(v) for v in page[-1][1:-1]], filters)
        query = {k: v for k, v in request.args.items() if k != "cursor"} | {"cursor": next_cursor}
        headers["Link"] = f'<{request.base_url}?{urlencode(query)}>; rel="next"'
    etag = make_etag(version, tag)
    if as_csv:
        return csv_response([orjson.loads(row[0]) for row in page], only or columns, etag, headers)
    if only:
        items = b",".join(orjson.dumps(project(row[0], only)) for row in page)
    else:
        items = b",".join(row[0].encode() for row in page)
    body = b'{"items":[' + items + b'],"next_cursor":' + orjson.dumps(next_cursor) + b"}"
    return json_response(body, etag, headers=headers)


def csv_cell(value: object) -> str:
    """Lists of ids joined with ';', nested objects as JSON text, null as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ";".join(str(v) for v in value)
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return str(value)


def csv_response(items: list[dict], columns: Sequence[str], etag: str, headers: dict) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow([csv_cell(item.get(column)) for column in columns])
    response = Response(out.getvalue().encode(), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    for name, value in headers.items():
        response.headers[name] = value
    return response
