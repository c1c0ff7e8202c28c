"""The connection pools (one per worker process) and the deadlines on every wait.

The pools are opened by the app factory, which WSGI servers run in each worker after fork. A
request borrows one connection on first use and returns it at teardown (api/http/connection.py);
reads run in autocommit, writes inside `with conn.transaction()`. Nothing here knows of HTTP.

Outages heal without a restart: a borrowed connection is checked first (see `_usable`) and a
dead one is closed and the next one taken at once (psycopg_pool's own `check` sleeps about a
second after each failed check, longer than a request may wait), and a failed reconnection
gives up after RECONNECT_TIMEOUT instead of backing off ever longer, so the next request
starts a fresh attempt at once. A request waits at most `pool_timeout` for a connection, and only UNREACHABLE_WAIT while the pool's latest attempt
to connect failed, then gets 503 (api/http/errors.py): during an outage each worker thread
answers many requests a second instead of one, so a crowd does not queue up behind it.

A database that accepts connections and never answers (frozen processes, a network that
drops packets) is met with deadlines kept on the client's side, since a frozen server enforces
no `statement_timeout`: each wait on a pooled connection (see `DeadlineConnection.wait`) ends
by the request's deadline, DATABASE_READ_DEADLINE or DATABASE_WRITE_DEADLINE after the
request first borrowed a connection. A wait that reaches it closes its connection (it is never
lent again), and the pool takes the database for unreachable until a new connection opens: the
requests after it fail within UNREACHABLE_WAIT instead of waiting out a deadline each.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Mapping
from time import monotonic
from typing import Any

import psycopg
from psycopg.abc import PQGen
from psycopg_pool import ConnectionPool, PoolTimeout

from api.config import Settings
from api.http import metrics

# psycopg_pool retries a failed connection with a doubling delay (1, 2, 4, 8 … s) until this
# much time has passed. Left long, an outage of a minute means a next attempt a minute after the
# database is back; kept short, the chain ends and the next request that needs a connection
# starts a new one. So after an outage the service is back within about a second of the database.
RECONNECT_TIMEOUT = 2.0
# How long a request waits for a connection while the database is known to be unreachable:
# enough to pick up a connection the pool opens as the database returns.
UNREACHABLE_WAIT = 0.1
# psycopg's own interval between checks for Ctrl-C while it waits on a socket.
WAIT_INTERVAL = 0.1
# How long the replica lag check may wait on each database, within the request's deadline.
LAG_CHECK_WAIT = 0.5


class DeadlinePassed(psycopg.OperationalError):
    """The database did not answer before the request's deadline; the connection was closed."""


class Reachability:
    """Whether the database is away: the pool's latest attempt to open a connection failed, or a
    wait on one of its connections passed its deadline since."""

    def __init__(self) -> None:
        self.failing = False
        self.pool: ConnectionPool | None = None

    def hung(self) -> None:
        """A connection of this pool waited past its deadline: the database is away, and every
        connection opened before now is closed instead of lent (idle ones at once, lent ones when
        they are given back), since each would wait the same way. New ones replace them."""
        self.failing = True
        if self.pool is not None and not self.pool.closed:
            self.pool.drain()


class DeadlineConnection(psycopg.Connection):
    """A connection whose every wait on the server ends by `deadline` (a `time.monotonic()`
    instant), or after `wait_limit` seconds while it has none (in the pool, or streaming).

    Every query, fetch, commit and rollback psycopg makes waits in `wait`: bounding it there bounds
    them all, the read executor's included (api/store/executor.py). libpq's connect_timeout bounds
    connecting, and the pool's timeout waiting for a connection.
    """

    deadline: float | None = None
    wait_limit: float = 1.0  # set per pool by `_connection_class`
    poller: select.poll | None = None  # `_usable`'s, made at its first check
    reachability: Reachability

    @classmethod
    def connect(cls, *args: Any, **kwargs: Any) -> DeadlineConnection:  # type: ignore[override]
        try:
            conn = super().connect(*args, **kwargs)
        except psycopg.OperationalError:
            cls.reachability.failing = True
            raise
        cls.reachability.failing = False
        return conn

    def wait(self, gen: PQGen[Any], interval: float = WAIT_INTERVAL, timeout: float | None = None) -> Any:
        now = monotonic()
        ends = now + self.wait_limit if self.deadline is None else self.deadline
        if ends <= now:
            # Not even started: closed all the same, since psycopg's transaction bookkeeping
            # expects the rollback this connection can no longer wait for.
            self.close()
            raise DeadlinePassed("the request's deadline passed before its next query")
        try:
            return super().wait(gen, interval, ends - now if timeout is None else min(timeout, ends - now))
        except psycopg.OperationalError as error:
            if monotonic() < ends:
                raise  # a failure of its own (a lost connection), not the deadline's
            raise self.given_up(str(error)) from None

    def given_up(self, reason: str) -> DeadlinePassed:
        """Ends a connection that waited past its deadline, and says so. A late answer could still
        arrive on its socket and be read as the next query's: the pool, seeing it closed, opens
        another. Its pool takes the database for unreachable (`Reachability.hung`)."""
        self.close()
        self.reachability.hung()
        return DeadlinePassed(f"the database did not answer within the deadline ({reason})")


