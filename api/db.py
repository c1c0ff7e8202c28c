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
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import psycopg
from flask import Flask, current_app, g, request
from psycopg_pool import ConnectionPool, PoolTimeout

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
    kwargs = {"autocommit": True, "connect_timeout": settings.connect_timeout, "application_name": "proposals-api"}
    if not settings.prepared_statements:
        kwargs["prepare_threshold"] = None  # pgbouncer before 1.21 in transaction mode cannot keep them
    return kwargs


def open_pool(settings: Settings, url: str | None = None, name: str = "proposals-api") -> ConnectionPool:
    reachability = Reachability()
    pool = ConnectionPool(
        url or settings.require_database_url(),
        connection_class=_connection_class(reachability),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout,
        kwargs=connect_kwargs(settings),
        max_lifetime=15 * 60,
        reconnect_timeout=RECONNECT_TIMEOUT,
        check=_usable,
        open=False,
        name=name,
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
    app.extensions["db_replicas"] = (
        [
            Replica(open_pool(settings, url, f"replica-{n}"), settings)
            for n, url in enumerate(settings.database_read_url)
        ]
        if settings.database_url
        else []
    )
    app.teardown_appcontext(_give_back)


def connection() -> psycopg.Connection:
    """The connection of the current request, borrowed on first use and given back at teardown."""
    if "db_conn" not in g:
        g.db_pool, g.db_conn = _lend()
    return g.db_conn


@contextmanager
def held_connection() -> Iterator[psycopg.Connection]:
    """A connection the caller holds until it is done, for a streamed body.

    Flask tears the request down (and gives the request's connection back) as soon as the view
    returns, before a streamed body is produced; a stream reading on that connection would share it
    with whichever request borrows it next.
    """
    pool, conn = _lend()
    try:
        yield conn
    finally:
        give_back(pool, conn)


def _lend() -> tuple[ConnectionPool, psycopg.Connection]:
    return lend(current_app.extensions, request.method in ("GET", "HEAD") and "Authorization" not in request.headers)


def lend(extensions: Mapping[str, object], anonymous_read: bool) -> tuple[ConnectionPool, psycopg.Connection]:
    """From a replica for an anonymous read when one is up and close enough behind the primary,
    else from the primary. A request with a token always uses the primary, so an editor reads its
    own writes at once. Needs no request context (api/fastpath.py lends outside Flask's)."""
    pool: ConnectionPool | None = extensions["db_pool"]  # type: ignore[assignment]
    if pool is None:
        raise psycopg.OperationalError("no database configured")
    if anonymous_read:
        for replica in extensions["db_replicas"]:  # type: ignore[attr-defined]
            conn = replica.borrow(pool)
            if conn is not None:
                metrics.POOL_IN_USE.inc()
                return replica.pool, conn
    conn = _borrow(pool, UNREACHABLE_WAIT if pool.reachability.failing else None)
    metrics.POOL_IN_USE.inc()
    return pool, conn


def give_back(pool: ConnectionPool, conn: psycopg.Connection) -> None:
    """Returns a connection `lend` gave."""
    metrics.POOL_IN_USE.dec()
    pool.putconn(conn)


def _borrow(pool: ConnectionPool, wait: float | None) -> psycopg.Connection:
    metrics.POOL_WAITING.inc()
    try:
        return pool.getconn(wait)  # wait None: the pool's own timeout
    finally:
        metrics.POOL_WAITING.dec()


def _give_back(exc: BaseException | None) -> None:
    conn = g.pop("db_conn", None)
    if conn is not None:
        give_back(g.pop("db_pool"), conn)


def lsn(text: str) -> int:
    """A WAL position (`16/B374D848`) as a byte offset."""
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


class Replica:
    """A read replica as one worker sees it: skipped for a while after it fails, and while its
    replay is more than `replica_max_lag_bytes` behind the primary (checked at most once a second)."""

    LAG_CHECK_INTERVAL = 1.0
    DOWN_FOR = 5.0
    WAIT = 0.2

    def __init__(self, pool: ConnectionPool, settings: Settings) -> None:
        self.pool = pool
        self.max_lag = settings.replica_max_lag_bytes
        self.down_until = 0.0
        self.checked_at = 0.0
        self.lagging = False
        self.checking = threading.Lock()

    def borrow(self, primary: ConnectionPool) -> psycopg.Connection | None:
        now = time.monotonic()
        if now < self.down_until:
            return None
        try:
            if now - self.checked_at > self.LAG_CHECK_INTERVAL and self.checking.acquire(blocking=False):
                try:
                    self.lagging = self._lag(primary) > self.max_lag
                    self.checked_at = now
                finally:
                    self.checking.release()
            if self.lagging:
                return None
            return self.pool.getconn(UNREACHABLE_WAIT if self.pool.reachability.failing else self.WAIT)
        except (PoolTimeout, psycopg.Error):
            self.down_until = now + self.DOWN_FOR
            return None

    def _lag(self, primary: ConnectionPool) -> int:
        # The insert position, not pg_current_wal_lsn() (the write position): with synchronous_commit
        # off, a commit acknowledged to its client can sit in WAL buffers for up to wal_writer_delay,
        # and a replica that has replayed everything written would pass for current without it.
        with primary.connection(self.WAIT) as conn:
            written = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
        with self.pool.connection(self.WAIT) as conn:
            replayed = conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()[0]
        return lsn(written) - lsn(replayed) if replayed else 0


def direct_connection(database_url: str) -> psycopg.Connection:
    """A connection outside any request, for the CLI."""
    return psycopg.connect(database_url, autocommit=True)
