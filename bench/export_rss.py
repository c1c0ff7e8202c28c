"""Does `GET /v1/export` stream in constant memory? Measures the serving worker's RSS around one export.

    DATABASE_URL=postgresql://…/proposals_bench_p20000_c25 .venv/bin/python bench/export_rss.py

It starts the production server (`proposals-api serve`) with one worker, so the export is
served by the process it watches, warms it up with a few ordinary reads, then downloads the
whole export (reading it as fast as the socket allows, counting lines and bytes) while it
samples the worker's resident set from /proc every 20 ms. It prints the RSS before, the peak
during the export, and the growth; with `--slow-client`, the client reads 64 KB at a time
with a pause, so a server that buffered the body instead of streaming it would show it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def worker_of(server: subprocess.Popen) -> int:
    """The granian worker process: the serve command starts granian, which forks the worker."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        granian = children(server.pid)
        workers = [w for g in granian for w in children(g)]
        if workers:
            return workers[0]
        time.sleep(0.2)
    raise RuntimeError("no granian worker found")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=18099)
    parser.add_argument("--slow-client", action="store_true", help="read 64 KB every 5 ms instead of at once")
    args = parser.parse_args()
    env = dict(os.environ, PORT=str(args.port), WEB_CONCURRENCY="1")
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "proposals-api"), "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", args.port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit("the server did not start")
                time.sleep(0.2)
        worker = worker_of(server)
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=600)
        for path in ("/v1/talks", "/v1/proposals?limit=20", "/v1/clauses?q=treaty", "/v1/export"):
            conn.request("GET", path, headers={"If-None-Match": "*"} if path == "/v1/export" else {})
            conn.getresponse().read()
        time.sleep(0.5)
        before = rss_kib(worker)
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(worker))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.monotonic()
        conn.request("GET", "/v1/export")
        response = conn.getresponse()
        lines = size = 0
        while chunk := response.read(65536):
            size += len(chunk)
            lines += chunk.count(b"\n")
            if args.slow_client:
                time.sleep(0.005)
        seconds = time.monotonic() - started
        done.set()
        sampler.join()
        after = rss_kib(worker)
        print(f"export: HTTP {response.status}, {lines} lines, {size / 1e6:.1f} MB in {seconds:.1f} s")
        print(
            f"worker RSS before {before / 1024:.1f} MB, peak during {peak[0] / 1024:.1f} MB, after {after / 1024:.1f} MB"
        )
        print(f"growth (peak - before): {(peak[0] - before) / 1024:.1f} MB")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
