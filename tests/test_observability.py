"""JSON logs with request ids, errors logged (never sent), and Prometheus metrics over all workers."""

from __future__ import annotations

import concurrent.futures
import io
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from api import create_app
from api.config import Settings
from api.http import logs, metrics
from tests.conftest import METRICS_AUTH, METRICS_TOKEN, start_server, stop_server

TALK = "geneva-strategic-stability-2022-01-10"


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[tuple[str, Path]]:
    """The production server, and the file its stderr goes to. One test holds a read on a table lock
    while it scrapes: a long read deadline keeps that read waiting instead of answering 503."""
    base, process = start_server(database_url, env={"DATABASE_READ_DEADLINE": "30"})
    log_path = Path(process.log_path)
    yield base, log_path
    stop_server(process)


def fetch(url: str, headers: dict | None = None, timeout: float = 15, method: str = "GET") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def access_lines(log_path: Path, request_ids: set[str], seconds: float = 5) -> list[dict]:
    """The access lines of these requests, once all are written (a line follows its response)."""
    deadline = time.monotonic() + seconds
    while True:
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        found = [
            line for line in lines if line["logger"] == "proposals_api.access" and line["request_id"] in request_ids
        ]
        if {line["request_id"] for line in found} == request_ids or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def samples(text: str, name: str) -> dict[str, float]:
    """{label text: value} of one metric in the Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, value = line.rsplit(" ", 1)
            out[key[len(name) :]] = float(value)
    return out


def test_one_json_line_per_request_with_the_id_the_client_got(server):
    base, log_path = server
    given = "trace-7f3a.b_c"
    status, headers, _ = fetch(f"{base}/v1/talks/{TALK}", {"X-Request-ID": given})
    assert (status, headers["x-request-id"]) == (200, given)
    ids = {given}
    for path in ("/v1/talks", "/v1/talks/no-such-talk", "/no/such/route", "/healthz"):
        status, headers, _ = fetch(f"{base}{path}", {"X-Request-ID": "<bad id>"})  # not well-formed: replaced
        assert headers["x-request-id"] != "<bad id>" and len(headers["x-request-id"]) == 32
        ids.add(headers["x-request-id"])
    lines = access_lines(log_path, ids)
    assert sorted(line["request_id"] for line in lines) == sorted(ids)  # exactly one line each
    by_path = {line["path"]: line for line in lines}
    one = by_path[f"/v1/talks/{TALK}"]
    assert one["request_id"] == given
    assert (one["method"], one["route"], one["status"], one["level"]) == ("GET", "/v1/talks/<talk_id>", 200, "INFO")
    assert one["remote_addr"] == "127.0.0.1"
    assert 0 < one["duration_ms"] < 10_000
    assert one["ts"].endswith("Z")
    assert by_path["/v1/talks/no-such-talk"]["status"] == 404
    assert (by_path["/no/such/route"]["route"], by_path["/no/such/route"]["status"]) == (None, 404)


def test_every_line_the_server_writes_to_stderr_is_json(server):
    base, log_path = server
    fetch(f"{base}/v1/parties")
    # stdout goes to the same file: the two lines `serve` prints before granian starts.
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    other = [line for line in lines if not line.startswith("{")]
    assert all(line.startswith(("serving on ", "seeded ")) for line in other), other
    for line in lines:
        if line.startswith("{"):
            entry = json.loads(line)
            assert {"ts", "level", "logger", "message", "pid"} <= entry.keys()


def test_metrics_add_up_over_the_workers(server):
    base, log_path = server
    route = "/v1/sources/<source_id>"
    before = samples(fetch(f"{base}/metrics", METRICS_AUTH)[2].decode(), "proposals_api_http_requests_total")
    key = f'{{method="GET",route="{route}",status="200"}}'
    answers: list = []
    pids: set = set()
    # Which worker accepts a connection is the kernel's choice, and a fast one can take a whole
    # batch: send batches until both have answered some.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        while len(pids) < 2 and len(answers) < 800:
            answers += pool.map(lambda _: fetch(f"{base}/v1/sources/sputnik-lavrov-security-guarantees"), range(40))
            pids = {line["pid"] for line in access_lines(log_path, {h["x-request-id"] for _, h, _ in answers})}
    assert {status for status, _, _ in answers} == {200}
    assert len(pids) == 2, "both workers should have served some of the requests"
    time.sleep(metrics.SCRAPE_REUSE_SECONDS)  # past the rendering the worker may still be reusing
    status, headers, body = fetch(f"{base}/metrics", METRICS_AUTH)
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=")
    text = body.decode()
    after = samples(text, "proposals_api_http_requests_total")
    assert after[key] - before.get(key, 0) == len(answers)  # one scrape, one worker, every worker's count
    latency = samples(text, "proposals_api_http_request_duration_seconds_count")
    assert latency[f'{{method="GET",route="{route}"}}'] >= len(answers)
    assert samples(text, "proposals_api_db_pool_requests_waiting") == {"": 0.0}


def test_the_pool_gauge_counts_a_request_holding_a_connection(server, database_url):
    base, _ = server
    with (
        psycopg.connect(database_url) as locker,
        concurrent.futures.ThreadPoolExecutor(2) as pool,
    ):
        locker.execute("LOCK TABLE talks IN ACCESS EXCLUSIVE MODE")  # this read waits on it
        pending = pool.submit(fetch, f"{base}/v1/talks?status=held")  # Flask's path: never a kept answer
        deadline = time.monotonic() + 10
        in_use = 0.0
        while in_use < 1 and time.monotonic() < deadline:
            try:  # a worker answers one request at a time: a scrape sent to the waiting one waits too
                scraped = fetch(f"{base}/metrics", METRICS_AUTH, timeout=0.5)[2].decode()
            except (TimeoutError, urllib.error.URLError):
                continue
            in_use = samples(scraped, "proposals_api_db_pool_connections_in_use")[""]
            time.sleep(0.02)
        locker.rollback()
        assert pending.result(timeout=15)[0] == 200
    assert in_use >= 1
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        idle = samples(fetch(f"{base}/metrics", METRICS_AUTH)[2].decode(), "proposals_api_db_pool_connections_in_use")[
            ""
        ]
        if idle == 0:
            break
        time.sleep(0.02)
    assert idle == 0


def test_metrics_are_not_an_api_operation(client):
    assert "/metrics" not in client.get("/v1/openapi.json").get_json()["paths"]
    response = client.get("/metrics", headers=METRICS_AUTH)
    assert response.status_code == 200
    assert b"proposals_api_http_requests_total" in response.data
    assert response.headers["Cache-Control"] == "no-store"


def test_without_a_metrics_token_there_are_no_metrics():
    client = create_app(Settings(database_url=None)).test_client()
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/problem+json"
        assert b"proposals_api" not in response.data


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, 'Bearer realm="proposals-api metrics"'),
        ("Bearer wrong-token", 'Bearer realm="proposals-api metrics", error="invalid_token"'),
        (f"Bearer {METRICS_TOKEN}x", 'Bearer realm="proposals-api metrics", error="invalid_token"'),
        (f"Basic {METRICS_TOKEN}", 'Bearer realm="proposals-api metrics", error="invalid_token"'),
        ("Bearer", 'Bearer realm="proposals-api metrics", error="invalid_token"'),
        ("Bearer ünïcode", 'Bearer realm="proposals-api metrics", error="invalid_token"'),
    ],
)
def test_a_scrape_without_the_metrics_token_is_refused(server, authorization, challenge):
    base, _ = server
    status, headers, body = fetch(f"{base}/metrics", {"Authorization": authorization} if authorization else {})
    assert status == 401
    assert headers["www-authenticate"] == challenge
    assert headers["content-type"] == "application/problem+json"
    assert headers["cache-control"] == "no-store"
    assert json.loads(body)["status"] == 401
    assert b"proposals_api_" not in body


def test_the_metrics_token_opens_the_scrape(server):
    base, _ = server
    for scheme in ("Bearer", "bearer"):
        status, headers, body = fetch(f"{base}/metrics", {"Authorization": f"{scheme} {METRICS_TOKEN}"})
        assert status == 200
        assert headers["content-type"].startswith("text/plain; version=")
        assert b"proposals_api_http_requests_total" in body


def test_refused_scrapes_count_against_the_read_limit_and_allowed_ones_never_do():
    app = create_app(Settings(database_url=None, metrics_token=METRICS_TOKEN, rate_limit_reads=3))
    client = app.test_client()
    assert [client.get("/metrics", headers=METRICS_AUTH).status_code for _ in range(10)] == [200] * 10
    assert [client.get("/metrics").status_code for _ in range(4)] == [401, 401, 401, 429]
    assert client.get("/metrics", headers=METRICS_AUTH).status_code == 200


def series(text: str) -> set[str]:
    """The names and labels of every sample in a scrape, without their values."""
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def fresh_scrape(base: str) -> str:
    time.sleep(metrics.SCRAPE_REUSE_SECONDS + 0.1)  # past the rendering a worker may still be reusing
    status, _, body = fetch(f"{base}/metrics", METRICS_AUTH)
    assert status == 200
    return body.decode()


def test_requests_to_unknown_paths_add_no_series(server):
    """Whatever the path and the method, a request is counted under one of a bounded set of labels."""
    base, _ = server
    methods = ["GET", "POST", "DELETE", "BREW", "M-SEARCH"]

    def send(n: int) -> int:
        path = f"/no-such-{n}/{'x' * (n % 50)}?q={n}"
        return fetch(f"{base}{path}", {"X-Request-ID": f"unknown-{n}"}, method=methods[n % len(methods)])[0]

    assert {send(n) for n in range(10)} <= {404, 405, 501}  # every kind once: their series exist
    before = fresh_scrape(base)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(send, range(10, 1010)))
    assert len(statuses) == 1000 and set(statuses) <= {404, 405, 501}
    after = fresh_scrape(base)
    assert series(after) == series(before)
    assert len(after) < len(before) + 2_000  # only the counts grew, by a few digits
    unmatched = samples(after, "proposals_api_http_requests_total")
    counted = samples(before, "proposals_api_http_requests_total")
    grown = sum(unmatched[key] - counted.get(key, 0) for key in unmatched if 'route="unmatched"' in key)
    assert grown >= 1000
    assert "no-such" not in after


def test_a_worker_renders_a_scrape_at_most_once_in_its_reuse_time():
    clock = [100.0]
    renderings: list[float] = []

    def render() -> bytes:
        renderings.append(clock[0])
        return f"scrape {len(renderings)}".encode()

    cache = metrics.ScrapeCache(render, seconds=1.0, clock=lambda: clock[0])
    assert cache.get() == b"scrape 1"
    clock[0] += 0.5
    assert [cache.get() for _ in range(100)] == [b"scrape 1"] * 100
    clock[0] += 0.5
    assert cache.get() == b"scrape 2"
    assert renderings == [100.0, 101.0]


def test_an_unexpected_error_is_logged_with_its_id_and_trace_and_never_sent():
    app = create_app(Settings(database_url=None))

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals: token=abc")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        response = app.test_client().get("/boom", headers={"X-Request-ID": "boom-1"})
        response.close()  # the access line is written when the server closes the response
    finally:
        logging.getLogger().removeHandler(handler)
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/problem+json"
    assert b"secret" not in response.data and b"Traceback" not in response.data
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    error = next(e for e in entries if e["level"] == "ERROR")
    assert error["request_id"] == "boom-1"
    assert "RuntimeError: secret internals" in error["trace"] and "Traceback" in error["trace"]
    access = next(e for e in entries if e["logger"] == "proposals_api.access")
    assert (access["request_id"], access["status"], access["route"]) == ("boom-1", 500, "/boom")


def test_the_waiting_gauge_counts_a_borrow_that_waits_and_not_one_that_finds_a_connection(database_url):
    """`_borrow` skips the gauge when psycopg_pool's deque of idle connections (`_pool`) holds one:
    this also guards that private attribute, should a psycopg_pool upgrade rename it."""
    from api.store import db

    pool = db.open_pool(Settings(database_url=database_url, pool_min_size=1, pool_max_size=1, pool_timeout=5))
    try:
        pool.wait(timeout=5)
        assert len(pool._pool) == 1  # the attribute `_borrow` reads: the idle connections
        seen: list[float] = []
        real_inc = metrics.POOL_WAITING.inc

        def counting_inc(amount: float = 1) -> None:
            seen.append(amount)
            real_inc(amount)

        metrics.POOL_WAITING.inc = counting_inc  # type: ignore[method-assign]
        try:
            held = db._borrow(pool, 5, time.monotonic() + 5)  # an idle one is there: no wait counted
            assert seen == []
            with concurrent.futures.ThreadPoolExecutor(1) as waiter:
                second = waiter.submit(db._borrow, pool, 5, time.monotonic() + 5)
                deadline = time.monotonic() + 5
                while not seen and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert seen == [1]  # the second borrow found none idle: counted while it waits
                held.deadline = None
                pool.putconn(held)
                other = second.result(timeout=5)
            other.deadline = None
            pool.putconn(other)
        finally:
            del metrics.POOL_WAITING.inc
    finally:
        pool.close()
