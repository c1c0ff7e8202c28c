"""Serving items and lists from their stored representations.

Each item's JSON is built in Postgres when it changes (see sql/migrations), so a read is
one indexed query whose text goes out as it is. ETags come from revisions, never from
hashing a body: an item's is its revision, a list's is the newest revision sequence of
its collection. Lists page with signed keyset cursors.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from urllib.parse import urlencode

import orjson
from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from psycopg import sql

from api.db import connection
from api.errors import ApiError
from api.sql import q

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
REPRESENTATION = "1"  # bump when the JSON shape changes, so old ETags stop matching
CACHE_CONTROL = "public, no-cache"  # always revalidate; the ETag makes that cheap


def make_etag(version: int | str) -> str:
    return f'"{REPRESENTATION}.{version}"'


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


def item_response(table: str, singular: str, item_id: str, as_of: datetime | None = None) -> Response:
    """GET of one item: 304 on a matching If-None-Match, 404 unknown, 410 deleted.

    With `as_of`, the item as it stood then: its newest revision valid by that instant.
    """
    if not SLUG.match(item_id) or len(item_id) > 100:
        raise not_found(singular, item_id)
    conn = connection()
    if as_of is not None:
        row = conn.execute(q("revision_as_of"), {"collection": table, "id": item_id, "as_of": as_of}).fetchone()
        if row is None:
            known = conn.execute(q("item_exists"), {"collection": table, "id": item_id}).fetchone()
            if known is None:
                raise not_found(singular, item_id)
            raise ApiError(404, f"The {singular} {item_id!r} did not exist yet at {as_of.isoformat()}.")
        snapshot, revision, deleted = row
        if deleted:
            raise gone(singular, item_id)
        etag = make_etag(revision)
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match and etag_matches(if_none_match, etag):
            return not_modified(etag)
        return json_response(snapshot.encode(), etag)
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match:
        row = conn.execute(_item_query("item_revision", table), {"id": item_id}).fetchone()
        if row is None:
            raise not_found(singular, item_id)
        if row[1]:
            raise gone(singular, item_id)
        etag = make_etag(row[0])
        if etag_matches(if_none_match, etag):
            return not_modified(etag)
    row = conn.execute(_item_query("item_doc", table), {"id": item_id}).fetchone()
    if row is None:
        raise not_found(singular, item_id)
    doc, revision, deleted = row
    if deleted:
        raise gone(singular, item_id)
    return json_response(doc.encode(), make_etag(revision))


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


def list_response(
    collection: str,
    filters: dict,
    paging: Mapping[str, object],
    key_count: int,
    *,
    query: str | None = None,
    version_query: str = "collection_version",
) -> Response:
    """GET of a list: one query for the page (plus one for the ETag when it is empty).

    `query` (by default `list_<collection>`) gives the page: each row is the item's JSON, its keyset values,
    then the version the list's ETag names. `version_query` gives that version alone.
    """
    version_params = {"collection": collection} | filters
    settings = current_app.config["SETTINGS"]
    limit = paging.get("limit") or settings.default_page_size
    conn = connection()
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match:
        version = conn.execute(q(version_query), version_params).fetchone()[0]
        if etag_matches(if_none_match, make_etag(version)):
            return not_modified(make_etag(version))
    after: list[str | None] = [None] * key_count
    if paging.get("cursor"):
        after = decode_cursor(query or collection, paging["cursor"], filters, key_count)
    params = dict(filters, limit=limit + 1, **{f"after_{i + 1}": v for i, v in enumerate(after)})
    rows = conn.execute(q(query or f"list_{collection}"), params).fetchall()
    page = rows[:limit]
    version = rows[0][-1] if rows else conn.execute(q(version_query), version_params).fetchone()[0]
    headers = {}
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(query or collection, [str(v) for v in page[-1][1:-1]], filters)
        query = {k: v for k, v in request.args.items() if k != "cursor"} | {"cursor": next_cursor}
        headers["Link"] = f'<{request.base_url}?{urlencode(query)}>; rel="next"'
    body = (
        b'{"items":['
        + b",".join(row[0].encode() for row in page)
        + b'],"next_cursor":'
        + orjson.dumps(next_cursor)
        + b"}"
    )
    return json_response(body, make_etag(version), headers=headers)
