"""`GET /v1/search` against today's clause search (`GET /v1/clauses?q=`), on the same words.

    .venv/bin/python bench/search.py http://127.0.0.1:8000 ../shared/bench-kit/data/p2000_c25_s1

Both endpoints get the bench kit's E3 words (its `query_words`: 16 mid-band words of the data set,
each in 0.5-2 % of the clauses) with `limit=20`, rotated by wrk (`wrk/req.lua` of the kit, as its own
E3 does), in alternating runs: clauses, search, clauses, search, … so that whatever else the
machine does weighs on both alike. Each run is a throughput pass (`-t2 -c16`) and a latency pass
(`-t2 -c4`), as the kit's. Prints each run and the medians, and search's cost over the clauses':
req/s of clauses ÷ req/s of search, and search's p50 and p99 ÷ the clauses'.

`--pairs` searches two words at a time instead (each word or the next, `q=w1%20or%20w2`): queries of
several lexemes, which both endpoints answer by ranking every match instead of reading an index range.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQ_LUA = ROOT.parent.parent / "shared" / "bench-kit" / "wrk" / "req.lua"
ENDPOINTS = {"clauses": "/v1/clauses?q={w}&limit=20", "search": "/v1/search?q={w}&limit=20"}


def query_words(data: Path, n: int = 16) -> list[str]:
    """The kit's E3 words (datagen.query_words): up to n mid-band words, spread across the band."""
    mids = []
    with open(data / "words.tsv") as lines:
        next(lines)
        for line in lines:
            word, _, _, band = line.rstrip("\n").split("\t")
            if band == "mid" and "-" not in word:
                mids.append(word)
    return mids if len(mids) <= n else [mids[(i * len(mids)) // n] for i in range(n)]


def wrk(base: str, requests: Path, connections: int, seconds: int) -> dict:
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(REQ_LUA), base, "--", str(requests)],
        check=True,
        capture_output=True,
        text=True,
    )
    [line] = [line for line in done.stdout.splitlines() if line.startswith("WRKJSON ")]
    result = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(result[k] for k in result if k.startswith("err_"))
    assert errors == 0, result
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="the running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("data", type=Path, help="the kit's data set folder (its words.tsv)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--pairs", action="store_true", help="two words a query: every match ranked")
    args = parser.parse_args()
    words = query_words(args.data)
    if args.pairs:
        words = [f"{word}%20or%20{words[(i + 1) % len(words)]}" for i, word in enumerate(words)]
    files = {}
    for name, template in ENDPOINTS.items():
        paths = [template.format(w=word) for word in words]
        for path in paths:  # each answers, with hits
            with urllib.request.urlopen(args.base + path) as response:
                assert response.status == 200 and json.load(response)["items"], path
        files[name] = Path(tempfile.mkstemp(suffix=f"-{name}.txt")[1])
        files[name].write_text("\n".join(paths) + "\n")
    print(f"words: {' '.join(words)}")
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ENDPOINTS}
    for round_ in range(1, args.rounds + 1):
        for name in ENDPOINTS:
            wrk(args.base, files[name], 16, 3)  # warm-up
            throughput = wrk(args.base, files[name], 16, args.seconds)
            latency = wrk(args.base, files[name], 4, args.seconds)
            rate = throughput["requests"] / throughput["duration_us"] * 1e6
            p50, p99 = latency["lat_p50_us"] / 1000, latency["lat_p99_us"] / 1000
            runs[name].append((rate, p50, p99))
            print(f"round {round_} {name:8} {rate:8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms", flush=True)
    median = {name: [statistics.median(run[i] for run in values) for i in range(3)] for name, values in runs.items()}
    for name, (rate, p50, p99) in median.items():
        print(f"median  {name:8} {rate:8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
    clauses, search = median["clauses"], median["search"]
    print(
        f"search's cost over the clauses': {clauses[0] / search[0]:.2f} (req/s), "
        f"{search[1] / clauses[1]:.2f} (p50), {search[2] / clauses[2]:.2f} (p99)"
    )


if __name__ == "__main__":
    main()
