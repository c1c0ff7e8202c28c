"""No lost or torn writes: the service is killed (SIGKILL) in the middle of a burst of writes.

A write is one transaction (the item, its revision snapshot, its proposal's revision when a
clause changes, the idempotency record), so whatever moment the processes die at, the
database holds each write whole or not at all, and every write a client saw succeed.
"""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.client import HTTPException
from pathlib import Path

import psutil
import psycopg
import pytest

from api.http.auth import create_token
from tests.conftest import seeded_database, start_server, stop_server
from tests.support import new_talk

pytestmark = pytest.mark.slow  # the production server, killed mid-burst
COLLECTIONS = ("sources", "parties", "proposals", "clauses", "talks", "statements")
SUCCESSES_BEFORE_KILL = 40


@pytest.fixture
def crash_db(server_url: str) -> Iterator[str]:
    yield from seeded_database(server_url, "proposals_crash")


def send(url: str, method: str, body: dict, headers: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, {}


class Burst:
    """Writer threads that keep writing until the service dies, noting every 2xx they get."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.auth = {"Authorization": f"Bearer {token}"}
        self.lock = threading.Lock()
        self.succeeded: list[tuple[str, str, dict]] = []  # (collection, id, body) of each 2xx
        self.posts: dict[str, dict] = {}  # Idempotency-Key -> body, answered or not
        self.unexpected: list[tuple[str, int]] = []
        self.enough = threading.Event()
        self.cut_off = 0  # requests that were in flight when the service died

    def _record(self, collection: str, item_id: str, status: int, body: dict, what: str) -> None:
        with self.lock:
            if 200 <= status < 300:
                self.succeeded.append((collection, item_id, body))
                if len(self.succeeded) >= SUCCESSES_BEFORE_KILL:
                    self.enough.set()
            else:
                self.unexpected.append((what, status))

    def create_talks(self, worker: int) -> None:
        for n in range(10_000):
            key = f"crash-{worker}-{n}-{uuid.uuid4().hex[:6]}"
            body = new_talk(f"crash-talk-{worker}-{n}-{uuid.uuid4().hex[:6]}")
            with self.lock:
                self.posts[key] = body
            headers = self.auth | {"Content-Type": "application/json", "Idempotency-Key": key}
            status, _, answer = send(f"{self.base}/v1/talks", "POST", body, headers)
            self._record("talks", body["id"], status, answer, "POST talk")

    def patch(self, collection: str, item_id: str, field: str) -> None:
        headers = self.auth | {"Content-Type": "application/merge-patch+json", "If-Match": "*"}
        for n in range(10_000):
            body = {field: f"Rewritten during the crash test, pass {n} ({uuid.uuid4().hex[:6]})."}
            status, _, answer = send(f"{self.base}/v1/{collection}/{item_id}", "PATCH", body, headers)
            self._record(collection, item_id, status, answer, f"PATCH {collection}/{item_id}")

    def run(self, work) -> threading.Thread:
        def until_the_service_dies() -> None:
            # When the service is gone, the fate of the write in flight is for the database to tell.
            try:
                work()
            except urllib.error.URLError as error:
                if not isinstance(error.reason, ConnectionRefusedError):  # refused: sent after the kill
                    with self.lock:
                        self.cut_off += 1
            except (HTTPException, ConnectionError, TimeoutError):  # the connection died under the request
                with self.lock:
                    self.cut_off += 1

        thread = threading.Thread(target=until_the_service_dies, daemon=True)
        thread.start()
        return thread


def kill_service(process) -> None:
    """SIGKILL the whole service by pid: `proposals-api serve`, granian and its workers."""
    root = psutil.Process(process.pid)
    tree = [*root.children(recursive=True), root]
    run_dirs = set()
    for member in tree:
        metrics_dir = member.environ().get("PROMETHEUS_MULTIPROC_DIR")
        if metrics_dir and Path(metrics_dir).parent.name.startswith("proposals-api-run-"):
            run_dirs.add(Path(metrics_dir).parent)
    for member in tree:
        member.kill()
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive
    process.wait(timeout=10)
    for folder in run_dirs:  # `serve` removes it on a normal exit; it had none
        shutil.rmtree(folder, ignore_errors=True)


def test_a_service_killed_mid_burst_loses_and_tears_no_write(crash_db: str):
    actor = f"crash-{uuid.uuid4().hex[:8]}"  # the token's name: writes record it as their actor
    with psycopg.connect(crash_db, autocommit=True) as conn:
        token = create_token(conn, actor, "write", None)
    base, process = start_server(crash_db)
    log_path = process.log_path
    burst = Burst(base, token)
    try:
        threads = [
            burst.run(lambda: burst.create_talks(1)),
            burst.run(lambda: burst.create_talks(2)),
            burst.run(lambda: burst.patch("talks", "geneva-strategic-stability-2022-01-10", "summary")),
            burst.run(lambda: burst.patch("clauses", "us-russia-security-treaty-article-1", "summary")),
            burst.run(lambda: burst.patch("clauses", "us-russia-security-treaty-article-5", "summary")),
            burst.run(lambda: burst.patch("proposals", "us-russia-security-treaty", "summary")),
        ]
        assert burst.enough.wait(60), f"the burst made only {len(burst.succeeded)} writes"
        kill_service(process)
        for thread in threads:
            thread.join(timeout=30)
            assert not thread.is_alive()
    finally:
        if process.poll() is None:
            stop_server(process)
        Path(log_path).unlink(missing_ok=True)
    assert burst.unexpected == []
    assert len(burst.succeeded) >= SUCCESSES_BEFORE_KILL
    assert burst.cut_off >= 1, "no write was in flight when the service died"

    with psycopg.connect(crash_db, autocommit=True) as conn:
        # Every item's revisions are 1..n, with no gap and no duplicate.
        gaps = conn.execute(
            "SELECT collection, item_id FROM revisions GROUP BY 1, 2 HAVING min(revision) <> 1 OR max(revision) <> count(*)"
        ).fetchall()
        assert gaps == []
        # Every item's current state is its latest snapshot, and every revision has its item.
        for collection in COLLECTIONS:
            torn = conn.execute(
                f"""SELECT t.id FROM {collection} t LEFT JOIN LATERAL (
                      SELECT revision, snapshot FROM revisions r
                       WHERE r.collection = %(c)s AND r.item_id = t.id ORDER BY revision DESC LIMIT 1) r ON true
                     WHERE r.revision IS DISTINCT FROM t.revision OR r.snapshot::jsonb IS DISTINCT FROM t.doc::jsonb""",
                {"c": collection},
            ).fetchall()
            assert torn == [], collection
            orphans = conn.execute(
                f"SELECT DISTINCT item_id FROM revisions r WHERE collection = %(c)s "
                f"AND NOT EXISTS (SELECT 1 FROM {collection} t WHERE t.id = r.item_id)",
                {"c": collection},
            ).fetchall()
            assert orphans == [], collection
        # A clause's revision always comes with its proposal's, in the same changeset.
        alone = conn.execute(
            """SELECT r.item_id, r.revision FROM revisions r JOIN clauses c ON c.id = r.item_id
                WHERE r.collection = 'clauses' AND NOT EXISTS (
                  SELECT 1 FROM revisions p WHERE p.collection = 'proposals'
                     AND p.item_id = c.proposal_id AND p.changeset_id = r.changeset_id)"""
        ).fetchall()
        assert alone == []
        # No changeset without the revisions it was made for.
        empty = conn.execute(
            "SELECT id FROM changesets c WHERE actor = %s "
            "AND NOT EXISTS (SELECT 1 FROM revisions r WHERE r.changeset_id = c.id)",
            (actor,),
        ).fetchall()
        assert empty == []
        # Every write that got a 2xx is there, exactly as it was answered.
        for collection, item_id, body in burst.succeeded:
            row = conn.execute(
                "SELECT snapshot::jsonb FROM revisions WHERE collection = %s AND item_id = %s AND revision = %s",
                (collection, item_id, body["revision"]),
            ).fetchone()
            assert row is not None and row[0] == body, (collection, item_id, body["revision"])
        # An item created with an Idempotency-Key exists if and only if its key was remembered.
        remembered = {k for (k,) in conn.execute("SELECT key FROM idempotency_keys WHERE actor = %s", (actor,))}
        created = {i for (i,) in conn.execute("SELECT id FROM talks WHERE id LIKE 'crash-talk-%%'")}
        assert {k for k, body in burst.posts.items() if body["id"] in created} == remembered
        assert created <= {body["id"] for body in burst.posts.values()}
    lost = len(burst.posts) - len(remembered)
    print(
        f"crash: {len(burst.succeeded)} writes answered 2xx, {burst.cut_off} cut off in flight, "
        f"{len(burst.posts)} creates sent, {lost} never committed"
    )
