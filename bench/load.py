"""Sustained mixed load against the production server, then a check that no acknowledged write
was lost.

    .venv/bin/python bench/load.py --minutes 5 --clients 32

It creates a database of its own on DATABASE_URL's server (default: the machine's Postgres at
127.0.0.1:5432), migrates and seeds it, makes a write token, and starts `proposals-api serve`
(granian, WEB_CONCURRENCY workers) on a free port. Each client then loops: 90% reads spread
over every kind of read endpoint, 10% merge-patches of its own talk with If-Match. At the end it
reads every client's talk back (from the database and over HTTP) and checks that its revision
and summary are those of the last write the server acknowledged. It prints a report and exits
non-zero on any 5xx, transport error or lost write.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.http.auth import create_token  # noqa: E402
from tests.support import create_seeded_database, drop_database, free_port, new_talk  # noqa: E402

READS = [
    (20, "/v1/proposals/us-russia-security-treaty"),
    (10, "/v1/proposals/russia-nato-security-agreement"),
    (10, "/v1/talks?limit=50"),
    (8, "/v1/talks/{talk}"),
    (8, "/v1/clauses?q=deployment&limit=20"),
    (6, "/v1/clauses?limit=50"),
    (6, "/v1/statements?q=guarantees"),
    (5, "/v1/parties?member_of=nato&limit=200"),
    (5, "/v1/sources?limit=50"),
    (5, "/v1/statements?limit=50"),
    (4, "/v1/talks/{talk}/revisions"),
    (4, "/v1/talks/geneva-strategic-stability-2022-01-10/revisions/2/diff"),
    (3, "/v1/proposals?format=csv"),
    (3, "/v1/clauses/us-russia-security-treaty-article-5"),
    (2, "/v1/parties/nato"),
    (1, "/v1/export"),
]
WRITE_SHARE = 0.10
CREATED = "Created by bench/load.py."  # each client's talk's summary until its first patch


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    transport_errors: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, seconds: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(seconds)


@dataclass
class Client:
    talk_id: str
    etag: str
    acknowledged: int = 1  # the revision the server last acknowledged for this client's talk
    summary: str = ""


def request(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None, headers=None):
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=payload, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def run_client(port: int, token: str, client: Client, deadline: float, tally: Tally, seed_value: int) -> None:
    rng = random.Random(seed_value)
    weights = [weight for weight, _ in READS]
    paths = [path for _, path in READS]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    auth = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < deadline:
        try:
            started = time.perf_counter()
            if rng.random() < WRITE_SHARE:
                summary = f"Patched by bench/load.py at {time.time():.6f}."
                headers = {**auth, "Content-Type": "application/merge-patch+json", "If-Match": client.etag}
                status, response_headers, _ = request(
                    conn, "PATCH", f"/v1/talks/{client.talk_id}", {"summary": summary}, headers
                )
                if status == 200:
                    client.etag = response_headers["etag"]
                    client.acknowledged += 1
                    client.summary = summary
            else:
                path = rng.choices(paths, weights)[0].format(talk=client.talk_id)
                status, _, _ = request(conn, "GET", path)
            tally.add(status, time.perf_counter() - started)
        except (OSError, http.client.HTTPException) as error:
            with tally.lock:
                tally.transport_errors[type(error).__name__] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    server_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = create_seeded_database(server_url, "proposals_load")
    process = None
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            token = create_token(conn, "load-test", "write", None)
        port = free_port()
        log = open(Path(tempfile.gettempdir()) / f"{conninfo_to_dict(url)['dbname']}.log", "wb")  # noqa: SIM115 - the server writes it until the end
        env = dict(os.environ, DATABASE_URL=url, PORT=str(port), WEB_CONCURRENCY=str(args.workers))
        env.update({key: "1000000" for key in ("RATE_LIMIT_WRITES", "RATE_LIMIT_READS")})  # measure, do not throttle
        process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "proposals-api"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)

        setup = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        clients = []
        for n in range(args.clients):
            talk_id = f"load-{n:03d}"
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            status, response_headers, _ = request(
                setup, "POST", "/v1/talks", new_talk(talk_id, summary=CREATED), headers
            )
            assert status == 201, status
            clients.append(Client(talk_id, response_headers["etag"]))
        setup.close()

        tally = Tally()
        deadline = time.monotonic() + args.minutes * 60
        started = time.monotonic()
        threads = [
            threading.Thread(target=run_client, args=(port, token, client, deadline, tally, args.seed * 1000 + n))
            for n, client in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started

        lost = []
        check = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        with psycopg.connect(url, autocommit=True) as conn:
            for client in clients:
                revision, summary = conn.execute(
                    "SELECT revision, doc->>'summary' FROM talks WHERE id = %s", (client.talk_id,)
                ).fetchone()
                history = conn.execute(
                    "SELECT count(*) FROM revisions WHERE collection = 'talks' AND item_id = %s", (client.talk_id,)
                ).fetchone()[0]
                status, headers, body = request(check, "GET", f"/v1/talks/{client.talk_id}")
                served = json.loads(body)
                expected_summary = client.summary or CREATED
                if not (
                    revision == history == client.acknowledged == served["revision"]
                    and summary == served["summary"] == expected_summary
                    and headers["etag"] == client.etag
                ):
                    lost.append((client.talk_id, client.acknowledged, revision, history))
        check.close()

        total = sum(tally.statuses.values())
        writes = sum(client.acknowledged - 1 for client in clients)
        server_errors = sum(count for status, count in tally.statuses.items() if status >= 500)
        print(f"duration            {elapsed:.0f} s, {args.clients} clients, {args.workers} workers")
        print(f"requests            {total} ({total / elapsed:.0f} req/s)")
        print(f"by status           {dict(sorted(tally.statuses.items()))}")
        print(f"transport errors    {dict(tally.transport_errors) or 0}")
        print(
            f"latency p50 / p99   {percentile(tally.latencies, 0.5) * 1000:.1f} ms / {percentile(tally.latencies, 0.99) * 1000:.1f} ms"
        )
        print(f"mean latency        {statistics.fmean(tally.latencies) * 1000:.1f} ms")
        print(f"acknowledged writes {writes}, all readable with the right revision: {not lost}")
        for item in lost:
            print("LOST", item)
        return 1 if server_errors or tally.transport_errors or lost else 0
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        drop_database(server_url, url)


if __name__ == "__main__":
    sys.exit(main())
