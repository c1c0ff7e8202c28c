"""Prometheus metrics at `/metrics`, summed over every worker process.

granian runs several worker processes, and a scrape reaches only one of them. With
`PROMETHEUS_MULTIPROC_DIR` set (`proposals-api serve` sets it to a fresh folder) each worker
writes its values to files there and a scrape adds them all up (prometheus_client's
multiprocess mode); without it (tests, a single process) the values are the process's own.
`/metrics` is a plain Flask route, not an API operation: it stays out of the OpenAPI document.

It is not public: the route exists only when `METRICS_TOKEN` is set, and answers only a request
that sends that token (`Authorization: Bearer …`; 401 otherwise). Its cost is bounded: every
label takes a bounded set of values (the URL rule, never the path; a known method or `other`;
the status), so no request can add series; and a worker renders a scrape at most once a second
(`SCRAPE_REUSE_SECONDS`), answering scrapes in between with the same text.
"""

from __future__ import annotations

import glob
import hmac
import os
import re
import threading
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

ENDPOINT = "metrics"
SCRAPE_REUSE_SECONDS = 1.0  # a worker renders at most one scrape in this time; the others reuse it
REALM = 'Bearer realm="proposals-api metrics"'
METHODS = {"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"}
UNMATCHED = "unmatched"  # no URL rule matched (404, 405): one series, whatever the path was

REQUESTS = Counter(
    "proposals_api_http_requests",
    "HTTP requests answered, by method, route (the URL rule, not the path) and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "proposals_api_http_request_duration_seconds",
    "Time from receiving a request to the end of its response body, by method and route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POOL_IN_USE = Gauge(
    "proposals_api_db_pool_connections_in_use",
    "Database connections lent to requests right now (all workers).",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "proposals_api_db_pool_requests_waiting",
    "Requests waiting for a database connection right now (all workers).",
    multiprocess_mode="livesum",
)
DB_ERRORS = Counter(
    "proposals_api_db_errors",
    "Database failures met by requests, by kind: unavailable (503), deadline (no answer within the "
    "request's deadline, 503), conflict (serialization or deadlock, 503), timeout (503), data (400), other (500).",
    ["kind"],
)
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


_SERIES: dict[tuple[str, str, int], tuple] = {}  # few: methods × URL rules × statuses


def record_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """Counts one answered request and its duration. The labelled series are looked up once:
    `labels()` cost more than the counting itself on a cheap request."""
    key = (method, route or UNMATCHED, status)
    series = _SERIES.get(key)
    if series is None:
        method = method if method in METHODS else "other"  # a client may send any token as a method
        series = (REQUESTS.labels(method, key[1], str(status)), LATENCY.labels(method, key[1]))
        if method != "other":
            _SERIES[key] = series
    series[0].inc()
    series[1].observe(seconds)


def _multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _forget_dead_workers(path: str) -> None:
    """Drops the live gauges of workers that are gone (granian has no hook to say so)."""
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_GAUGE_FILE.search(name)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)
        except PermissionError:
            pass  # alive, someone else's


def exposition() -> bytes:
    """The text exposition of every metric, summed over the workers when there are several."""
    path = _multiprocess_dir()
    if path is None:
        return generate_latest(REGISTRY)
    _forget_dead_workers(path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return generate_latest(registry)


class ScrapeCache:
    """The last rendering, reused for `seconds`: with several files per worker to read and add up,
    a scrape costs far more than a request, and a flood of them would take a worker's time."""

    def __init__(self, render: Callable[[], bytes], seconds: float, clock: Callable[[], float] = time.monotonic):
        self.render = render
        self.seconds = seconds
        self.clock = clock
        self.lock = threading.Lock()
        self.rendered_at: float | None = None
        self.text = b""

    def get(self) -> bytes:
        with self.lock:  # one rendering at a time; threads waiting on it take its result
            now = self.clock()
            if self.rendered_at is None or now - self.rendered_at >= self.seconds:
                self.text = self.render()
                self.rendered_at = self.clock()
            return self.text


SCRAPES = ScrapeCache(exposition, SCRAPE_REUSE_SECONDS)


def authorized() -> bool:
    """Whether this request carries the metrics token (compared in constant time)."""
    token = current_app.config["SETTINGS"].metrics_token
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_view() -> Response:
    if not authorized():
        from api.http.errors import ApiError  # imported late: api.http.errors counts database errors here

        sent = "Authorization" in request.headers
        raise ApiError(
            401,
            "Metrics need the metrics token: send Authorization: Bearer <METRICS_TOKEN>.",
            headers={"WWW-Authenticate": REALM + (', error="invalid_token"' if sent else "")},
        )
    response = Response(SCRAPES.get(), mimetype=CONTENT_TYPE_LATEST.split(";")[0])
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask, metrics_token: str) -> None:
    """`/metrics` only when a token is set: without one it is no route at all (404)."""
    if metrics_token:
        app.add_url_rule("/metrics", ENDPOINT, metrics_view, methods=["GET"])
