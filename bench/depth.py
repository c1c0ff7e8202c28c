"""Does a deep page cost more than the first? Times `GET /v1/clauses` at page 1 and page N.

    .venv/bin/python bench/depth.py http://127.0.0.1:8000 --page 200 --limit 50 --rounds 300

It follows `next_cursor` from the first page to page N once, then requests page 1 and page N
alternately, `rounds` times each, on one keep-alive connection, and prints the median and p90
of each and their ratio. Keyset paging makes page N one index range scan like page 1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from urllib.parse import quote, urlsplit


def fetch(conn: http.client.HTTPConnection, path: str) -> dict:
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, (response.status, body[:200])
    return json.loads(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--page", type=int, default=200)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    address = urlsplit(args.base)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    first = f"/v1/clauses?limit={args.limit}"
    path = first
    for _ in range(args.page - 1):
        cursor = fetch(conn, path)["next_cursor"]
        path = f"{first}&cursor={quote(cursor)}"
    deep = path
    timings: dict[str, list[float]] = {"page 1": [], f"page {args.page}": []}
    for _ in range(args.rounds):
        for name, target in (("page 1", first), (f"page {args.page}", deep)):
            started = time.perf_counter()
            items = fetch(conn, target)["items"]
            timings[name].append(time.perf_counter() - started)
            assert len(items) == args.limit
    medians = {}
    for name, values in timings.items():
        values.sort()
        medians[name] = statistics.median(values)
        print(f"{name:>9}: median {medians[name] * 1000:.2f} ms, p90 {values[int(0.9 * len(values))] * 1000:.2f} ms")
    print(f"ratio page {args.page} / page 1 (medians): {medians[f'page {args.page}'] / medians['page 1']:.2f}")


if __name__ == "__main__":
    main()
