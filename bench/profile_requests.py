"""Where one process spends an E1 request: cProfile over 500 GETs of proposals, in process.

    DATABASE_URL=postgresql://postgres@127.0.0.1:55432/proposals_bench_p2000_c25 \
        .venv/bin/python bench/profile_requests.py [/v1/proposals/{id}]

It needs the kit's data loaded by `bench/kit.py setup`. It prints the mean time per request
without the profiler, then the 40 costliest calls by cumulative time.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api import create_app


def main() -> None:
    template = sys.argv[1] if len(sys.argv) > 1 else "/v1/proposals/{id}"
    client = create_app().test_client()
    paths = [template.format(id=f"prop-{n:06d}") for n in range(1, 501)]
    for path in paths[:50]:
        client.get(path)
    started = time.perf_counter()
    for path in paths:
        assert client.get(path).status_code == 200
    print(f"mean per request: {(time.perf_counter() - started) / len(paths) * 1000:.2f} ms (Flask test client)")
    profile = cProfile.Profile()
    profile.enable()
    for path in paths:
        client.get(path)
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
