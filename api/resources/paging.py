"""Keyset pages: signed cursors, and the URLs the service writes (`Link`, `Location`).

A cursor names the last item's keyset values and the filters it was made under, signed with a
secret kept in the database, so every worker and host accepts every other's."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, MutableMapping, Sequence
from functools import cache, lru_cache
from urllib.parse import quote, urlencode

import orjson
import psycopg
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from api.http.connection import connection
from api.http.errors import ApiError
from api.store.sql import q


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
    """Names the filters a cursor was made under, so it is not replayed under others. Remembered
    when every value is a string, a number, a bool or None (their types are part of the key, so
    `True` and `1` stay apart): every page of a list asks it again."""
    types = tuple(map(type, filters.values()))
    if PLAIN.issuperset(types):
        return _known_fingerprint(tuple(filters.items()), types)
    return _fingerprint_of(filters)  # a date, a list: equal values may print differently


PLAIN = frozenset({str, int, bool, type(None)})


@lru_cache(maxsize=1024)
def _known_fingerprint(items: tuple[tuple[str, object], ...], types: tuple[type, ...]) -> str:
    return _fingerprint_of(dict(items))


def _fingerprint_of(filters: Mapping[str, object]) -> str:
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
def next_link(base_url: str, args: tuple[tuple[str, str], ...], cursor: str) -> str:
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