def _connection_class(reachability: Reachability, wait_limit: float) -> type[DeadlineConnection]:
    """A DeadlineConnection class for one pool: its `connect` tells `reachability` how it went."""
    return type("PooledConnection", (DeadlineConnection,), {"reachability": reachability, "wait_limit": wait_limit})


def connect_kwargs(settings: Settings) -> dict:
    kwargs = {"autocommit": True, "connect_timeout": settings.connect_timeout, "application_name": "proposals-api"}
    if not settings.prepared_statements:
        kwargs["prepare_threshold"] = None  # pgbouncer before 1.21 in transaction mode cannot keep them
    return kwargs


def open_pool(settings: Settings, url: str | None = None, name: str = "proposals-api") -> ConnectionPool:
    reachability = Reachability()
    pool = ConnectionPool(
        url or settings.require_database_url(),
        connection_class=_connection_class(reachability, settings.database_read_deadline),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout,
        kwargs=connect_kwargs(settings),
        max_lifetime=15 * 60,
        reconnect_timeout=RECONNECT_TIMEOUT,
        configure=_ignore_notices,
        open=False,
        name=name,
    )
    pool.reachability = reachability
    reachability.pool = pool
    pool.open(wait=False)
    return pool


def _ignore_notices(conn: psycopg.Connection) -> None:
    """Drops NOTIFY messages a pooled connection receives: psycopg would keep them in a queue with
    no bound. None should arrive, but behind pgbouncer in transaction mode the server session that
    ran the version cache's LISTEN (api/store/versions.py) can be lent to any client."""
    conn.add_notify_handler(_drop)


def _drop(notice: psycopg.Notify) -> None:
    pass


def _usable(conn: psycopg.Connection, deadline: float) -> None:
    """Raises if a pooled connection is dead; asks the server only when it is likely to be.

    An idle connection receives nothing unless the server is closing it (a restart,
    `pg_terminate_backend`): then its socket is readable, and only then does this pay a
    round trip (psycopg_pool's own check) to be sure. A healthy connection costs one poll().
    """
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    poller = getattr(conn, "poller", None)  # made once per connection: its socket stays the same
    if poller is None:
        poller = conn.poller = select.poll()  # type: ignore[attr-defined]
        poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        conn.deadline = deadline  # the round trip counts against the request's
        ConnectionPool.check_connection(conn)


def open_pools(settings: Settings) -> dict[str, object]:
    """The primary's pool, the replicas' and the deadlines, as `lend` reads them (the app keeps
    them in its extensions). Without a URL (e.g. when only the OpenAPI document is generated)
    there is no pool, and every request that needs the database gets 503."""
    return {
        "db_pool": open_pool(settings) if settings.database_url else None,
        "db_replicas": [
            Replica(open_pool(settings, url, f"replica-{n}"), settings)
            for n, url in enumerate(settings.database_read_url)
        ]
        if settings.database_url
        else [],
        "db_deadlines": (settings.database_read_deadline, settings.database_write_deadline),
    }


