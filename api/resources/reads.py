"""Serving items and lists from their stored representations.

Each item's JSON is built in Postgres when it changes (see sql/functions), so a read is
one indexed query whose text goes out as it is. ETags come from revisions, never from
hashing a body: an item's is its revision, a list's is the newest revision sequence of
its collection. Lists page with signed keyset cursors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import orjson
import psycopg
from flask import Response, current_app, request
from psycopg import sql

from api.http.conditional import etag_matches, held_revisions, make_etag
from api.http.connection import connection
from api.http.errors import ApiError, gone, not_found
from api.http.replies import Reply
from api.http.representations import csv_body, project, variant, wants_csv
from api.resources.paging import cursor_secret, decode_cursor, encode_cursor, next_link, public_url
from api.store.executor import read_page, read_row
from api.store.sql import q
from schemas.common import SPARSE_JSON

if TYPE_CHECKING:  # api.collections builds on this module's ListQuery
    from api.collections import Collection


SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def is_id(value: str) -> bool:
    """Whether a path segment can name an item at all; anything else is a 404 without a query."""
    return len(value) <= 100 and SLUG.fullmatch(value) is not None


@cache
def item_query(name: str, table: str) -> str:
    """Composed once per (query, table), as text: composing (and psycopg turning a Composed into
    bytes on every execute) costs more than the indexed lookup it names."""
    return sql.SQL(q(name)).format(table=sql.Identifier(table)).as_string(None)


def read_item(
    conn: psycopg.Connection,
    table: str,
    singular: str,
    item_id: str,
    if_none_match: str | None,
    only: Sequence[str] | None = None,
) -> Reply:
    """The current representation of one item, or 304: one indexed query (`item_current`), which
    leaves out the document when the client's ETags name its revision. Raises 404 (unknown) and
    410 (deleted). api/http/fastpath.py calls it too."""
    tag = variant(only, csv=False)
    query = item_query("item_current", table)
    held_any, held = held_revisions(if_none_match, tag)
    while True:
        # The revisions as an array literal in a text value: psycopg's list dumper costs more
        # than the indexed lookup on the server (17 µs a request, bench/README.md).
        held_text = "{" + ",".join(map(str, held)) + "}"
        row = read_row(conn, query, {"id": item_id, "any": held_any, "held": held_text})
        if row is None:
            raise not_found(singular, item_id)
        revision, deleted, last_modified, doc = row
        if deleted == b"t":
            raise gone(singular, item_id)
        version = int(revision)  # type: ignore[arg-type]
        etag = make_etag(version, tag)
        if if_none_match and etag_matches(if_none_match, etag):
            return Reply(304, etag, version=version)
        if doc is not None:
            break
        held_any, held = False, []  # a tag named this revision in a spelling that does not match
    body = project(doc, only)  # type: ignore[arg-type]
    return Reply(
        200,
        etag,
        body if isinstance(body, bytes) else orjson.dumps(body),
        SPARSE_JSON if only else "application/json",  # a sparse answer has a schema of its own
        last_modified_http=last_modified.decode() if last_modified else None,
        version=version,
    )


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


def item_response(collection: Collection, item_id: str, args: Mapping[str, object] | None = None) -> Response:
    """GET of one item: 304 on a matching If-None-Match, 404 unknown, 410 deleted.

    With `as_of`, the item as it stood then: its newest revision valid by that instant.
    With `fields`, a sparse representation (its ETag differs).
    """
    table, singular = collection.name, collection.singular
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


SORT_CASTS = {"starts_on": "date", "updated_at": "timestamptz"}  # every other sortable field is text
# A sort field whose order is not its own column's: a statement's EDTF date sorts by its earliest,
# then latest day, which one text column holds (sql/migrations/0015_statement_dates.sql).
SORT_COLUMNS = {"said_when": "said_order"}


@cache
def _list_query(name: str, sort: str | None, alias: str) -> str:
    """The named list query with its ORDER BY and keyset filled in for `sort` (from an allowlist),
    composed once, as text (see `item_query`)."""
    text = q(name)
    if sort is None:
        return text
    column = SORT_COLUMNS.get(sort.removeprefix("-"), sort.removeprefix("-"))
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
    # Another named query that reads the same page (cursors keep the name of `query`): the fast
    # path's one-word search, which Postgres plans once where `query` is planned for every search.
    page_query: str | None = None

    @property
    def name(self) -> str:
        return self.query or self.collection


@cache
def _after_names(key_count: int) -> tuple[str, ...]:
    """The page query's keyset parameters: `after_1` … `after_<key_count>`."""
    return tuple(f"after_{i + 1}" for i in range(key_count))


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
) -> Reply:
    """One page of a list, or 304: one query for the page (plus one for the ETag when it is empty).

    Each row of the page query is the item's JSON, its keyset values, then the version the list's
    ETag names (`read_page`, api/store/executor.py). `base_url` (`public_url`) and `args`, the
    request's query parameters, make the next page's `Link`. The views and api/http/fastpath.py
    both call it.
    """
    tag = variant(only, csv_columns is not None)
    if if_none_match:
        version = conn.execute(q(spec.version_query), {"collection": spec.collection} | filters).fetchone()[0]
        if etag_matches(if_none_match, make_etag(version, tag)):
            return Reply(304, make_etag(version, tag))
    secret = cursor_secret(conn, extensions)
    after: list[str | None] = [None] * spec.key_count
    if cursor:
        after = decode_cursor(spec.name, cursor, filters, spec.key_count, secret)
    # decode_cursor checked the count
    params = dict(filters, **dict(zip(_after_names(spec.key_count), after, strict=True)))
    sort = filters.get("sort") if spec.sort_alias else None
    query = _list_query(spec.page_query or spec.query or f"list_{spec.collection}", sort, spec.sort_alias or "")
    page = read_page(conn, query, params, limit)
    version = page.version
    if version is None:
        version = conn.execute(q(spec.version_query), {"collection": spec.collection} | filters).fetchone()[0]
    link = None
    next_cursor = None
    if page.keyset is not None:
        next_cursor = encode_cursor(spec.name, page.keyset, filters, secret)  # type: ignore[arg-type]
        link = next_link(base_url, tuple(args), next_cursor)
    etag = make_etag(version, tag)
    if csv_columns is not None:
        body = csv_body([orjson.loads(doc) for doc in page.docs], csv_columns)
        return Reply(200, etag, body, mimetype="text/csv", link=link)
    docs = [orjson.dumps(project(doc, only)) for doc in page.docs] if only else page.docs  # type: ignore[arg-type]
    # One join: `+` would copy the page once per piece.
    body = b"".join((b'{"items":[', b",".join(docs), b'],"next_cursor":', orjson.dumps(next_cursor), b"}"))
    return Reply(200, etag, body, SPARSE_JSON if only else "application/json", link=link)


