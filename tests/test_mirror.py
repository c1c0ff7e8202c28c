"""`proposals-api mirror URL`: a copy of a running instance through its public API, kept in sync.

The focused tests drive the mirror against an origin app through Flask's test client; the `slow`
ones run the real command against a real server, kill it, rerun it, follow it while writers work.
Every comparison is the one the issue asks for: `export` on the mirror and on the origin, byte
for byte.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from api.command import mirror as command
from api.http.auth import create_token
from api.resources.export import export_lines
from api.store import mirror as store
from api.store.migrate import migrate
from tests.conftest import ROOT, start_server, stop_server
from tests.support import UNKNOWN_CURSOR, call, create_seeded_database, drop_database, new_talk

Send = Callable[[str, str, dict | None, dict | None], tuple[int, dict, dict | None]]
CLAUSE = "/v1/clauses/russia-nato-security-agreement-article-3"


def exported(url: str) -> bytes:
    with psycopg.connect(url, autocommit=True) as conn:
        return b"".join(export_lines(conn))


def make_changes(send: Send, tag: str, round_number: int = 0) -> None:
    """One round of writes of every kind a mirror must carry: a party joining an alliance and leaving
    it (the alliance gets revisions of its own), a talk created, edited and deleted, a clause edited
    (a clause revision and its proposal's)."""
    party = f"mirror-party-{tag}"
    made = send(
        "POST",
        "/v1/parties",
        {
            "id": party,
            "name": f"Party {tag}",
            "short_name": tag[:10],
            "kind": "state",
            "member_of": ["nato"],
            "source_ids": ["sputnik-lavrov-security-guarantees"],
        },
        None,
    )
    assert made[0] == 201, made
    talk_id = f"mirror-talk-{tag}"
    created = send("POST", "/v1/talks", new_talk(talk_id), None)
    assert created[0] == 201, created
    edited = send("PATCH", f"/v1/talks/{talk_id}", {"location": "Vienna"}, {"If-Match": created[1]["etag"]})
    assert edited[0] == 200, edited
    clause_etag = send("GET", CLAUSE, None, None)[1]["etag"]
    topics = ["incident-prevention", "dialogue"] if round_number % 2 else ["dialogue"]
    clause = send("PATCH", CLAUSE, {"topics": topics}, {"If-Match": clause_etag, "X-Change-Note": f"Round {tag}."})
    assert clause[0] == 200, clause
    gone = send("DELETE", f"/v1/talks/{talk_id}", None, {"If-Match": edited[1]["etag"]})
    assert gone[0] == 204, gone
    party_etag = send("GET", f"/v1/parties/{party}", None, None)[1]["etag"]
    left = send("DELETE", f"/v1/parties/{party}", None, {"If-Match": party_etag})
    assert left[0] == 204, left


def client_sender(client, token: str) -> Send:
    def send(method: str, path: str, body: dict | None, headers: dict | None) -> tuple[int, dict, dict | None]:
        response = client.open(
            path, method=method, json=body, headers={"Authorization": f"Bearer {token}"} | (headers or {})
        )
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.get_json(silent=True)

    return send


def http_sender(base: str, token: str) -> Send:
    def send(method: str, path: str, body: dict | None, headers: dict | None) -> tuple[int, dict, dict | None]:
        auth = {"Authorization": f"Bearer {token}"} | ({"Content-Type": "application/json"} if body else {})
        status, got, text, _ = call(base + path, method, body, auth | (headers or {}))
        return status, got, json.loads(text) if text.strip() else None

    return send


class ClientResponse:
    """A test client's response as the mirror reads an HTTP one: headers, then the body piece by piece."""

    def __init__(self, response) -> None:
        self.headers, self.status = response.headers, response.status_code
        self.body = io.BytesIO(response.get_data())

    def read(self, size: int = -1) -> bytes:
        return self.body.read(size)

    def __enter__(self) -> ClientResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.body.close()


class ClientOrigin(command.Origin):
    """The origin app behind Flask's test client, answering what the mirror asks over HTTP."""

    def __init__(self, client, url: str = "http://origin.test") -> None:
        super().__init__(url)
        self.client = client
        self.polls: list[int] = []

    def _open(self, path: str, headers: dict[str, str] | None = None):
        response = self.client.get(path, headers=self.headers | (headers or {}))
        if path.startswith("/v1/changes"):
            self.polls.append(response.status_code)
        if response.status_code in (200, 304):
            return ClientResponse(response)
        raise command.OriginError(f"{path} answered {response.status_code}: {response.get_data(as_text=True)[:300]}")


@pytest.fixture
def origin(server_url: str) -> Iterator[str]:
    url = create_seeded_database(server_url, "proposals_origin")
    yield url
    drop_database(server_url, url)


@pytest.fixture
def origin_app(origin: str):
    from api import create_app
    from api.config import Settings

    app = create_app(Settings(database_url=origin, rate_limit_writes=1_000_000, rate_limit_reads=1_000_000))
    app.config["TESTING"] = True
    yield app
    app.extensions["db_pool"].close()


@pytest.fixture
def token(origin: str) -> str:
    with psycopg.connect(origin, autocommit=True) as conn:
        return create_token(conn, f"mirror-writer-{uuid.uuid4().hex[:6]}", "write", None)


@pytest.fixture
def replica(empty_database_url: str) -> Iterator[psycopg.Connection]:
    """The mirror's database: migrated, empty."""
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn)
        yield conn


