"""What a /metrics scrape costs after traffic, and what a flood of scrapes costs other readers.

Against a running server (`proposals-api serve`, with METRICS_TOKEN set to the token given here):

1. traffic that makes every series it can: every operation of the OpenAPI document with every
   method, good and bad arguments, unknown ids and paths, odd methods (`--rounds` times);
2. the scrape's size and its time (median and max of 20, each after the server's reuse time, so
   each is rendered afresh);
3. other readers' median and p99 latency (`GET /v1/talks/{id}`, 2 clients), alone and while
   4 clients loop on /metrics.

    .venv/bin/python bench/metrics_scrape.py http://127.0.0.1:8000 --token "$METRICS_TOKEN"
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import statistics
import threading
import time
from urllib.parse import urlsplit

IDS = {
    "talk_id": "geneva-strategic-stability-2022-01-10",
    "proposal_id": "us-russia-security-treaty",
    "clause_id": "us-russia-security-treaty-article-5",
    "party_id": "nato",
    "statement_id": "biden-shared-responsibility-and-allied-consultations",
    "source_id": "sputnik-lavrov-security-guarantees",
    "revision": "1",
}
METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PATCH", "DELETE", "PUT", "BREW"]


class Client:
    """One keep-alive connection, reopened when the server closes it."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port

    def __enter__(self) -> Client:
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def request(self, method: str, path: str, headers: dict | None = None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, headers=headers or {})
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def paths(base: str) -> list[str]:
    with Client(base) as client:
        document = json.loads(client.request("GET", "/v1/openapi.json")[1])
    found = []
    for template in document["paths"]:
        path = template
        for name, value in IDS.items():
            path = path.replace("{" + name + "}", value)
        found += [path, path.replace(IDS["talk_id"], "no-such-talk"), path + "?colour=red", path + "?limit=1"]
    return found


def traffic(base: str, rounds: int) -> int:
    sent = 0
    with Client(base) as client:
        for _ in range(rounds):
            for path, method in itertools.product(paths(base), METHODS):
                client.request(method, path, {"Accept": "text/html"} if sent % 7 == 0 else {})
                sent += 1
            for n in range(1000):
                client.request(METHODS[n % len(METHODS)], f"/no-such-{n}/{n * 7919}")
                sent += 1
    return sent


def scrape_cost(base: str, token: str, reuse: float) -> tuple[int, float, float]:
    times, size = [], 0
    with Client(base) as client:
        for _ in range(20):
            time.sleep(reuse)
            started = time.perf_counter()
            status, body = client.request("GET", "/metrics", {"Authorization": f"Bearer {token}"})
            times.append(time.perf_counter() - started)
            assert status == 200, status
            size = len(body)
    return size, statistics.median(times) * 1000, max(times) * 1000


def readers(base: str, seconds: float, scrapers: int, token: str) -> tuple[float, float, int]:
    """Median and p99 (ms) of two readers while `scrapers` clients loop on /metrics; scrapes sent."""
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    scrapes = [0]

    def read() -> None:
        with Client(base) as client:
            while time.monotonic() < stop:
                started = time.perf_counter()
                assert client.request("GET", f"/v1/talks/{IDS['talk_id']}")[0] == 200
                latencies.append(time.perf_counter() - started)

    def scrape() -> None:
        with Client(base) as client:
            while time.monotonic() < stop:
                client.request("GET", "/metrics", {"Authorization": f"Bearer {token}"})
                scrapes[0] += 1

    threads = [threading.Thread(target=read) for _ in range(2)]
    threads += [threading.Thread(target=scrape) for _ in range(scrapers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99)] * 1000, scrapes[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base")
    parser.add_argument("--token", default="")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reuse", type=float, default=1.1, help="seconds between timed scrapes")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    print(f"traffic: {traffic(args.base, args.rounds)} requests")
    size, median, worst = scrape_cost(args.base, args.token, args.reuse)
    print(f"scrape: {size} bytes, median {median:.1f} ms, max {worst:.1f} ms")
    for scrapers in (0, 4):
        median, p99, scrapes = readers(args.base, args.seconds, scrapers, args.token)
        print(f"readers with {scrapers} scraping clients: median {median:.1f} ms, p99 {p99:.1f} ms ({scrapes} scrapes)")


if __name__ == "__main__":
    main()
