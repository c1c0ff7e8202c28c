"""The connection pool (one per worker process) and the request's connection.

The pool is created by the app factory, which WSGI servers run in each worker after
fork. A request borrows one connection on first use and returns it at teardown; reads
run in autocommit, writes inside `with conn.transaction()`.

Outages heal without a restart: a borrowed connection is checked first (see `_usable`),
and a failed reconnection gives up after RECONNECT_TIMEOUT instead of backing off ever
longer, so the next request starts a fresh attempt at once. A request waits at most
`pool_timeout` for a connection, and only UNREACHABLE_WAIT while the pool's latest attempt
to connect failed, then gets 503 (api/errors.py): during an outage each worker thread
answers many requests a second instead of one, so a crowd does not queue up behind it.
"""

from __future__ import annotations

import select

import psycopg
from flask import Flask, current_app, g
from psycopg_pool import ConnectionPool

from api import metrics
from api.config import Settings

# psycopg_pool retries a failed connection with a doubling delay (1, 2, 4, 8 … s) until this
# much time has passed. Left long, an outage of a minute means a next attempt a minute after the
# database is back; kept short, the chain ends and the next request that needs a connection
# starts a new one. So after an outage the service is back within about a second of the database.
RECONNECT_TIMEOUT = 2.0
# How long a request waits for a connection while the database is known to be unreachable:
# enough to pick up a connection the pool opens as the database returns.
UNREACHABLE_WAIT = 0.1


class Reachability:
    """Whether the pool's latest attempt to open a connection failed: the database is away."""

    def __init__(self) -> None:
        self.failing = False


def _connection_class(reachability: Reachability) -> type[psycopg.Connection]:
    """A Connection whose `connect` tells `reachability` how it went (the pool calls it)."""

    class ReportingConnection(psycopg.Connection):
        @classmethod
        def connect(cls, *args, **kwargs):  # type: ignore[override]
            try:
                conn = super().connect(*args, **kwargs)
            except psycopg.OperationalError:
                reachability.failing = True
                raise
            reachability.failing = False
            return conn

    return ReportingConnection


def connect_kwargs(settings: Settings) -> dict:
    return {"autocommit": True, "connect_timeout": settings.connect_timeout, "application_name": "proposals-api"}


def open_pool(settings: Settings) -> ConnectionPool:
    reachability = Reachability()
    pool = ConnectionPool(
        settings.require_database_url(),
        connection_class=_connection_class(reachability),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout,
        kwargs=connect_kwargs(settings),
        max_lifetime=15 * 60,
        reconnect_timeout=RECONNECT_TIMEOUT,
        check=_usable,
        open=False,
        name="proposals-api",
    )
    pool.reachability = reachability
    pool.open(wait=False)
    return pool


def _usable(conn: psycopg.Connection) -> None:
    """Raises if a pooled connection is dead; asks the server only when it is likely to be.

    An idle connection receives nothing unless the server is closing it (a restart,
    `pg_terminate_backend`): then its socket is readable, and only then does this pay a
    round trip (psycopg_pool's own check) to be sure. A healthy connection costs one poll().
    """
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


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
        wait = UNREACHABLE_WAIT if pool.reachability.failing else None  # None: the pool's own timeout
        metrics.POOL_WAITING.inc()
        try:
            g.db_conn = pool.getconn(wait)
        finally:
            metrics.POOL_WAITING.dec()
        metrics.POOL_IN_USE.inc()
    return g.db_conn


def _give_back(exc: BaseException | None) -> None:
    conn = g.pop("db_conn", None)
    if conn is not None:
        metrics.POOL_IN_USE.dec()
        current_app.extensions["db_pool"].putconn(conn)


def direct_connection(database_url: str) -> psycopg.Connection:
    """A connection outside any request, for the CLI."""
    return psycopg.connect(database_url, autocommit=True)