def instance_of(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return store.instance_id(conn)


@pytest.mark.parametrize(
    "given", ["https://api.example.org", "https://api.example.org/", "https://api.example.org/v1/"]
)
def test_the_origin_is_named_by_its_address_or_its_api_base(given):
    assert command.Origin(given).url == "https://api.example.org"
    assert command.Origin("https://example.org/proposals/v1").url == "https://example.org/proposals"


def test_export_names_the_instance_it_comes_from(origin_app, origin):
    response = origin_app.test_client().get("/v1/export")
    assert response.status_code == 200
    assert response.headers["Instance-Id"] == instance_of(origin)
    assert len(response.headers["Instance-Id"]) >= 16


def test_each_database_has_its_own_instance_id(origin, replica):
    assert store.instance_id(replica) != instance_of(origin)


def test_a_database_with_data_of_its_own_is_refused(origin):
    with psycopg.connect(origin, autocommit=True) as conn, pytest.raises(store.MirrorRefusedError) as refused:
        store.claim(conn, "http://elsewhere.test", "another-instance")
    assert "holds data that did not come from http://elsewhere.test" in str(refused.value)
    with psycopg.connect(origin, autocommit=True) as conn:
        assert store.read_state(conn) is None


def test_a_mirror_of_one_origin_refuses_another(replica):
    first = store.claim(replica, "http://one.test", "instance-one")
    assert (first.origin_url, first.origin_id, first.phase) == ("http://one.test", "instance-one", "copying")
    with pytest.raises(store.MirrorRefusedError) as refused:
        store.claim(replica, "http://two.test", "instance-two")
    assert "mirror of http://one.test (instance instance-one)" in str(refused.value)
    # The same origin under another URL (it moved) is still the same origin.
    assert store.claim(replica, "http://one-moved.test", "instance-one").origin_id == "instance-one"


def test_a_mirror_is_never_seeded(replica):
    """`serve` seeds a database on its first start: a mirror's data is its origin's alone."""
    from api.store.dataset import seed

    store.claim(replica, "http://one.test", "instance-one")
    assert [count for _, count in seed(replica)] == [None, None]
    assert replica.execute("SELECT count(*) FROM revisions").fetchone() == (0,)


def test_a_database_cannot_mirror_itself(replica):
    with pytest.raises(store.MirrorRefusedError, match="this very database"):
        store.claim(replica, "http://self.test", store.instance_id(replica))


def test_the_copy_is_all_or_nothing(origin_app, origin, replica, tmp_path):
    """A copy that fails halfway (here: a line the importer refuses) leaves nothing of itself."""
    good = origin_app.test_client().get("/v1/export").get_data().splitlines(keepends=True)
    path = tmp_path / "export.ndjson"
    broken = json.loads(good[50])
    broken["record"] = {"id": broken["record"]["id"]}  # the right item, without its fields
    path.write_bytes(b"".join(good[:50]) + json.dumps(broken).encode() + b"\n")
    store.claim(replica, "http://origin.test", "instance-one")
    with pytest.raises(store.DatasetError, match="line 51"):
        store.import_copy(replica, path, iter(copied_entries(origin)))
    assert replica.execute("SELECT count(*) FROM revisions").fetchone() == (0,)
    assert store.read_state(replica).phase == "copying"


def test_the_copy_follows_the_feed_from_the_last_change_it_holds(origin_app, origin, replica, token, tmp_path):
    client = origin_app.test_client()
    for number in range(2):  # a party joins NATO and leaves, in commits of their own
        make_changes(client_sender(client, token), f"before{number}", number)
    path = tmp_path / "export.ndjson"
    path.write_bytes(client.get("/v1/export").get_data())
    make_changes(client_sender(client, token), "after")  # after the export: the feed lists it, the copy not
    store.claim(replica, "http://origin.test", instance_of(origin))
    entries = copied_entries(origin)
    count = store.import_copy(replica, path, iter(entries))
    assert count == len(path.read_bytes().splitlines())
    assert store.read_state(replica).phase == "following"
    assert store.read_state(replica).cursor == entries[count - 1]["cursor"]
    # Each revision is the origin's: grouped as the origin's changesets were, NATO has as many.
    nato = "SELECT revision FROM parties WHERE id = 'nato'"
    with psycopg.connect(origin, autocommit=True) as conn:
        at_export = conn.execute(
            "SELECT max(revision) FROM revisions WHERE item_id = 'nato' AND seq <= "
            "(SELECT seq FROM revisions WHERE 'seq' || seq = %s)",
            (entries[count - 1]["cursor"],),
        ).fetchone()
    assert replica.execute(nato).fetchone() == at_export


def test_a_copy_that_does_not_match_the_feed_is_refused(origin_app, origin, replica, tmp_path):
    path = tmp_path / "export.ndjson"
    path.write_bytes(origin_app.test_client().get("/v1/export").get_data())
    store.claim(replica, "http://origin.test", instance_of(origin))
    entries = copied_entries(origin)
    del entries[40]
    with pytest.raises(store.MirrorDivergedError, match="line 41 of the export is not the change feed's next change"):
        store.import_copy(replica, path, iter(entries))
    assert replica.execute("SELECT count(*) FROM revisions").fetchone() == (0,)


def feed_entries(url: str, after_seq: int) -> list[dict]:
    """The origin's revisions after `after_seq` as change-feed entries (with snapshots), read from
    its database: what the feed sends, for testing how the mirror applies it."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT r.collection, r.item_id, r.revision, rfc3339(r.valid_from), rfc3339(c.recorded_at), c.actor, "
            "r.note, r.deleted, r.changeset_id, r.snapshot, 'seq' || r.seq FROM revisions r "
            "JOIN changesets c ON c.id = r.changeset_id "
            "WHERE r.seq > %s ORDER BY r.seq",
            (after_seq,),
        ).fetchall()
    keys = (
        "collection",
        "id",
        "revision",
        "valid_from",
        "recorded_at",
        "actor",
        "note",
        "deleted",
        "changeset",
        "snapshot",
        "cursor",
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]


def copied_entries(url: str) -> list[dict]:
    """What the mirror reads from the feed to pair with the export's lines: no clauses, no snapshots."""
    return [e | {"snapshot": None} for e in feed_entries(url, 0) if e["collection"] != "clauses"]


def last_seq(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT max(seq) FROM revisions").fetchone()[0]


def test_applying_the_feed_keeps_history_and_changesets(origin_app, origin, replica, token, tmp_path):
    path = tmp_path / "export.ndjson"
    path.write_bytes(origin_app.test_client().get("/v1/export").get_data())
    store.claim(replica, "http://origin.test", instance_of(origin))
    store.import_copy(replica, path, iter(copied_entries(origin)))
    start = last_seq(origin)
    copied_up_to = replica.execute("SELECT max(id) FROM changesets").fetchone()[0]
    make_changes(client_sender(origin_app.test_client(), token), "unit")
    entries = feed_entries(origin, start)
    assert {e["collection"] for e in entries} >= {"parties", "talks", "clauses", "proposals"}
    # Two pages cut inside a changeset, and the second page sent twice (as after a lost answer).
    state = store.read_state(replica)
    state, applied, skipped = store.apply_page(replica, state, entries[:3], "c1", "http://origin.test")
    # The new party, NATO (which lists it), a talk: saving the party gave NATO its revision here already.
    assert [(e["collection"], e["id"]) for e in entries[:2]] == [("parties", "mirror-party-unit"), ("parties", "nato")]
    assert (applied, skipped, state.cursor) == (2, 1, "c1")
    state, applied, skipped = store.apply_page(replica, state, entries[3:], "c2", "http://origin.test")
    again = store.apply_page(replica, state, entries[3:], "c2", "http://origin.test")
    assert again[1] == 0 and again[2] > 0  # everything held already: nothing applied twice
    assert exported(origin) == b"".join(export_lines(replica))
    assert store.read_state(replica).cursor == "c2"
    # One origin changeset is one changeset here.
    with psycopg.connect(origin, autocommit=True) as conn:
        groups = conn.execute(
            "SELECT count(DISTINCT changeset_id) FROM revisions WHERE seq > %s AND collection <> 'clauses'", (start,)
        ).fetchone()
    local = replica.execute(
        "SELECT count(DISTINCT changeset_id) FROM revisions WHERE changeset_id > %s AND collection <> 'clauses'",
        (copied_up_to,),
    ).fetchone()
    assert local == groups


def test_a_revision_that_does_not_follow_is_refused(origin_app, origin, replica, token, tmp_path):
    path = tmp_path / "export.ndjson"
    path.write_bytes(origin_app.test_client().get("/v1/export").get_data())
    store.claim(replica, "http://origin.test", instance_of(origin))
    store.import_copy(replica, path, iter(copied_entries(origin)))
    start_cursor = store.read_state(replica).cursor
    start = last_seq(origin)
    make_changes(client_sender(origin_app.test_client(), token), "gap")
    talk_entries = [e for e in feed_entries(origin, start) if e["collection"] == "talks"]
    state = store.read_state(replica)
    with pytest.raises(store.MirrorDivergedError, match="revision 2 arrived, but this copy has revision 0"):
        store.apply_page(replica, state, talk_entries[1:], "c", "http://origin.test")
    assert store.read_state(replica).cursor == start_cursor  # nothing of the page stays


def mirror_run(replica: psycopg.Connection, origin: ClientOrigin) -> tuple[command.Mirror, list[str]]:
    said: list[str] = []
    return command.Mirror(replica, origin, said.append), said


def test_copy_then_feed_gives_the_origins_export(origin_app, origin, replica, token, monkeypatch):
    monkeypatch.setattr(command, "PAGE", 7)  # several pages, cut inside changesets
    client = origin_app.test_client()
    source = ClientOrigin(client)
    for number in range(2):  # history the export carries: parties joining NATO and leaving it
        make_changes(client_sender(client, token), f"old{number}", number)
    run, said = mirror_run(replica, source)
    state = run.copy()
    assert said[0] == f"copying http://origin.test/v1/export (instance {instance_of(origin)})"
    # The origin takes writes between the export and the first call to its feed.
    for number in range(3):
        make_changes(client_sender(client, token), f"feed{number}", number)
    run.follow(state, keep_following=False, interval=None)
    assert exported(origin) == b"".join(export_lines(replica))
    # NATO's revisions came with the parties' (applying a party's revision here makes them).
    assert any(line.endswith(" held already") or " held already," in line for line in said)
    assert said[-1] == "up to date"
    # Run again: nothing new, nothing applied; the stored cursor is the feed's head.
    again, said_again = mirror_run(replica, source)
    again.follow(again.copy(), keep_following=False, interval=None)
    assert said_again == ["up to date"]
    assert exported(origin) == b"".join(export_lines(replica))


def test_following_polls_the_head_with_its_etag(origin_app, origin, replica, token):
    client = origin_app.test_client()
    source = ClientOrigin(client)
    run, said = mirror_run(replica, source)
    state = run.copy()
    follower = threading.Thread(target=run.follow, args=(state, True, 0.05))
    follower.start()
    try:
        deadline = time.monotonic() + 30
        while source.polls.count(304) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.polls.count(304) >= 2  # at the head, a poll with no news is a 304
        make_changes(client_sender(client, token), "poll")
        want = exported(origin)
        while exported(replica.info.dsn) != want and time.monotonic() < deadline:
            time.sleep(0.1)
        assert exported(replica.info.dsn) == want
    finally:
        run.stopping = True
        follower.join(timeout=30)
    assert not follower.is_alive()
    assert said.count("up to date") >= 2  # caught up, then again after the writes


def test_an_origin_with_another_identity_is_refused(origin_app, replica):
    source = ClientOrigin(origin_app.test_client())
    run, _ = mirror_run(replica, source)
    state = run.copy()
    replica.execute("UPDATE mirror_state SET origin_id = 'someone-else'")
    with pytest.raises(store.MirrorRefusedError, match="not someone-else"):
        run.follow(store.read_state(replica), keep_following=False, interval=None)
    assert store.read_state(replica).cursor == state.cursor


class AwayOrigin(ClientOrigin):
    """An origin whose feed answers 503 a few times first (its database away, say)."""

    def __init__(self, client, failures: int) -> None:
        super().__init__(client)
        self.failures = failures

    def changes(self, cursor: str | None, etag: str | None, snapshots: bool = True) -> command.Page:
        if snapshots and self.failures:
            self.failures -= 1
            raise command.OriginError("http://origin.test/v1/changes answered 503: away", transient=True)
        return super().changes(cursor, etag, snapshots)


def test_following_waits_out_an_origin_that_is_away(origin_app, replica):
    run, said = mirror_run(replica, AwayOrigin(origin_app.test_client(), failures=2))
    state = run.copy()
    with pytest.raises(command.OriginError, match="answered 503"):  # without --follow it is an error
        run.follow(state, keep_following=False, interval=None)

    def echo(line: str) -> None:
        said.append(line)
        run.stopping = line == "up to date"

    run.echo = echo
    run.follow(state, keep_following=True, interval=0.01)
    assert said[-2:] == ["http://origin.test/v1/changes answered 503: away; trying again in 0.01 s", "up to date"]


# The real command against a real server: killed, rerun, followed while writers work.


def proposals_api() -> str:
    return str(Path(sys.executable).with_name("proposals-api"))


def start_mirror(base: str, database_url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [proposals_api(), "mirror", base, *args],
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_mirror(base: str, database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [proposals_api(), "mirror", base, *args],
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def read_until(process: subprocess.Popen, start: str, seen: list[str]) -> str:
    """The next line of the mirror's output that starts with `start` (the lines go to `seen`)."""
    for line in process.stdout:
        seen.append(line)
        if line.startswith(start):
            return line
    raise AssertionError(f"the mirror ended without saying {start!r}: {''.join(seen)}")


def mirror_backends(conn: psycopg.Connection, database_url: str) -> list[tuple[str | None]]:
    """What the sessions at work on the mirror's database (not the test's watcher) wait for: the
    mirror's, and the blocker's until it rolls back. Idle ones do not count: pgbouncer keeps its
    server connections open after their clients have gone."""
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    return conn.execute(
        "SELECT wait_event_type FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend' AND state <> 'idle'",
        (name,),
    ).fetchall()


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def slow_origin(server_url: str) -> Iterator[tuple[str, str, str]]:
    """An origin database, its production server and a write token: (database URL, base URL, token)."""
    url = create_seeded_database(server_url, "proposals_origin")
    with psycopg.connect(url, autocommit=True) as conn:
        writer = create_token(conn, "mirror-test-writer", "write", None)
    base, process = start_server(url)
    try:
        yield url, base, writer
    finally:
        stop_server(process)
        drop_database(server_url, url)


def kill_while_blocked(base: str, database_url: str, after: str, table: str) -> tuple[int, list[str], tuple]:
    """Runs the mirror until it says `after`, then holds a SHARE lock on `table`, so that its next write
    there waits; kills it with SIGKILL while it waits, and waits until its session is gone. Returns its
    exit status, its output, and its mirror_state (phase, cursor) as it was while it waited."""
    seen: list[str] = []
    with psycopg.connect(database_url) as blocker, psycopg.connect(database_url, autocommit=True) as watcher:
        mirror = start_mirror(base, database_url)
        try:
            read_until(mirror, after, seen)
            blocker.execute(psycopg.sql.SQL("LOCK TABLE {} IN SHARE MODE").format(psycopg.sql.Identifier(table)))
            wait_for(lambda: ("Lock",) in mirror_backends(watcher, database_url))
            state = watcher.execute("SELECT phase, feed_cursor FROM mirror_state").fetchone()
            mirror.kill()
            mirror.wait(timeout=30)
            seen += mirror.stdout.readlines()
        finally:
            if mirror.poll() is None:
                mirror.kill()
            blocker.rollback()
        wait_for(lambda: not mirror_backends(watcher, database_url))
    return mirror.returncode, seen, state


@pytest.mark.slow
def test_killed_in_the_middle_of_the_copy_it_starts_it_again(slow_origin, empty_database_url):
    origin_url, base, _ = slow_origin
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn)
    # Statements come late in the export: the import waits at the first one, halfway through.
    status, seen, state = kill_while_blocked(base, empty_database_url, "copying", "statements")
    assert status == -signal.SIGKILL
    assert seen[-1].startswith("downloaded")  # killed while importing
    assert state[0] == "copying"
    # Nothing half-imported: the copy and the state that says it is done commit together.
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM revisions").fetchone() == (0,)
        assert conn.execute("SELECT phase FROM mirror_state").fetchone() == ("copying",)
    again = run_mirror(base, empty_database_url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.startswith("copying ")
    assert again.stdout.rstrip().endswith("up to date")
    assert exported(empty_database_url) == exported(origin_url)


@pytest.mark.slow
def test_killed_while_following_it_resumes_from_its_cursor(slow_origin, empty_database_url):
    from api.resources.changes import decode_cursor

    origin_url, base, writer = slow_origin
    first = run_mirror(base, empty_database_url)
    assert first.returncode == 0, first.stdout + first.stderr
    send = http_sender(base, writer)
    for number in range(30):  # more than one page of the feed
        make_changes(send, f"resume{number}", number)
    # The next page after the first waits at its first talk.
    status, _, (phase, stored) = kill_while_blocked(base, empty_database_url, "applied", "talks")
    assert (status, phase) == (-signal.SIGKILL, "following")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert conn.execute("SELECT feed_cursor FROM mirror_state").fetchone() == (stored,)
    assert exported(empty_database_url) != exported(origin_url)
    again = run_mirror(base, empty_database_url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not again.stdout.startswith("copying")
    # It went on exactly where the stored cursor said: every later change came once, none before it.
    with psycopg.connect(origin_url, autocommit=True) as conn:
        later = conn.execute(
            "SELECT count(*) FROM revisions WHERE seq > %s AND collection <> 'clauses'",
            (decode_cursor(stored, "cursor").seq,),
        )
        assert sum(map(int, re.findall(r"(?:applied|skipped) (\d+)", again.stdout))) == later.fetchone()[0]
    assert exported(empty_database_url) == exported(origin_url)


@pytest.mark.slow
def test_following_while_the_origin_takes_writes_gives_the_same_export(slow_origin, empty_database_url):
    origin_url, base, writer = slow_origin
    send = http_sender(base, writer)
    rounds, stop = [], threading.Event()

    def write() -> None:
        # A write past DATABASE_WRITE_DEADLINE on a busy machine is a 503 that may or may not have been
        # applied: the writer stops there (the rounds it finished are counted below); the mirror still
        # has to match whatever the origin holds.
        while not stop.wait(0.05):
            try:
                make_changes(send, f"busy{len(rounds)}-{uuid.uuid4().hex[:6]}", len(rounds))
            except AssertionError:
                return
            rounds.append(1)

    writers = threading.Thread(target=write)
    writers.start()
    seen: list[str] = []
    mirror = start_mirror(base, empty_database_url, "--follow", "--interval", "0.2")
    try:
        try:
            read_until(mirror, "copying", seen)  # the copy runs while the writers write
            read_until(mirror, "applied", seen)
            wait_for(lambda: len(rounds) >= 5)
        finally:
            stop.set()
            writers.join(timeout=60)
        want = exported(origin_url)
        wait_for(lambda: exported(empty_database_url) == want, seconds=120)
        mirror.send_signal(signal.SIGINT)
        rest, _ = mirror.communicate(timeout=30)
    finally:
        if mirror.poll() is None:
            mirror.kill()
    assert mirror.returncode == 0, "".join(seen) + rest
    assert rest.rstrip().endswith("stopped; run the same command again to go on from here")
    assert exported(empty_database_url) == want


@pytest.mark.slow
def test_the_command_refuses_to_mix_origins(slow_origin, database_url, empty_database_url):
    _, base, _ = slow_origin
    own_data = run_mirror(base, database_url)  # the seeded test database: data of its own
    assert own_data.returncode == 1
    assert f"holds data that did not come from {base}" in own_data.stderr
    copied = run_mirror(base, empty_database_url)
    assert copied.returncode == 0, copied.stdout + copied.stderr
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("UPDATE mirror_state SET origin_id = 'another-origin'")  # as if it mirrored another
    other = run_mirror(base, empty_database_url)
    assert other.returncode == 1
    assert "one database mirrors one origin" in other.stderr
    # Another origin's feed does not know this mirror's position either: its 409 names the instance,
    # so the refusal comes at once, not after the retries a replica behind its primary gets.
    unknown = UNKNOWN_CURSOR
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("UPDATE mirror_state SET feed_cursor = %s", [unknown])
    elsewhere = run_mirror(base, empty_database_url)
    assert elsewhere.returncode == 1
    assert "one database mirrors one origin" in elsewhere.stderr, elsewhere.stderr
