"""The kit's E2 (a conditional GET answered 304) against several running servers, in alternating runs.

    .venv/bin/python bench/conditional.py before=http://127.0.0.1:18501 after=http://127.0.0.1:18502
    .venv/bin/python bench/conditional.py before=http://127.0.0.1:18501@12881 after=http://127.0.0.1:18502@22533

Each target gets the kit's E2: `GET /v1/proposals/{id}` with `If-None-Match` set to the ETag the
target itself gave for that id (fetched first), over the kit's 500 ids (`prop-000001` … `prop-000500`,
which every data set of P ≥ 500 holds), rotated by the kit's `wrk/req.lua`. Runs alternate between
the targets, round after round, so whatever else the machine does weighs on each alike: a 3 s
warm-up, a throughput pass (`-t2 -c16`) and a latency pass (`-t2 -c4`), as the kit's own. Prints
each run, the medians, and each target's rate over the first one's. With `@PID` after a URL (the server's first process), also
the CPU time the server's processes (PID and every descendant) spent per request during the
throughput pass, from /proc: on a shared machine a steadier figure than the rate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import urllib.request
from pathlib import Path

from search import wrk  # bench/search.py: one wrk run with the kit's req.lua, its WRKJSON line

IDS = [f"prop-{n:06d}" for n in range(1, 501)]


def requests_file(base: str) -> Path:
    """`path<TAB>etag` lines with the target's own ETags, each checked to answer 304."""
    lines = []
    for item in IDS:
        path = f"/v1/proposals/{item}"
        with urllib.request.urlopen(base + path) as response:
            etag = response.headers["ETag"]
        check = urllib.request.Request(base + path, headers={"If-None-Match": etag})
        try:
            urllib.request.urlopen(check)
            raise AssertionError(f"{path} did not answer 304")
        except urllib.error.HTTPError as error:
            assert error.code == 304, (path, error.code)
        lines.append(f"{path}\t{etag}")
    file = Path(tempfile.mkstemp(suffix="-e2.txt")[1])
    file.write_text("\n".join(lines) + "\n")
    return file


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of `root` and its descendants so far."""
    parents, times = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rpartition(")")[2].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            times[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total, wanted = 0.0, {root}
    changed = True
    while changed:
        more = {pid for pid, parent in parents.items() if parent in wanted} - wanted
        changed = bool(more)
        wanted |= more
    for pid in wanted:
        total += times.get(pid, 0.0)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="+", help="name=base URL, e.g. before=http://127.0.0.1:8000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    targets, pids = {}, {}
    for target in args.targets:
        name, _, url = target.partition("=")
        url, _, pid = url.partition("@")
        targets[name] = url
        if pid:
            pids[name] = int(pid)
    files = {name: requests_file(base) for name, base in targets.items()}
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in targets}
    cpu: dict[str, list[float]] = {name: [] for name in pids}
    for round_ in range(1, args.rounds + 1):
        for name, base in targets.items():
            wrk(base, files[name], 16, 3)  # warm-up
            before = tree_cpu(pids[name]) if name in pids else 0.0
            throughput = wrk(base, files[name], 16, args.seconds)
            if name in pids:
                cpu[name].append((tree_cpu(pids[name]) - before) / throughput["requests"] * 1000)
            latency = wrk(base, files[name], 4, args.seconds)
            rate = throughput["requests"] / throughput["duration_us"] * 1e6
            p50, p99 = latency["lat_p50_us"] / 1000, latency["lat_p99_us"] / 1000
            runs[name].append((rate, p50, p99))
            used = f"  {cpu[name][-1]:.3f} ms CPU/request" if name in pids else ""
            print(f"round {round_} {name:10} {rate:8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms{used}", flush=True)
    median = {name: [statistics.median(run[i] for run in values) for i in range(3)] for name, values in runs.items()}
    first = next(iter(median.values()))
    for name, (rate, p50, p99) in median.items():
        used = f"  {statistics.median(cpu[name]):.3f} ms CPU/request" if name in pids else ""
        print(
            f"median  {name:10} {rate:8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  {rate / first[0]:.2f} ×{used}"
        )


if __name__ == "__main__":
    main()
