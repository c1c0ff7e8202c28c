"""Helpers shared by the tests and the bench scripts, each defined once.

Plain functions and classes, no pytest: bench/ imports them too (the fixtures built on them are in
tests/conftest.py).
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.store.dataset import seed
from api.store.migrate import migrate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_database(server_url: str, prefix: str) -> str:
    """A new, empty database on `server_url`'s server, named `prefix` and a random suffix; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(server_url, dbname=name)


def create_seeded_database(server_url: str, prefix: str) -> str:
    """A new database, migrated and seeded: what `make run` serves on a fresh checkout. Its URL."""
    url = create_database(server_url, prefix)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        seed(conn)
    return url


def drop_database(server_url: str, url: str) -> None:
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_talk(talk_id: str, **fields: object) -> dict:
    """A valid talk to create (POST /v1/talks) that cites only seeded records, with `fields` changed."""
    return {
        "id": talk_id,
        "title": "Follow-up consultations",
        "format": "bilateral",
        "starts_on": "2022-02-01",
        "ends_on": None,
        "location": "Geneva",
        "status": "scheduled",
        "party_ids": ["russia", "united-states"],
        "proposal_ids": ["us-russia-security-treaty"],
        "delegations": [],
        "chair": None,
        "summary": "A test meeting created through the API.",
        "source_ids": ["sputnik-lavrov-security-guarantees"],
    } | fields


def call(
    url: str, method: str = "GET", body: dict | None = None, headers: dict | None = None, timeout: float = 15
) -> tuple[int, dict, bytes, float]:
    """(status, headers with lower-case names, body, seconds taken); never raises for an HTTP status."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, got, text = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, got, text = error.code, error.headers, error.read()
    return status, {k.lower(): v for k, v in got.items()}, text, time.monotonic() - started


def assert_unavailable(status: int, headers: dict, body: bytes) -> None:
    """The answer while the database is down or hung: 503 problem+json, retry in a second, nothing internal."""
    assert status == 503, body
    assert headers["retry-after"] == "1"
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 503
    assert "Traceback" not in body.decode() and "psycopg" not in body.decode()


class PrivatePostgres:
    """A throwaway Postgres cluster that a test may stop, start and freeze at will: a fresh initdb in
    a temporary folder, on a free TCP port, with the binaries the `pgserver` wheel ships, whether or
    not DATABASE_URL is set. No other test's server is touched."""

    def __init__(self) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns without XDG_RUNTIME_DIR
            from pgserver._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.folder = Path(tempfile.mkdtemp(prefix="proposals-private-pg-"))
        self.data = self.folder / "data"
        self.data.mkdir()
        self.user: str | None = None
        if os.geteuid() == 0:  # Postgres refuses to run as root; pgserver keeps a user for this
            from pgserver.utils import ensure_user_exists

            self.user = "pgserver"
            entry = ensure_user_exists(self.user)
            self.folder.chmod(0o755)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
            assert pwd.getpwnam(self.user)
        self.port = free_port()
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "utf8", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / program), *args],
            check=True,
            user=self.user,
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k '' -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.data / "server.log"), "-o", options, "start")

    def stop(self) -> None:
        """Like a crash: no goodbye to clients, crash recovery on the next start."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "immediate", "stop")

    def destroy(self) -> None:
        subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            user=self.user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


# A well-formed /v1/changes cursor naming a revision that no database holds (a 409 everywhere).
UNKNOWN_CURSOR = base64.urlsafe_b64encode(b"c1:0123456789abcdef:talks:never-written:7:99999").decode().rstrip("=")

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def assert_problem(response, status: int) -> dict:
    """A Flask test response is an RFC 9457 problem with this status; its body."""
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status"} <= set(body) <= PROBLEM_KEYS | {"errors"}
    assert body["status"] == status
    assert body["type"] == "about:blank"
    return body


def keyset_pages(conn: psycopg.Connection, sql: str, params: dict, limit: int, keys: int) -> list[list[tuple]]:
    """Every page of a named list query, following its keyset (`after_1` … `after_<keys>`, the row's
    values after its document) as read_list does."""
    found, params = [], dict(params, limit=limit + 1)
    while True:
        rows = conn.execute(sql, params).fetchall()
        found.append(rows[:limit])
        if len(rows) <= limit:
            return found
        params = dict(params, **{f"after_{n}": rows[limit - 1][n] for n in range(1, keys + 1)})


UNTIL_WAIT = 5.0  # the longest any test here waits for a notice or a proof; they come within milliseconds


def until(condition: Callable[[], object], what: str) -> None:
    """Waits for `condition`, at most UNTIL_WAIT seconds: a bound, not a timing (a notice between
    workers, a replica's replay)."""
    ends = time.monotonic() + UNTIL_WAIT
    while not condition():
        assert time.monotonic() < ends, f"not within {UNTIL_WAIT} s: {what}"
        time.sleep(0.01)


def from_memory(app, path: str, headers: dict | None = None):
    """The answer to `path`, and whether it came without the database (the pool closed to it)."""
    pool = app.extensions["db_pool"]
    getconn, asked, me = pool.getconn, [], threading.get_ident()

    def watched(*args, **kwargs):  # the listener's heartbeat borrows one too, from its own thread
        if threading.get_ident() == me:
            asked.append(1)
        return getconn(*args, **kwargs)

    pool.getconn = watched
    try:
        response = app.test_client().get(path, headers=headers or {})
    finally:
        pool.getconn = getconn
    return response, not asked


def same_answer(first, second) -> bool:
    """The same answer: status, body and every field but those each answer has of its own."""
    own = ("X-Request-ID", "RateLimit", "Date")
    return (first.status_code, first.data, [h for h in first.headers if h[0] not in own]) == (
        second.status_code,
        second.data,
        [h for h in second.headers if h[0] not in own],
    )
