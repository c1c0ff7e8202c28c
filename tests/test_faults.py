"""Database faults against the production server: an outage, and backends killed mid-request.

The Postgres stopped here is the module's own (`private_pg`, tests/support.py's PrivatePostgres),
whatever DATABASE_URL says. No other test's server is ever touched.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg
import pytest

from api.http.auth import create_token
from tests.conftest import METRICS_AUTH, start_server, stop_server
from tests.support import PrivatePostgres, assert_unavailable, call

TALK = "geneva-strategic-stability-2022-01-10"
APP = "proposals-api"  # the application_name of the service's connections
OUTAGE_SECONDS = 8
T = TypeVar("T")


@pytest.fixture(scope="module")
def service(private_pg: PrivatePostgres) -> Iterator[str]:
    base, process = start_server(private_pg.url)
    yield base
    stop_server(process)


@pytest.fixture(scope="module")
def token(private_pg: PrivatePostgres) -> str:
    with psycopg.connect(private_pg.url, autocommit=True) as conn:
        return create_token(conn, f"faults-{uuid.uuid4().hex[:8]}", "write", None)


def service_backends(conn: psycopg.Connection, waiting: bool = False) -> list[int]:
    """Pids of the service's backends, or of those waiting on a lock."""
    query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()"
    if waiting:
        query += " AND wait_event_type = 'Lock'"
    return [pid for (pid,) in conn.execute(query, (APP,)).fetchall()]


def wait_for(check: Callable[[], T], seconds: float, what: str) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {seconds} s")


def metric(base: str, name: str, **labels: str) -> float:
    """One sample from /metrics (0 when absent)."""
    text = call(f"{base}/metrics", headers=METRICS_AUTH)[2].decode()
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_read_whose_backend_is_killed_gets_503_and_the_next_one_succeeds(service, private_pg):
    with (
        psycopg.connect(private_pg.url) as locker,
        psycopg.connect(private_pg.url, autocommit=True) as admin,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        locker.execute("LOCK TABLE talks IN ACCESS EXCLUSIVE MODE")  # the read below waits on it
        pending = pool.submit(call, f"{service}/v1/talks/{TALK}")
        pids = wait_for(lambda: service_backends(admin, waiting=True), 10, "the read reaching Postgres")
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pids[0],)).fetchone() == (True,)
        status, headers, body, _ = pending.result(timeout=15)
        locker.rollback()
    assert_unavailable(status, headers, body)
    assert [call(f"{service}/v1/talks/{TALK}")[0] for _ in range(10)] == [200] * 10


def test_a_write_whose_backend_is_killed_gets_503_changes_nothing_and_can_be_retried(service, private_pg, token):
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/merge-patch+json"}
    etag = call(f"{service}/v1/talks/{TALK}")[1]["etag"]
    with (
        psycopg.connect(private_pg.url) as locker,
        psycopg.connect(private_pg.url, autocommit=True) as admin,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        locker.execute("SELECT 1 FROM talks WHERE id = %s FOR UPDATE", (TALK,))  # the write queues behind it
        before = admin.execute("SELECT revision, doc::text FROM talks WHERE id = %s", (TALK,)).fetchone()
        pending = pool.submit(
            call, f"{service}/v1/talks/{TALK}", "PATCH", {"location": "Geneva (killed)"}, auth | {"If-Match": etag}
        )
        pids = wait_for(lambda: service_backends(admin, waiting=True), 10, "the write reaching Postgres")
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pids[0],))
        status, headers, body, _ = pending.result(timeout=15)
        locker.rollback()
        after = admin.execute("SELECT revision, doc::text FROM talks WHERE id = %s", (TALK,)).fetchone()
    assert_unavailable(status, headers, body)
    assert after == before  # the transaction died with its backend: nothing of it is left
    status, headers, body, _ = call(
        f"{service}/v1/talks/{TALK}", "PATCH", {"location": "Geneva (retried)"}, auth | {"If-Match": etag}
    )
    assert status == 200, body
    assert json.loads(body)["revision"] == before[0] + 1


def test_idle_connections_killed_under_the_pool_are_replaced_unseen(service, private_pg):
    for _ in range(8):  # make both workers open connections
        assert call(f"{service}/v1/talks")[0] == 200
    with psycopg.connect(private_pg.url, autocommit=True) as admin:
        pids = service_backends(admin)
        assert pids
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    assert [call(f"{service}/v1/talks")[0] for _ in range(20)] == [200] * 20


def test_an_outage_gives_fast_503s_and_the_service_heals_without_a_restart(service, private_pg):
    assert call(f"{service}/readyz")[0] == 200
    errors_before = metric(service, "proposals_api_db_errors_total", kind="unavailable")
    private_pg.stop()
    down = time.monotonic()
    try:
        answers = [call(f"{service}/v1/talks/{TALK}") for _ in range(3)]
        with concurrent.futures.ThreadPoolExecutor(6) as pool:  # a crowd, more than the pools hold
            answers += pool.map(lambda _: call(f"{service}/v1/talks"), range(12))
        ready = call(f"{service}/readyz")
        assert_unavailable(*ready[:3])
        assert ready[3] < 2
        assert call(f"{service}/healthz")[0] == 200
        # A long outage: past psycopg_pool's doubling retry delays (1, 2, 4 s), which would leave
        # the next attempt seconds after the database is back if they were not cut short.
        while time.monotonic() - down < OUTAGE_SECONDS:
            answers.append(call(f"{service}/v1/talks/{TALK}"))
        for status, headers, body, _ in answers:
            assert_unavailable(status, headers, body)
        assert metric(service, "proposals_api_db_errors_total", kind="unavailable") >= errors_before + len(answers)
    finally:
        private_pg.start()
    back = time.monotonic()
    times = sorted(seconds for *_, seconds in answers)
    slowest, median = times[-1], times[len(times) // 2]
    # The first request in a worker waits POOL_TIMEOUT (1 s); once the pool has failed to
    # connect, requests wait only briefly, so a crowd does not queue behind a dead database.
    assert slowest < 2, f"a request waited {slowest:.2f} s for a database that is down"
    assert median < 0.5, f"half the requests waited {median:.2f} s or more"
    healed = None
    streak = 0
    while streak < 20:  # healed: every worker answers again (20 in a row, over both workers)
        assert time.monotonic() - back < 15, "the service did not heal within 15 s"
        if call(f"{service}/v1/talks/{TALK}")[0] == 200:
            streak += 1
            healed = healed or time.monotonic() - back
        else:
            streak, healed = 0, None
            time.sleep(0.05)
    assert healed < 3, f"took {healed:.2f} s to heal"
    assert call(f"{service}/readyz")[0] == 200
    print(
        f"outage of {back - down:.1f} s: {len(answers)} requests, all 503, slowest {slowest:.3f} s, "
        f"median {median:.3f} s; healed {healed:.3f} s after Postgres was back"
    )
