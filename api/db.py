"""The connection pool (one per worker process) and the request's connection.

The pool is created by the app factory, which WSGI servers run in each worker after
fork. A request borrows one connection on first use and returns it at teardown; reads
run in autocommit, writes inside `with conn.transaction()`.
"""

from __future__ import annotations

import psycopg
from flask import Flask, current_app, g
from psycopg_pool import ConnectionPool

from api.config import Settings


def connect_kwargs(settings: Settings) -> dict:
    return {"autocommit": True, "connect_timeout": settings.connect_timeout, "application_name": "proposals-api"}


def open_pool(settings: Settings) -> ConnectionPool:
    pool = ConnectionPool(
        settings.require_database_url(),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout,
        kwargs=connect_kwargs(settings),
        max_lifetime=15 * 60,
        reconnect_timeout=24 * 3600,  # keep trying while the database is away; requests get 503 meanwhile
        open=False,
        name="proposals-api",
    )
    pool.open(wait=False)
    return pool


def init_app(app: Flask, settings: Settings) -> None:
    # Without a URL (e.g. when only the OpenAPI document is generated) requests get 503.
    app.extensions["db_pool"] = open_pool(settings) if settings.database_url else None
    app.teardown_appcontext(_give_back)


def connection() -> psycopg.Connection:
    """The connection of the current request, borrowed from the pool on first use."""
    if "db_conn" not in g:
        pool: ConnectionPool | None = current_app.extensions["db_pool"]
        if pool is None:
            raise psycopg.OperationalError("no database configured")
        g.db_conn = pool.getconn()
    return g.db_conn


def _give_back(exc: BaseException | None) -> None:
    conn = g.pop("db_conn", None)
    if conn is not None:
        current_app.extensions["db_pool"].putconn(conn)


def direct_connection(database_url: str) -> psycopg.Connection:
    """A connection outside any request, for the CLI."""
    return psycopg.connect(database_url, autocommit=True)
