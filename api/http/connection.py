"""The request's database connection: borrowed on first use, given back at teardown.

What the request is decides where it comes from (api/store/db.py `lend`): an anonymous read may
come from a replica; a request with a token always uses the primary, so an editor reads its own
writes at once; a write's waits end by the write deadline, a read's by the read deadline.
"""

from __future__ import annotations

import psycopg
from flask import Flask, current_app, g, request
from psycopg_pool import ConnectionPool

from api.config import Settings
from api.store import bodies, versions
from api.store.db import give_back, lend, open_pools

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions.update(open_pools(settings))
    app.extensions["versions"] = versions.start(app.extensions, settings)
    app.extensions["bodies"] = bodies.start(app.extensions["versions"], settings)
    app.teardown_appcontext(_give_back)


def connection() -> psycopg.Connection:
    """The connection of the current request, borrowed on first use and given back at teardown."""
    if "db_conn" not in g:
        g.db_pool, g.db_conn = _lend()
    return g.db_conn


def _lend() -> tuple[ConnectionPool, psycopg.Connection]:
    anonymous_read = request.method in ("GET", "HEAD") and "Authorization" not in request.headers
    return lend(current_app.extensions, anonymous_read, write=request.method not in SAFE_METHODS)


def _give_back(exc: BaseException | None) -> None:
    conn = g.pop("db_conn", None)
    if conn is not None:
        give_back(g.pop("db_pool"), conn)
