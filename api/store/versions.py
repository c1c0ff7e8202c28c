"""Each worker's memory of items' current versions, kept fresh by Postgres, so that a conditional
GET of an unchanged item is answered 304 without a database round trip (bench/README.md,
"Conditional GET": the round trip was half of a 304's cost).

What is kept: (collection, item id) → the item's current revision, negative once it is deleted;
versions only, at most VERSION_CACHE_SIZE entries, the least recently used going first. The key
space is open: another fact that only moves forward can live under a key of its own, such as a
changes feed's newest seq under ("changes", ""), which the trigger would send as one more line
(the `max(seq)` of the rows inserted) and `Versions.learn`/`apply` already keep moving forward.

How it stays fresh: a trigger on `revisions` (sql/functions/versions.sql) sends, for each
statement, once its transaction commits, the (collection, id, revision, deleted) of every row it inserted on the channel CHANNEL,
batched in payloads under 8,000 bytes, or a single `*` when the statement inserted more than
2,000 rows or removed any (a bulk import, a reset): `*` empties the map. A `Listener`
thread per worker holds a connection of its own (not from the pool: LISTEN is session state),
and applies what arrives. The worker's own writes are applied at once, on commit
(api/resources/writes.py), so a client that writes then reads through one worker never sees its
old version; other workers learn of a write when its notice reaches them (docs/deploy.md says
how long that is).

Correctness before speed: the map answers only while the listener has proven that notices reach
it. On each (re)connection the listener LISTENs, empties the map, then sends a ping through a
pooled connection, as any write would, and must receive it within PROOF_WAIT; it proves it again
every HEARTBEAT. Until then, and after any error, `get` answers None and every request goes to the
database as before. Behind pgbouncer in transaction mode LISTEN does not reach the listener's
session, the ping never arrives, and the map simply stays out of the way.

The map learns an item's version from the reads that go to the database (`learn`), under two
rules that keep a stale read from ever being kept: a read is learnt only if no notice (and no
emptying) was applied between its start and now (`epoch`), since its snapshot may predate a
commit whose notice already came; and a read from a replica, which may lag behind notices already
applied, only moves an entry that is already there, and only forward.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from time import monotonic, sleep

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from api.config import Settings

CHANNEL = "proposals_api_versions"
EVERYTHING = "*"  # a payload that empties the map
PING = "ping "  # a payload the listener sent itself: `ping <token>`
PROOF_WAIT = 1.0  # how long a ping may take to come back
HEARTBEAT = 5.0  # how often the listener proves itself again
RETRY_AFTER = 1.0  # how long the listener waits after a failure before connecting again
POLL = 0.5  # the listener's longest wait on its socket, so it notices a closed pool
PING_WAIT = 0.1  # the longest a ping waits for a pooled connection

log = logging.getLogger("proposals_api")
Key = tuple[str, str]


class Versions:
    """The map, safe to share between a worker's request threads and its listener."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[Key, int] = OrderedDict()
        self.lock = threading.Lock()
        self.proven = False  # whether notices are known to arrive: only then does `get` answer
        self.epoch = 0  # bumped by every notice and every emptying: see `learn`
        self.clears = 0  # bumped by every emptying, after which revisions may be numbered anew

    def get(self, key: Key) -> int | None:
        """The live item's current revision, or None: unknown, deleted, or the map is not proven."""
        if not self.proven:
            return None
        with self.lock:
            version = self.entries.get(key)
            if version is None or version < 0:
                return None
            self.entries.move_to_end(key)
            return version

    def learn(self, key: Key, revision: int, since: int, primary: bool) -> None:
        """What a read found (`since`: the epoch read before it started; `primary`: whether it read
        the primary). Only moves forward; see the module docstring for why a read may be ignored."""
        with self.lock:
            if not self.proven or self.epoch != since:
                return
            known = self.entries.get(key)
            if known is None:
                if not primary:
                    return
                self.entries[key] = revision
                if len(self.entries) > self.size:
                    self.entries.popitem(last=False)
            elif revision > abs(known):
                self.entries[key] = revision

    def apply(self, changes: Iterable[tuple[Key, int, bool]]) -> None:
        """Changes that committed (key, revision, deleted): entries present move forward. An absent
        key is not added: the epoch keeps any read under way from adding its older version."""
        with self.lock:
            self.epoch += 1
            for key, revision, deleted in changes:
                known = self.entries.get(key)
                if known is not None and revision >= abs(known):
                    self.entries[key] = -revision if deleted else revision

    def remember(self, changes: Iterable[tuple[Key, int, bool]], since: int) -> None:
        """This worker's own write, just committed (`since`: the epoch read before the commit):
        added when absent too, unless a notice came since, which may be of a later write."""
        with self.lock:
            fresh = self.proven and self.epoch == since
            self.epoch += 1
            for key, revision, deleted in changes:
                known = self.entries.get(key)
                if (known is None and fresh) or (known is not None and revision >= abs(known)):
                    self.entries[key] = -revision if deleted else revision
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def empty(self) -> None:
        with self.lock:
            self.epoch += 1
            self.clears += 1
            self.entries.clear()

    def bypass(self) -> None:
        """Stops answering until the listener proves itself again (and empties the map then)."""
        self.proven = False


