"""The import against its floor, in one run: what Postgres alone takes to take in the same records.

    .venv/bin/python bench/import_floor.py FILE [--per-record]

FILE is a dataset file (`proposals-api/dataset@1`, JSON or NDJSON; bench/kit.py `write` makes one
of the bench kit's data). On the server DATABASE_URL names (default: the local one), in databases
of its own that it drops afterwards, it times:

- floor: `COPY` of every record of the file (each clause of a proposal a record of its own, as the
  API serves them) into a table of one `jsonb` column, then a GIN full-text index over all their
  strings (`jsonb_to_tsvector('english', record, '["string"]')`). The rows are written to a file
  before the clock starts, so the floor is Postgres's own time.
- import: `proposals-api import FILE` into a migrated, seeded database (a process of its own, with
  its wall time and peak RSS), then `VACUUM ANALYZE` (what autovacuum would do) and the sizes.
- with --per-record, the same import record by record (the path it replaced), for comparison.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.store.dataset import DatasetFile  # noqa: E402


def records(path: Path):
    for change in DatasetFile(path).changes():
        record = change.get("record") or change.get("patch") or {"id": change.get("id")}
        clauses = record.get("clauses") if isinstance(record, dict) else None
        if clauses:
            record = dict(record, clauses=[clause["id"] for clause in clauses])
            yield from clauses
        yield record


def new_database(server: str) -> str:
    name = f"import_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def floor(server: str, path: Path) -> float:
    name = new_database(server)
    try:
        with tempfile.TemporaryFile("w+b") as rows:
            count = 0
            for record in records(path):
                line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
                rows.write(line.replace("\\", "\\\\").encode() + b"\n")
                count += 1
            rows.seek(0)
            with psycopg.connect(make_conninfo(server, dbname=name), autocommit=True) as conn:
                conn.execute("CREATE TABLE records (record jsonb NOT NULL)")
                started = time.monotonic()
                with conn.transaction(), conn.cursor().copy("COPY records (record) FROM STDIN") as copy:
                    while chunk := rows.read(1 << 20):
                        copy.write(chunk)
                conn.execute(
                    "CREATE INDEX records_search ON records USING gin (jsonb_to_tsvector('english', record, '[\"string\"]'))"
                )
                took = time.monotonic() - started
        print(f"floor: COPY of {count} records into jsonb + GIN full-text index: {took:.1f} s", flush=True)
        return took
    finally:
        drop_database(server, name)


def import_once(server: str, path: Path, per_record: bool) -> float:
    name = new_database(server)
    url = make_conninfo(server, dbname=name)
    command = [str(ROOT / ".venv" / "bin" / "proposals-api")]
    # This checkout's code, whichever the virtualenv's command was installed from.
    environment = dict(os.environ, DATABASE_URL=url, PYTHONPATH=str(ROOT))
    try:
        subprocess.run([*command, "migrate"], env=environment, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*command, "seed"], env=environment, check=True, stdout=subprocess.DEVNULL)
        if per_record:
            code = "import sys; from pathlib import Path; from api.command.cli import *; from api.store import dataset;"
            code += "import functools; dataset.import_dataset = functools.partial(dataset.import_dataset, bulk=False);"
            code += "import api.command.cli as c; c.import_dataset = dataset.import_dataset; c.main()"
            run = [str(ROOT / ".venv" / "bin" / "python"), "-c", code, "import", str(path)]
        else:
            run = [*command, "import", str(path)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.monotonic()
        done = subprocess.run(run, env=environment, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        took = time.monotonic() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
            clauses = conn.execute("SELECT count(*) FROM clauses").fetchone()[0]
        how = "record by record" if per_record else "import"
        rss = f"peak RSS {peak / 1024:.0f} MB" if peak > before else "peak RSS below an earlier child's"
        print(f"{how}: {done.stdout.strip()} in {took:.1f} s ({rss}); {clauses} clauses, database {size}", flush=True)
        return took
    finally:
        drop_database(server, name)


def main() -> None:
    arguments = sys.argv[1:]
    per_record = "--per-record" in arguments
    paths = [Path(a) for a in arguments if not a.startswith("--")]
    if len(paths) != 1:
        sys.exit(__doc__)
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    base = floor(server, paths[0])
    took = import_once(server, paths[0], per_record=False)
    print(f"import / floor: {took / base:.1f}x", flush=True)
    if per_record:
        import_once(server, paths[0], per_record=True)


if __name__ == "__main__":
    main()