def collection_list(collection: Collection, args: Mapping[str, object], filters: dict | None = None) -> Response:
    """GET of a collection's list, or of its ranked search when `q` is given and it has one.
    `filters` other than the list's own arguments (a proposal's clauses) replace them."""
    searching = bool(args.get("q")) and collection.search is not None
    return list_response(
        collection.search if searching else collection.listing,  # type: ignore[arg-type]
        collection.list_filters(args) if filters is None else filters,
        args,
        columns=[*collection.columns, "search"] if searching else collection.columns,
    )


def list_response(
    spec: ListQuery, filters: dict, paging: Mapping[str, object], columns: Sequence[str] | None = None
) -> Response:
    """GET of a list: one query for the page (plus one for the ETag when it is empty).

    The spec's query (by default `list_<collection>`) gives the page: each row is the item's JSON, its keyset
    values, then the version the list's ETag names; its `version_query` gives that version alone. Without
    `columns` the list has no CSV.
    """
    settings = current_app.config["SETTINGS"]
    only = paging.get("only")
    as_csv = wants_csv(paging.get("representation"), csv_allowed=columns is not None)
    return read_list(
        connection(),
        current_app.extensions,
        spec,
        filters,
        limit=paging.get("limit") or settings.default_page_size,
        cursor=paging.get("cursor"),
        if_none_match=request.headers.get("If-None-Match"),
        base_url=public_url(settings.public_base_url, request.script_root, request.path),
        args=request.args.items(),
        only=only,
        csv_columns=(only or columns) if as_csv else None,
    ).response()