def parse(payload: str) -> list[tuple[Key, int, bool]] | None:
    """A notice's changes, one a line: `collection/revision/d-or-l/item id`. None for `*`, or for
    anything unreadable (taken as `*`: emptying the map is always safe)."""
    if payload == EVERYTHING:
        return None
    changes = []
    for line in payload.split("\n"):
        collection, _, rest = line.partition("/")
        revision, _, rest = rest.partition("/")
        flag, _, item_id = rest.partition("/")
        if not (collection and item_id and revision.isdigit() and flag in ("d", "l")):
            return None
        changes.append(((collection, item_id), int(revision), flag == "d"))
    return changes


class Listener:
    """A daemon thread per worker: LISTENs on a connection of its own, applies notices to
    `versions`, and proves now and then that they arrive (see the module docstring). It stops
    when the primary pool closes. `ping` sends a NOTIFY through a pooled connection."""

    def __init__(
        self,
        versions: Versions,
        database_url: str,
        settings: Settings,
        ping: Callable[[str], bool],
        is_closed: Callable[[], bool],
    ) -> None:
        self.versions = versions
        self.url = database_url
        self.settings = settings
        self.ping = ping
        self.is_closed = is_closed
        self.proofs = 0  # how many times notices were proven to arrive (tests watch it)
        self.backend_pid: int | None = None  # the listening session's, for tests that end it
        self.thread = threading.Thread(target=self.run, name="versions-listener", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        failing = False
        while not self.is_closed():
            try:
                with psycopg.connect(
                    self.url,
                    autocommit=True,
                    connect_timeout=self.settings.connect_timeout,
                    application_name="proposals-api-listener",
                    prepare_threshold=None,
                ) as conn:
                    self.listen(conn)
            except Exception as error:  # any failure: bypass, then connect again
                if not self.is_closed():
                    # Said once a streak: behind pgbouncer every attempt fails alike, every 2 s.
                    level = logging.INFO if self.versions.proven or not failing else logging.DEBUG
                    log.log(level, "version cache bypassed: %s", error)
                failing = not self.versions.proven
            finally:
                self.versions.bypass()
                self.backend_pid = None
            deadline = monotonic() + RETRY_AFTER
            while monotonic() < deadline and not self.is_closed():
                sleep(0.1)

    def listen(self, conn: psycopg.Connection) -> None:
        """Listens, empties the map, proves, then applies notices until something fails. LISTEN
        comes first: a read that starts after the emptying sees every commit before it, and every
        later commit's notice arrives; reads that started before are refused by the epoch."""
        conn.execute(f"LISTEN {CHANNEL}")
        self.backend_pid = conn.info.backend_pid
        self.versions.empty()
        self.prove(conn)
        while not self.is_closed():
            due = monotonic() + HEARTBEAT
            while monotonic() < due:
                if self.is_closed():
                    return
                self.receive(conn, POLL, None)
            self.prove(conn)

    def prove(self, conn: psycopg.Connection) -> None:
        """Sends a ping through the pool and waits for it: the map answers only once it arrived.
        A heartbeat that finds no pooled connection free is skipped: a pool that is busy, not
        failing (a database that stops answering fails the requests' waits, and then this)."""
        token = uuid.uuid4().hex
        if not self.ping(f"{PING}{token}"):
            if self.versions.proven:
                return
            raise TimeoutError("no pooled connection free for the ping")
        if not self.receive(conn, PROOF_WAIT, token):
            raise TimeoutError(f"no notice within {PROOF_WAIT} s of a ping")
        self.proofs += 1
        self.versions.proven = True

    def receive(self, conn: psycopg.Connection, wait: float, token: str | None) -> bool:
        """Applies notices for up to `wait` seconds; True once the ping `token` arrived. Never
        leaves a batch half read: `stop_after=1` ends psycopg's generator after a whole batch."""
        deadline = monotonic() + wait
        found = False
        while True:
            for notice in conn.notifies(timeout=max(0.0, deadline - monotonic()), stop_after=1):
                if notice.payload.startswith(PING):
                    found = found or (token is not None and notice.payload == PING + token)
                    continue
                changes = parse(notice.payload)
                if changes is None:
                    self.versions.empty()
                else:
                    self.versions.apply(changes)
            if found or monotonic() >= deadline:
                return found


def start(extensions: Mapping[str, object], settings: Settings) -> Versions | None:
    """The worker's map and its listener, unless VERSION_CACHE is off or there is no database."""
    pool: ConnectionPool | None = extensions.get("db_pool")  # type: ignore[assignment]
    if not settings.version_cache or pool is None:
        return None

    def ping(payload: str) -> bool:
        """NOTIFY through a pooled connection, as a write's notice goes; False when none was free
        within PING_WAIT while the database is not known to be away (a busy pool: requests first)."""
        try:
            conn = pool.getconn(PING_WAIT)
        except PoolTimeout:
            if pool.reachability.failing:  # type: ignore[attr-defined]
                raise
            return False
        try:
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        finally:
            pool.putconn(conn)
        return True

    versions = Versions(settings.version_cache_size)
    versions.listener = Listener(  # type: ignore[attr-defined]
        versions, settings.require_database_url(), settings, ping, lambda: pool.closed
    )
    versions.listener.start()  # type: ignore[attr-defined]
    return versions
