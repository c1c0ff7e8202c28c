"""The one way both read paths run their queries: the views (api/resources/reads.py) and the
fast path (api/http/fastpath.py) call `read_page` and `read_row`, and get small results back.

A query is a named query's text (`api/store/sql.py`: as the file holds it, or with identifiers
composed by `psycopg.sql`) and its parameters by name; the text is never edited here. psycopg
turns `%(name)s` into `$n` itself and prepares the statement the first time a connection runs it
(`prepare=True`), under names it keeps, deallocating and preparing again after a rollback. With
PREPARED_STATEMENTS=off (pgbouncer in transaction mode) the connection's `prepare_threshold` is
None, and psycopg prepares nothing.

Values are read as libpq hands them over, as bytes, through the cursor's `pgresult`: a stored
document goes out as it is, without being decoded and encoded again, and only the values a page
needs beyond it (its last row's keyset, the version) are decoded. Every wait is the
connection's own, so the request's deadline holds (api/store/db.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg.pq.abc import PGresult


@dataclass(frozen=True)
class Page:
    """One page of a list query whose rows are (stored JSON, keyset values…, version).

    `keyset` is the last row's on the page when more rows follow (the next cursor names it),
    else None; `version` is the one every row carries (what the list's ETag names), None when
    the page is empty or the collection has no revision yet."""

    docs: tuple[bytes, ...]
    keyset: tuple[str | None, ...] | None
    version: int | None

    @property
    def more(self) -> bool:
        return self.keyset is not None


def read_page(conn: psycopg.Connection, query: str, params: Mapping[str, object], limit: int) -> Page:
    """Up to `limit` rows: the query's `%(limit)s` is given one more, to learn whether more follow."""
    result = _run(conn, query, {**params, "limit": limit + 1})
    count, width = result.ntuples, result.nfields
    if not count:
        return Page((), None, None)
    rows = min(count, limit)
    value = result.get_value
    docs = tuple([value(row, 0) for row in range(rows)])  # a list first: a generator costs a frame switch a row
    keyset = None
    if count > limit:
        keyset = tuple(_text(result.get_value(rows - 1, column)) for column in range(1, width - 1))
    version = result.get_value(0, width - 1)
    return Page(docs, keyset, None if version is None else int(version))


def read_row(conn: psycopg.Connection, query: str, params: Mapping[str, object]) -> tuple[bytes | None, ...] | None:
    """The first row's values as Postgres' text (None for NULL), or None without a row."""
    result = _run(conn, query, params)
    if not result.ntuples:
        return None
    return tuple(result.get_value(0, column) for column in range(result.nfields))


def _run(conn: psycopg.Connection, query: str, params: Mapping[str, object]) -> PGresult:
    cursor = getattr(conn, "reader", None)
    if cursor is None or cursor.closed:
        # One cursor per connection, kept: making one (its adapters, its transformer) cost about
        # a tenth of the execute. A connection is lent to one request at a time.
        cursor = conn.reader = conn.cursor()  # type: ignore[attr-defined]
    cursor.execute(query, params, prepare=True)  # type: ignore[arg-type]
    result = cursor.pgresult
    assert result is not None  # execute raised otherwise
    return result


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()
