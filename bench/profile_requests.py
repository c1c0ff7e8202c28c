"""CPU per request of the app itself, without a server or a network: where the Python time goes.

    DATABASE_URL=postgresql://postgres@127.0.0.1:55432/proposals_bench_p2000_c25 \
        .venv/bin/python bench/profile_requests.py E2 --profile

It needs the kit's data loaded by `bench/kit.py setup`. It calls the WSGI app (`api.create_app()`, with everything that wraps it: the request log, the
fast path, Flask) directly with the bench kit's endpoints (E1 a proposal with 25 clauses, E2 the
same with a matching If-None-Match, E3 a one-word search, E4 the first page of talks; P a poll of
the change feed's head with its ETag, a 304 like E2), and prints
the CPU time per request of this process (`time.process_time`), overall and for the fastest, the
lower-quartile and the median run of CHUNK requests, then with `--profile` the
functions that took it (cProfile on a CPU clock, so waiting for Postgres does not count).
The access log goes to /dev/null, as it goes to a file or a pipe in production.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import sys
import time

from api import create_app

# On a shared machine other processes inflate a process's CPU time (caches, the sibling hyperthread):
# the fastest runs of CHUNK requests are the least disturbed ones, the figure to compare.
CHUNK = 100
WORDS = ["economic", "mutual", "determine", "import", "harbour", "airspace", "laboratory", "explosive"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint", choices=["E1", "E2", "E3", "E4", "P"])
    parser.add_argument("-n", type=int, default=2000, help="requests to time")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="cumulative", help="the profile's order: cumulative or tottime")
    parser.add_argument("--gc", action="store_true", help="also report the garbage collector's pauses")
    args = parser.parse_args()
    out = sys.stdout
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the access log, for the life of the process
    app = create_app()
    ids = [f"prop-{n:06d}" for n in range(1, 501)]
    etags = {}

    def call(path: str, headers: dict[str, str] | None = None) -> tuple[str, list, bytes]:
        route, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": route,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SCRIPT_NAME": "",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        environ |= {"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()}
        seen: dict = {}
        body = app.wsgi_app(environ, lambda status, headers, exc_info=None: seen.update(s=status, h=headers))
        data = b"".join(body)
        getattr(body, "close", lambda: None)()  # a fast-path body is a plain list
        return seen["s"], seen["h"], data

    for item in ids:
        etags[item] = dict(call(f"/v1/proposals/{item}")[1])["ETag"]
    head = call("/v1/changes?since=2100-01-01T00:00:00Z")[2].split(b'"next_cursor":"')[1].split(b'"')[0].decode()
    poll = f"/v1/changes?cursor={head}"
    poll_etag = dict(call(poll)[1])["ETag"]

    def one(k: int) -> None:
        if args.endpoint == "E1":
            call(f"/v1/proposals/{ids[k % 500]}")
        elif args.endpoint == "E2":
            call(f"/v1/proposals/{ids[k % 500]}", {"If-None-Match": etags[ids[k % 500]]})
        elif args.endpoint == "E3":
            call(f"/v1/clauses?q={WORDS[k % len(WORDS)]}&limit=20")
        elif args.endpoint == "E4":
            call("/v1/talks?limit=50")
        else:
            call(poll, {"If-None-Match": poll_etag})

    for k in range(200):
        one(k)
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    if args.gc:
        gc.callbacks.append(lambda phase, info, t={}: _time_collection(phase, info, t, pauses))
    started, cpu = time.perf_counter(), time.process_time()
    chunks = []  # CPU per request of each run of CHUNK requests
    for first in range(0, args.n, CHUNK):
        chunk_cpu = time.process_time()
        for k in range(first, min(first + CHUNK, args.n)):
            one(k)
        chunks.append((time.process_time() - chunk_cpu) / (min(first + CHUNK, args.n) - first))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    chunks.sort()
    print(
        f"{args.endpoint}: {cpu / args.n * 1000:.3f} ms CPU and {wall / args.n * 1000:.3f} ms wall per request; "
        f"by runs of {CHUNK}: fastest {chunks[0] * 1000:.3f}, lower quartile {chunks[len(chunks) // 4] * 1000:.3f}, "
        f"median {chunks[len(chunks) // 2] * 1000:.3f} ms CPU",
        file=out,
    )
    if args.gc:
        gc.callbacks.clear()
        for generation, times in pauses.items():
            longest = max(times, default=0) * 1000
            print(f"gc generation {generation}: {len(times)} collections, longest {longest:.2f} ms", file=out)
    if args.profile:
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for k in range(args.n):
            one(k)
        profile.disable()
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats(args.sort).print_stats(40)
        print(text.getvalue(), file=out)
        print(breakdown(stats), file=out)
    app.extensions["db_pool"].close()


# What a request's CPU goes to, as the functions that do it (file, function), cumulative times.
PARTS = {
    "psycopg: cursor, execute, wait (executor `_run`)": [("store/executor.py", "_run")],
    "pool: lend, give_back": [("store/db.py", "lend"), ("store/db.py", "give_back")],
    "access log and metrics (`_finish`, `start`)": [("http/logs.py", "_finish"), ("http/logs.py", "start")],
    "header fields and their size check": [("http/fastpath.py", "_headers"), ("http/headers.py", "oversized_fields")],
    "rate limit count": [("http/ratelimit.py", "count_read"), ("http/ratelimit.py", "client_address")],
}


def breakdown(stats: pstats.Stats) -> str:
    """Each part's share of the time inside the outermost WSGI layer (the request log); the read
    core is read_item/read_list without their queries; the rest is the layers' own work."""
    timed = stats.stats  # type: ignore[attr-defined]

    def cumulative(file: str, function: str) -> float:
        return sum(v[3] for k, v in timed.items() if k[0].endswith(file) and k[2] == function)

    total = cumulative("http/logs.py", "__call__")
    shares = {name: sum(cumulative(*where) for where in places) for name, places in PARTS.items()}
    core = cumulative("resources/reads.py", "read_item") + cumulative("resources/reads.py", "read_list")
    shares["read core: ETag, cursor, body (read_item/read_list without psycopg)"] = (
        core - shares["psycopg: cursor, execute, wait (executor `_run`)"]
    )
    shares["the rest: WSGI layers, turns, fast-path routing"] = total - sum(shares.values())
    return "\n".join(f"{share / total * 100:5.1f} %  {name}" for name, share in shares.items())


def _time_collection(phase: str, info: dict, started: dict, pauses: dict[int, list[float]]) -> None:
    if phase == "start":
        started["at"] = time.perf_counter()
    else:
        pauses[info["generation"]].append(time.perf_counter() - started["at"])


if __name__ == "__main__":
    main()
