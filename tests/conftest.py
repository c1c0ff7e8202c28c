"""A real Postgres for every test run: DATABASE_URL's server when set, else an embedded one.

The run gets a database of its own (created, migrated and seeded here, dropped at the
end), so tests never touch data that someone keeps on that server.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from api import create_app
from api.command import embedded
from api.config import Settings
from api.store import migrate as migrations
from api.store import sql as named_sql
from api.store.dataset import import_dataset, seed
from api.store.migrate import migrate
from api.store.sql import parse_queries
from api.store.sql import queries as named_queries
from tests.support import PrivatePostgres, create_database, create_seeded_database, drop_database, free_port

ROOT = Path(__file__).resolve().parent.parent
# Tests send writes and reads far faster than any client may; the rate-limit tests set their own limits.
UNTHROTTLED = {"RATE_LIMIT_WRITES": "1000000", "RATE_LIMIT_READS": "1000000"}
# Test servers serve /metrics to this token (without METRICS_TOKEN there is no /metrics at all).
METRICS_TOKEN = "metrics-token-for-tests"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}

if not Settings.from_env().prepared_statements:
    # The app's own connections honour PREPARED_STATEMENTS=off (api/store/db.py); the harness's connections
    # must not prepare statements either, or pgbouncer in transaction mode mixes them up between clients.
    # Patched as a classmethod, so a subclass (the pool's DeadlineConnection) still gets its own class.
    _connect = psycopg.Connection.connect.__func__

    @classmethod
    def _connect_unprepared(cls, *args, **kwargs):
        return _connect(cls, *args, **{"prepare_threshold": None, **kwargs})

    psycopg.Connection.connect = _connect_unprepared
    psycopg.connect = psycopg.Connection.connect


# Fixtures that start the production server or other processes: a test using any of them (directly or
# through another fixture) is marked `slow`, outside `make test-fast`. Modules whose tests start
# processes in the test itself say so with `pytestmark = pytest.mark.slow`.
PROCESS_FIXTURES = {
    "live_server",  # the production server on the shared database
    "private_pg",  # a Postgres cluster of the module's own, stopped and frozen by its tests
    "server",  # a module's own production server (rate limits, observability, slow clients)
    "scratch_server",  # the production server that schemathesis writes to
    "topology",  # the scale-out topology: pgbouncer, a replica
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="proposals-test-pg-") as folder:
        data_dir = Path(folder) / "pg"
        try:
            yield embedded.start(data_dir, delete_on_exit=True)
        finally:
            embedded.stop(data_dir)


# The parameters of search_clauses that a plain `q` leaves unset.
SEARCH_DEFAULTS = {
    "proposal": None,
    "topic": None,
    "party": None,
    "quoted": None,
    "responds_to": None,
    "after_1": None,
    "after_2": None,
}


def save_clause(conn: psycopg.Connection, changeset: int, clause_id: str, **changes: object) -> None:
    """Saves a clause as an import would (save_clauses), with some fields changed."""
    record = conn.execute(
        "SELECT doc::jsonb - 'revision' - 'updated_at' FROM clauses WHERE id = %s", (clause_id,)
    ).fetchone()[0]
    conn.execute("SELECT save_clauses(%s, %s, now(), 'test')", (psycopg.types.json.Jsonb(record | changes), changeset))


def seeded_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database, migrated and seeded, dropped when the generator is closed."""
    url = create_seeded_database(server_url, prefix)
    yield url
    drop_database(server_url, url)


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A migrated, seeded database shared by the read-only tests."""
    yield from seeded_database(server_url, "proposals_test")


@pytest.fixture(scope="module")
def own_database_url(server_url: str) -> Iterator[str]:
    """A migrated, seeded database of the test module's own: the dataset exactly as seeded, whatever
    the tests sharing `database_url` have written to theirs."""
    yield from seeded_database(server_url, "proposals_own")


@pytest.fixture(scope="module")
def own_app(own_database_url: str):
    app = create_app(Settings(database_url=own_database_url, rate_limit_writes=1_000_000, rate_limit_reads=1_000_000))
    app.config["TESTING"] = True
    yield app
    app.extensions["db_pool"].close()


@pytest.fixture(scope="module")
def workers(own_database_url: str) -> Iterator[tuple]:
    """Two apps on the module's own database, as two workers of one server (the version cache's and
    the response cache's tests: what one writes, the other learns from Postgres' notices)."""
    settings = Settings(database_url=own_database_url, rate_limit_writes=1_000_000, rate_limit_reads=1_000_000)
    first, second = create_app(settings), create_app(settings)
    yield first, second
    for app in (first, second):
        app.extensions["db_pool"].close()


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A database of the test's own with nothing in it, not even the schema."""
    url = create_database(server_url, "proposals_empty")
    yield url
    drop_database(server_url, url)


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    """A migrated, seeded Postgres cluster of the module's own, for tests that stop or freeze it."""
    pg = PrivatePostgres()
    try:
        pg.start()
        with psycopg.connect(pg.url, autocommit=True) as conn:
            migrate(conn)
            seed(conn)
        yield pg
    finally:
        pg.destroy()


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def app(database_url: str):
    app = create_app(
        Settings(
            database_url=database_url,
            rate_limit_writes=1_000_000,
            rate_limit_reads=1_000_000,
            metrics_token=METRICS_TOKEN,
        )
    )
    app.config["TESTING"] = True
    yield app
    app.extensions["db_pool"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def start_server(
    database_url: str, *, port: int | None = None, env: dict[str, str] | None = None
) -> tuple[str, subprocess.Popen]:
    """Starts the production server (`proposals-api serve`: granian, 2 workers) on a free port
    (or `port`), with `env` added to the environment.

    Its output goes to a file: a pipe nobody reads would fill up and stall the server.
    """
    port = port or free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "METRICS_TOKEN": METRICS_TOKEN,
        **UNTHROTTLED,
        **(env or {}),
    }
    with tempfile.NamedTemporaryFile(prefix=f"proposals-server-{port}-", suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("proposals-api")), "serve"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    process.log_path = log.name
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return f"http://127.0.0.1:{port}", process
        except OSError as error:
            if process.poll() is not None:
                raise RuntimeError(Path(log.name).read_text()) from error
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start within 60 s")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)
    Path(process.log_path).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[str]:
    """The production server on the shared test database."""
    base, process = start_server(database_url)
    yield base
    stop_server(process)