def lend(
    extensions: Mapping[str, object], anonymous_read: bool, write: bool = False
) -> tuple[ConnectionPool, psycopg.Connection]:
    """From a replica for an anonymous read when one is up and close enough behind the primary,
    else from the primary. A request with a token always uses the primary, so an editor reads its
    own writes at once. Needs no request context (api/http/fastpath.py lends outside Flask's).

    The connection's waits end by the deadline of a read or a `write`, counted from now; the
    wait for the connection itself counts against it too."""
    pool: ConnectionPool | None = extensions["db_pool"]  # type: ignore[assignment]
    if pool is None:
        raise psycopg.OperationalError("no database configured")
    deadline = monotonic() + extensions["db_deadlines"][write]  # type: ignore[index]
    if anonymous_read:
        for replica in extensions["db_replicas"]:  # type: ignore[attr-defined]
            conn = replica.borrow(pool, deadline)
            if conn is not None:
                metrics.POOL_IN_USE.inc()
                return replica.pool, conn
    conn = _borrow(pool, UNREACHABLE_WAIT if pool.reachability.failing else pool.timeout, deadline)
    metrics.POOL_IN_USE.inc()
    return pool, conn


def give_back(pool: ConnectionPool, conn: psycopg.Connection) -> None:
    """Returns a connection `lend` gave. Back in the pool its waits (a rollback, a check) end
    after `wait_limit` each."""
    metrics.POOL_IN_USE.dec()
    conn.deadline = None  # type: ignore[attr-defined]
    pool.putconn(conn)


def _borrow(pool: ConnectionPool, wait: float, deadline: float) -> psycopg.Connection:
    """A connection from `pool` within `wait` seconds and by `deadline`, its waits ending by `deadline`.

    Counted as waiting (POOL_WAITING) unless the pool holds an idle connection as it is asked: a
    borrow that finds one does not wait, and the gauge's two updates cost a fifth of a borrow. The
    idle connections are psycopg_pool's own deque (`_pool`); without it every borrow is counted."""
    waits = not getattr(pool, "_pool", None)
    if waits:
        metrics.POOL_WAITING.inc()
    until = min(monotonic() + wait, deadline)
    try:
        while True:
            conn = pool.getconn(until - monotonic())  # PoolTimeout once `until` has passed
            try:
                _usable(conn, deadline)
                break
            except psycopg.OperationalError:
                conn.close()  # a closed connection given back is dropped and a new one opened
                pool.putconn(conn)
    finally:
        if waits:
            metrics.POOL_WAITING.dec()
    conn.deadline = deadline  # type: ignore[attr-defined]
    return conn


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

    def borrow(self, primary: ConnectionPool, deadline: float) -> psycopg.Connection | None:
        """A connection whose waits end by `deadline`, or None to read from the primary."""
        now = monotonic()
        if now < self.down_until:
            return None
        try:
            if now - self.checked_at > self.LAG_CHECK_INTERVAL and self.checking.acquire(blocking=False):
                try:
                    self.lagging = self._lag(primary, min(deadline, now + LAG_CHECK_WAIT)) > self.max_lag
                    self.checked_at = now
                finally:
                    self.checking.release()
            if self.lagging:
                return None
            return _borrow(self.pool, UNREACHABLE_WAIT if self.pool.reachability.failing else self.WAIT, deadline)
        except (PoolTimeout, psycopg.Error):
            self.down_until = now + self.DOWN_FOR
            return None

    def _lag(self, primary: ConnectionPool, deadline: float) -> int:
        # The insert position, not pg_current_wal_lsn() (the write position): with synchronous_commit
        # off, a commit acknowledged to its client can sit in WAL buffers for up to wal_writer_delay,
        # and a replica that has replayed everything written would pass for current without it.
        written = _scalar(primary, "SELECT pg_current_wal_insert_lsn()::text", self.WAIT, deadline)
        replayed = _scalar(self.pool, "SELECT pg_last_wal_replay_lsn()::text", self.WAIT, deadline)
        return lsn(written) - lsn(replayed) if replayed else 0


def _scalar(pool: ConnectionPool, query: str, wait: float, deadline: float) -> Any:
    """The one value `query` returns, on a connection of `pool`, by `deadline`."""
    conn = _borrow(pool, wait, deadline)
    try:
        return conn.execute(query).fetchone()[0]  # type: ignore[index]
    finally:
        conn.deadline = None  # type: ignore[attr-defined]
        pool.putconn(conn)


def direct_connection(database_url: str) -> psycopg.Connection:
    """A connection outside any request, for the CLI. Behind pgbouncer in transaction mode
    (PREPARED_STATEMENTS=off) it prepares nothing, as the pool's connections: a statement the
    mirror runs for every change would otherwise be prepared on one server connection and
    asked for by name on another."""
    prepared = Settings.from_env().prepared_statements
    return psycopg.connect(database_url, autocommit=True, **({} if prepared else {"prepare_threshold": None}))
