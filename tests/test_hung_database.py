"""A database that accepts connections and never answers, against deadlines kept by the client.

Two kinds of hang, each against the production server: the test's own Postgres with every one of
its processes frozen (SIGSTOP: the kernel still accepts connections, nothing answers), and a TCP
proxy between the service and Postgres switched to a black hole (it accepts and holds connections
and forwards nothing). Every route that needs the database must answer 503 problem+json with
Retry-After within its deadline, /healthz 200 at once, and the service must answer normally again
within 5 s of the database coming back. The Postgres is a throwaway cluster of this module's own
(`private_pg`, tests/support.py's PrivatePostgres), never the one other tests share; it is always thawed again, whatever
happens, before anything else is done with it.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import select
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from api import create_app
from api.config import Settings
from api.http.auth import create_token
from api.store.db import DeadlinePassed, give_back, lend, open_pool
from api.store.executor import read_row
from tests.conftest import start_server, stop_server
from tests.support import PrivatePostgres, assert_unavailable, call

TALK = "geneva-strategic-stability-2022-01-10"
READ_DEADLINE = Settings().database_read_deadline  # the defaults are what is tested
WRITE_DEADLINE = Settings().database_write_deadline
MARGIN = 1.5  # for the HTTP round trip, and requests queued behind others in a worker's one thread
HEALED_WITHIN = 5.0
# Every kind of read that needs the database: the fast path (api/http/fastpath.py) and Flask's views.
READS = [
    (f"/v1/talks/{TALK}", {}),  # an item, fast path
    (f"/v1/talks/{TALK}", {"Accept": "application/json, */*;q=0.5"}),  # the same item through Flask
    ("/v1/talks", {}),  # a list, fast path
    ("/v1/talks?status=held", {}),  # a filtered list, Flask
    ("/v1/clauses?q=deployment", {}),  # a search, fast path
    ("/v1/clauses?q=deployment&proposal=us-russia-security-treaty", {}),  # a filtered search, Flask
    (f"/v1/talks/{TALK}/revisions", {}),
    ("/v1/export", {}),
    ("/readyz", {}),
]


class BlackHoleProxy:
    """A TCP forwarder on 127.0.0.1 to a Postgres port. Switched to a black hole, it accepts new
    connections and keeps every connection open, but passes nothing either way; switched back,
    it cuts the connections that lived through the hole (as a middlebox that lost them would)
    and forwards new ones again."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.holding = False
        self.closed = False
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database_url: str) -> str:
        return database_url.replace(f":{self.upstream_port}/", f":{self.port}/")

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self.lock:
                self.sockets.append(client)
                if self.holding:
                    continue  # held open, never read, never answered
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.append(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peer = {client: upstream, upstream: client}
        try:
            while not self.closed:
                if self.holding:
                    time.sleep(0.01)
                    continue
                readable, _, _ = select.select([client, upstream], [], [], 0.05)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peer[sock].sendall(data)
        except (OSError, ValueError):
            return  # cut by `restore` or `close`
        finally:
            client.close()
            upstream.close()

    def black_hole(self) -> None:
        with self.lock:
            self.holding = True

    def restore(self) -> None:
        with self.lock:
            for sock in self.sockets:
                _cut(sock)
            self.sockets.clear()
            self.holding = False

    @contextmanager
    def hung(self) -> Iterator[None]:
        self.black_hole()
        try:
            yield
        finally:
            self.restore()

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.restore()


def _cut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def postgres_processes(data: Path) -> list[int]:
    """The postmaster of a data directory, then every process it started."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[1]) == postmaster:
                children.append(int(entry.name))
    return [postmaster, *children]


def _signal(pids: list[int], signum: int) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signum)


@contextmanager
def frozen(pg: PrivatePostgres) -> Iterator[None]:
    """Every process of `pg` stopped (the postmaster first, so it starts no new ones), and all
    of them continued again on the way out, whatever happened inside."""
    postmaster, *_ = pids = postgres_processes(pg.data)
    os.kill(postmaster, signal.SIGSTOP)
    try:
        pids = postgres_processes(pg.data)
        _signal(pids[1:], signal.SIGSTOP)
        yield
    finally:
        _signal(pids, signal.SIGCONT)


@pytest.fixture(scope="module")
def private_pg(private_pg: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """conftest's private Postgres, never left frozen: thawed before it is destroyed."""
    try:
        yield private_pg
    finally:
        if (private_pg.data / "postmaster.pid").exists():
            _signal(postgres_processes(private_pg.data), signal.SIGCONT)


@pytest.fixture(scope="module")
def token(private_pg: PrivatePostgres) -> str:
    with psycopg.connect(private_pg.url, autocommit=True) as conn:
        return create_token(conn, f"hung-{uuid.uuid4().hex[:8]}", "write", None)


@dataclass
class Service:
    base: str
    hang: Callable[[], AbstractContextManager[None]]


@pytest.fixture(scope="module", params=["frozen-postgres", "black-hole-proxy"])
def service(request, private_pg: PrivatePostgres) -> Iterator[Service]:
    """The production server (2 workers of one thread, default deadlines), and how to hang its database."""
    proxy = None
    # The database path's deadlines are what is tested: answers kept in memory (api/store/bodies.py)
    # would answer the reads made before the hang with a 200, until the listener's next heartbeat.
    env = {"RESPONSE_CACHE": "off"}
    if request.param == "frozen-postgres":
        base, process = start_server(private_pg.url, env=env)
        hang = lambda: frozen(private_pg)  # noqa: E731
    else:
        proxy = BlackHoleProxy(private_pg.port)
        base, process = start_server(proxy.url(private_pg.url), env=env)
        hang = proxy.hung
    try:
        yield Service(base, hang)
    finally:
        stop_server(process)
        if proxy is not None:
            proxy.close()


def warm_up(base: str) -> None:
    """The service answering normally, its workers holding pooled connections for a hang to catch idle."""
    healed(base, time.monotonic())


def healed(base: str, since: float) -> float:
    """Seconds from `since` until the service answered normally: the first of 12 answers in a
    row (spread over the workers by the kernel), from the fast path, Flask and /readyz."""
    paths = [f"/v1/talks/{TALK}", "/v1/talks?status=held", "/readyz"]
    streak, first = 0, None
    while streak < 12:
        assert time.monotonic() - since < 20, "the service did not answer normally within 20 s"
        status = call(base + paths[streak % len(paths)], timeout=10)[0]
        if status == 200:
            streak += 1
            first = first or time.monotonic()
        else:
            streak, first = 0, None
            time.sleep(0.05)
    return first - since


def unavailable_within(answer: tuple, seconds: float, what: str) -> None:
    """A 503 as a client sees it (status, problem+json, Retry-After), in time."""
    status, headers, body, took = answer
    assert_unavailable(status, headers, body)
    assert took < seconds, f"{what} took {took:.2f} s (at most {seconds:.2f} s allowed)"


def test_every_read_answers_503_within_the_deadline_and_healthz_200(service):
    warm_up(service.base)
    times = []
    with service.hang():
        for path, headers in READS:
            answer = call(service.base + path, headers=headers)
            unavailable_within(answer, READ_DEADLINE + MARGIN, path)
            times.append(answer[3])
            status, _, body, took = call(f"{service.base}/healthz")
            assert (status, json.loads(body)) == (200, {"status": "ok"})
            assert took < 1.0, f"/healthz took {took:.2f} s"  # it waits for nothing
        thawed = time.monotonic()
    back = healed(service.base, thawed)
    assert back < HEALED_WITHIN
    print(
        f"{len(READS)} reads, one after another: 503 in {' '.join(f'{t:.2f}' for t in times)} s; healed in {back:.2f} s"
    )


def test_a_crowd_larger_than_the_workers_gets_503s_within_the_deadline(service):
    warm_up(service.base)
    with service.hang(), concurrent.futures.ThreadPoolExecutor(6) as crowd:
        paths = [READS[n % len(READS)] for n in range(6)]  # 6 requests against 2 workers of one thread
        answers = list(crowd.map(lambda read: call(service.base + read[0], headers=read[1]), paths))
        thawed = time.monotonic()
    for (path, _), answer in zip(paths, answers, strict=True):
        unavailable_within(answer, READ_DEADLINE + MARGIN, path)
    back = healed(service.base, thawed)
    assert back < HEALED_WITHIN
    print(f"6 at once: 503 in {' '.join(sorted(f'{a[3]:.2f}' for a in answers))} s; healed in {back:.2f} s")


def test_a_write_answers_503_and_is_then_applied_once_or_not_at_all(service, private_pg, token):
    warm_up(service.base)
    source_id = f"hung-source-{uuid.uuid4().hex[:8]}"
    body = {"id": source_id, "publisher": "P", "title": None, "url": None, "published_on": None, "description": "D"}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": source_id}
    with service.hang():
        answer = call(f"{service.base}/v1/sources", "POST", body, headers)
        thawed = time.monotonic()
    unavailable_within(answer, WRITE_DEADLINE + MARGIN, "the write")
    back = healed(service.base, thawed)
    assert back < HEALED_WITHIN
    with psycopg.connect(private_pg.url, autocommit=True) as conn:
        query = "SELECT count(*) FROM revisions WHERE collection = 'sources' AND item_id = %s"
        before = conn.execute(query, (source_id,)).fetchone()[0]
        assert before in (0, 1)
        status, got, _, _ = call(f"{service.base}/v1/sources", "POST", body, headers)  # the client's retry
        assert status == 201
        assert got.get("idempotent-replayed") == ("true" if before else None)
        assert conn.execute(query, (source_id,)).fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM sources WHERE id = %s", (source_id,)).fetchone()[0] == 1
    print(f"a write: 503 in {answer[3]:.2f} s, applied {before} time(s) before the retry; healed in {back:.2f} s")


# Focused tests of the mechanism, in this process, through the proxy.


@pytest.fixture
def proxy(private_pg: PrivatePostgres) -> Iterator[BlackHoleProxy]:
    proxy = BlackHoleProxy(private_pg.port)
    try:
        yield proxy
    finally:
        proxy.close()


def test_a_wait_past_the_deadline_closes_the_connection_and_the_pool_lends_it_no_more(private_pg, proxy):
    settings = Settings(database_url=proxy.url(private_pg.url), database_read_deadline=1.0, pool_max_size=2)
    pool = open_pool(settings)
    extensions = {"db_pool": pool, "db_replicas": [], "db_deadlines": (1.0, 2.0)}
    try:
        both = [pool.getconn(5), pool.getconn(5)]
        for one in both:
            pool.putconn(one)
        proxy.black_hole()
        started = time.monotonic()  # the deadline counts from the lending
        held, conn = lend(extensions, anonymous_read=True)
        (idle,) = [one for one in both if one is not conn]  # idle in the pool during the hang
        with pytest.raises(DeadlinePassed):
            conn.execute("SELECT 1")
        assert 0.9 < time.monotonic() - started < 2.0
        assert conn.closed
        assert pool.reachability.failing  # the requests after it wait for a connection only briefly
        give_back(held, conn)
        assert pool.get_stats()["pool_available"] == 0  # the idle one was closed too
        assert idle.closed
        proxy.restore()
        back = time.monotonic()
        while True:  # a new connection, opened after the database came back, answers
            try:
                held, conn = lend(extensions, anonymous_read=True)
                break
            except Exception:
                assert time.monotonic() - back < HEALED_WITHIN
                time.sleep(0.05)
        try:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            give_back(held, conn)
    finally:
        proxy.restore()
        pool.close()


def test_the_read_executor_keeps_the_deadline(private_pg, proxy):
    """api/store/executor.py reads results through the cursor's pgresult: its waits are the
    connection's own, so a prepared statement on a hung database ends by the request's deadline."""
    pool = open_pool(Settings(database_url=proxy.url(private_pg.url)))
    extensions = {"db_pool": pool, "db_replicas": [], "db_deadlines": (1.0, 2.0)}
    try:
        pool.wait(5)
        started = time.monotonic()  # the deadline counts from the lending
        held, conn = lend(extensions, anonymous_read=True)
        assert read_row(conn, "SELECT %(n)s::int", {"n": 1}) == (b"1",)
        proxy.black_hole()
        with pytest.raises(DeadlinePassed):
            read_row(conn, "SELECT %(n)s::int", {"n": 2})
        assert 0.9 < time.monotonic() - started < 2.0
        assert conn.closed
        give_back(held, conn)
    finally:
        proxy.restore()
        pool.close()


def test_a_write_past_its_deadline_tells_the_client_how_to_retry(private_pg, proxy, token):
    # No version cache: its listener's ping borrows a pooled connection now and then, and one that
    # took the only idle connection as the hang began left the write waiting for the pool (a 503
    # after pool_timeout, 1 s) rather than for the write deadline this test is about.
    settings = Settings(
        database_url=proxy.url(private_pg.url), rate_limit_writes=0, rate_limit_reads=0, version_cache=False
    )
    app = create_app(settings)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k1"}
    body = {"id": f"hung-{uuid.uuid4().hex[:8]}", "publisher": "P", "title": None, "url": None, "description": "D"}
    try:
        assert client.get(f"/v1/talks/{TALK}").status_code == 200  # a pooled connection, caught idle below
        with proxy.hung():
            started = time.monotonic()
            response = client.post("/v1/sources", json=body | {"published_on": None}, headers=headers)
            took = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.mimetype == "application/problem+json"
        assert WRITE_DEADLINE - 0.1 < took < WRITE_DEADLINE + MARGIN
        detail = response.get_json()["detail"]
        assert f"within {WRITE_DEADLINE:g} s" in detail and "Idempotency-Key" in detail and "If-Match" in detail
    finally:
        app.extensions["db_pool"].close()


def test_deadlines_are_settings_and_must_be_positive():
    settings = Settings.from_env({"DATABASE_READ_DEADLINE": "0.75", "DATABASE_WRITE_DEADLINE": "4"})
    assert (settings.database_read_deadline, settings.database_write_deadline) == (0.75, 4.0)
    assert Settings().database_read_deadline <= 2
    with pytest.raises(ValueError, match="DATABASE_READ_DEADLINE"):
        Settings(database_read_deadline=0)