# The last commit whose sql/migrations held 0001 to 0012 one by one, before the baseline replaced
# them: databases made by them exist, so the tests build such databases from these very files.
LANDED_AT = "154e2778edcc234d6170b734f7c8abb7e98f67dd"


def baseline() -> tuple[str, list[migrations.Section]]:
    name, text = next((name, text) for name, text in migrations.migration_files() if migrations.sections(text)[0])
    return name, migrations.sections(text)[0]


def landed(path: str) -> bytes:
    """A file as it was at LANDED_AT, from the repository's history (a copy without it skips; CI fails)."""
    shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{LANDED_AT}:{path}"], capture_output=True)
    if shown.returncode != 0:
        reason = f"no git history with {LANDED_AT[:7]} here: {shown.stderr.decode().strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: test a clone, not a copy)")
        pytest.skip(reason)
    return shown.stdout


def landed_migrations() -> list[tuple[str, str]]:
    """The migrations the baseline replaces, as they landed, read from the repository's history."""
    files = []
    for section in baseline()[1]:
        text = landed(f"sql/migrations/{section.name}")
        assert hashlib.sha256(text).hexdigest() == section.sha256, section.name
        files.append((section.name, text.decode()))
    return files


LANDED_FUNCTION_FILES = ("representations.sql", "writes.sql", "search.sql", "snippets.sql", "filters.sql")
LANDED_QUERY_FILES = ("records.sql",)  # what the importer asks for


def landed_database(conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes `conn`'s empty database what a deployment of LANDED_AT held: its migrations and functions,
    then its two data files imported by them (what later migrations must carry over)."""
    files = landed_migrations()
    functions = [(name, landed(f"sql/functions/{name}").decode()) for name in LANDED_FUNCTION_FILES]
    # Its named queries too, over today's: the importer's queries call the functions of their own day.
    then_queries = dict(named_queries())
    for name in LANDED_QUERY_FILES:
        then_queries |= parse_queries(landed(f"sql/queries/{name}").decode())
    with monkeypatch.context() as then:
        then.setattr(migrations, "migration_files", lambda: files)
        then.setattr(migrations, "function_files", lambda: functions)
        migrations.migrate(conn)
        then.setattr(named_sql, "queries", lambda: then_queries)
        for name in ("dataset.json", "history.json"):
            (tmp_path / name).write_bytes(landed(f"data/{name}"))
            import_dataset(conn, tmp_path / name, bulk=False)  # bulk_import() came later
