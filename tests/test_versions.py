"""The version cache (api/store/versions.py): a conditional GET of an unchanged item answered 304
from memory, only while Postgres' notices are proven to arrive, and never with an old version.

The map's rules are checked on their own; then, against a real Postgres, two apps on one database
play two workers: a write through one makes the other's 304 stop within a short bounded wait;
ending the listener's session bypasses the map until it is proven again (and empties it); the
trigger (sql/functions/versions.sql) batches its notices and sends one `*` for a bulk statement.

Through pgbouncer in transaction mode (the suite's run with PREPARED_STATEMENTS=off) LISTEN does not
reach the listener's session: the cache is never proven there, and every request goes to the
database as before, which is what the rest of the suite then checks. The tests that need notices skip.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from api.config import Settings
from api.http.auth import create_token
from api.resources.changes import HEAD_KEY
from api.store import versions as versions_module
from api.store.migrate import migrate
from api.store.versions import CHANNEL, Versions, parse
from tests.support import create_database, drop_database, from_memory, same_answer, until

TREATY = "us-russia-security-treaty"
KEY = ("proposals", TREATY)
PATH = f"/v1/proposals/{TREATY}"

through_pooler = pytest.mark.skipif(
    os.environ.get("PREPARED_STATEMENTS") == "off",
    reason="PREPARED_STATEMENTS=off, the run through pgbouncer in transaction mode: LISTEN does not reach the "
    "listener's session there, so the cache is never proven and stays bypassed (every request asks the database)",
)


# The map's rules, without a database.


def proven(size: int = 10) -> Versions:
    versions = Versions(size)
    versions.proven = True
    return versions


def test_an_unproven_map_answers_nothing_and_learns_nothing():
    versions = Versions(10)
    versions.learn(KEY, 3, versions.epoch, primary=True)
    versions.proven = True
    assert versions.get(KEY) is None


def test_a_read_is_learnt_only_if_no_notice_came_while_it_ran():
    versions = proven()
    since = versions.epoch
    versions.apply([(("talks", "other"), 2, False)])
    versions.learn(KEY, 3, since, primary=True)
    assert versions.get(KEY) is None
    versions.learn(KEY, 3, versions.epoch, primary=True)
    assert versions.get(KEY) == 3


def test_entries_only_move_forward_and_a_replica_adds_none():
    versions = proven()
    versions.learn(KEY, 3, versions.epoch, primary=False)
    assert versions.get(KEY) is None  # a replica's read may lag behind a notice already applied
    versions.learn(KEY, 3, versions.epoch, primary=True)
    versions.learn(KEY, 2, versions.epoch, primary=True)
    versions.apply([(KEY, 1, False)])
    assert versions.get(KEY) == 3
    versions.learn(KEY, 4, versions.epoch, primary=False)
    assert versions.get(KEY) == 4


def test_a_deleted_item_is_not_answered_and_a_notice_adds_no_entry():
    versions = proven()
    versions.learn(KEY, 3, versions.epoch, primary=True)
    versions.apply([(KEY, 4, True), (("talks", "unknown"), 7, False)])
    assert versions.get(KEY) is None
    assert versions.entries == {KEY: -4}


def test_the_map_keeps_the_most_recently_used():
    versions = proven(size=2)
    for n in range(3):
        versions.learn(("talks", f"t{n}"), 1, versions.epoch, primary=True)
        versions.get(("talks", "t0"))
    assert set(versions.entries) == {("talks", "t0"), ("talks", "t2")}


def test_its_own_write_is_added_unless_a_notice_came_since():
    versions = proven()
    since = versions.epoch
    versions.remember([(KEY, 5, False)], since)
    assert versions.get(KEY) == 5
    since = versions.epoch
    versions.apply([(("talks", "x"), 2, False)])
    versions.remember([(("talks", "y"), 2, False), (KEY, 6, False)], since)
    assert versions.get(("talks", "y")) is None
    assert versions.get(KEY) == 6


@pytest.mark.parametrize(
    ("payload", "changes"),
    [
        ("proposals/3/l/a-b\ntalks/12/d/c", [(("proposals", "a-b"), 3, False), (("talks", "c"), 12, True)]),
        ("*", None),
        ("proposals/x/l/a", None),
        ("", None),
    ],
)
def test_a_notice_is_read_or_taken_for_everything(payload, changes):
    assert parse(payload) == changes


# Against Postgres: two apps on one database, as two workers.


def cache(app) -> Versions:
    versions = app.extensions["versions"]
    until(lambda: versions.proven, "the listener proves that notices arrive")
    return versions


def answered_from_memory(app, path: str, etag: str) -> bool:
    """Whether a 304 for `etag` comes without the database."""
    response, without_database = from_memory(app, path, {"If-None-Match": etag})
    return response.status_code == 304 and without_database


@through_pooler
def test_a_304_comes_from_memory_once_the_item_was_read(workers):
    first, _ = workers
    versions = cache(first)
    client = first.test_client()
    etag = client.get(PATH).headers["ETag"]
    assert versions.get(KEY) is not None
    assert answered_from_memory(first, PATH, etag)
    assert answered_from_memory(first, PATH, f'W/"1.1", W/{etag}')


@through_pooler
def test_a_poll_of_the_change_feeds_head_is_answered_from_memory_until_a_write_elsewhere(workers, own_database_url):
    first, second = workers
    cache(first), cache(second)
    reader = first.test_client()
    page = reader.get("/v1/changes?limit=200")
    while len(page.get_json()["items"]) == 200:  # walked to the head: a page with fewer than `limit`
        page = reader.get(f"/v1/changes?limit=200&cursor={page.get_json()['next_cursor']}")
    head = f"/v1/changes?cursor={page.get_json()['next_cursor']}"
    etag = page.headers["ETag"]
    fresh = reader.get(head, headers={"If-None-Match": etag})  # from the database: the cache learns the head
    assert fresh.status_code == 304
    assert first.extensions["versions"].get(HEAD_KEY) is not None
    assert answered_from_memory(first, head, etag)
    remembered = reader.get(head, headers={"If-None-Match": etag})
    assert same_answer(remembered, fresh)
    with psycopg.connect(own_database_url, autocommit=True) as conn:
        token = create_token(conn, f"versions-{uuid.uuid4().hex[:8]}", "write", None)
    current = second.test_client().get(PATH)
    changed = second.test_client().patch(
        PATH,
        json={"title": f"Changed {uuid.uuid4().hex[:6]}"},
        headers={
            "Authorization": f"Bearer {token}",
            "If-Match": current.headers["ETag"],
            "Content-Type": "application/merge-patch+json",
        },
    )
    assert changed.status_code == 200, changed.get_json()
    until(lambda: reader.get(head, headers={"If-None-Match": etag}).status_code == 200, "the head's ETag moves on")


@through_pooler
def test_a_write_through_another_worker_ends_the_304_within_a_bounded_wait(workers, own_database_url):
    first, second = workers
    cache(first), cache(second)
    reader, writer = first.test_client(), second.test_client()
    etag = reader.get(PATH).headers["ETag"]
    assert reader.get(PATH, headers={"If-None-Match": etag}).status_code == 304
    with psycopg.connect(own_database_url, autocommit=True) as conn:
        token = create_token(conn, f"versions-{uuid.uuid4().hex[:8]}", "write", None)
    changed = writer.patch(
        PATH,
        json={"title": f"Changed {uuid.uuid4().hex[:6]}"},
        headers={"Authorization": f"Bearer {token}", "If-Match": etag, "Content-Type": "application/merge-patch+json"},
    )
    assert changed.status_code == 200, changed.get_json()
    new = changed.headers["ETag"]
    # The writer knows at once (its own write); the reader once the notice came.
    assert writer.get(PATH, headers={"If-None-Match": etag}).status_code == 200
    assert answered_from_memory(second, PATH, new)
    until(lambda: reader.get(PATH, headers={"If-None-Match": etag}).status_code == 200, "the old ETag stops matching")
    assert reader.get(PATH, headers={"If-None-Match": new}).status_code == 304


@through_pooler
def test_a_listener_whose_session_ends_is_bypassed_then_proven_again(workers, own_database_url, monkeypatch):
    first, _ = workers
    versions = cache(first)
    listener = versions.listener
    client = first.test_client()
    etag = client.get(PATH).headers["ETag"]
    assert versions.get(KEY) is not None
    # Its pings are held back until the test lets them go, so the bypassed state can be seen.
    gate, ping = threading.Event(), listener.ping
    monkeypatch.setattr(listener, "ping", lambda payload: gate.is_set() and ping(payload))
    proofs, pid = listener.proofs, listener.backend_pid
    with psycopg.connect(own_database_url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    until(lambda: not versions.proven, "the listener sees its session end")
    assert versions.get(KEY) is None
    assert not answered_from_memory(first, PATH, etag)  # the database answers it, as before
    assert client.get(PATH, headers={"If-None-Match": etag}).status_code == 304
    gate.set()
    until(lambda: listener.proofs > proofs, "a new session proves itself")
    assert listener.backend_pid != pid
    assert KEY not in versions.entries  # emptied on reconnecting: notices may have been missed
    client.get(PATH)
    assert answered_from_memory(first, PATH, etag)


@through_pooler
def test_a_listener_that_never_hears_its_ping_leaves_the_map_bypassed(workers, own_database_url):
    """A ping that never arrives (as behind pgbouncer in transaction mode): the map answers nothing,
    and requests go to the database as before."""
    first, _ = workers
    versions = Versions(10)
    pool = first.extensions["db_pool"]
    pings: list[str] = []
    listener = versions_module.Listener(
        versions, own_database_url, Settings(), lambda payload: pings.append(payload) or True, lambda: pool.closed
    )
    listener.start()
    until(lambda: len(pings) >= 2, "a second attempt after the first proof failed")
    assert not versions.proven and listener.proofs == 0
    versions.learn(KEY, 1, versions.epoch, primary=True)
    assert versions.get(KEY) is None


@pytest.mark.skipif(
    os.environ.get("PREPARED_STATEMENTS") != "off",
    reason="only through pgbouncer in transaction mode (the suite's run with PREPARED_STATEMENTS=off)",
)
def test_behind_a_transaction_pooler_the_cache_stays_bypassed(workers):
    """LISTEN runs on whatever server session pgbouncer lends for that one statement: the ping never
    reaches the listener, which tries again and again, and the map answers nothing."""
    first, _ = workers
    versions = first.extensions["versions"]
    listener = versions.listener
    pings: list[str] = []
    ping = listener.ping
    listener.ping = lambda payload: pings.append(payload) or ping(payload)
    until(lambda: len(pings) >= 2, "a second attempt after the first proof failed")
    assert listener.proofs == 0 and not versions.proven
    first.test_client().get(PATH)
    assert versions.get(KEY) is None


# The trigger, on a database of its own (its revisions are not the seeded ones).


@pytest.fixture
def bare_database(server_url: str) -> Iterator[str]:
    url = create_database(server_url, "proposals_versions")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    yield url
    drop_database(server_url, url)


def inserted(conn: psycopg.Connection, count: int) -> None:
    """`count` revisions of new talks in one statement, committed."""
    changeset = conn.execute("INSERT INTO changesets (actor) VALUES ('test') RETURNING id").fetchone()[0]
    conn.execute(
        "INSERT INTO revisions (collection, item_id, revision, changeset_id, valid_from, snapshot)"
        " SELECT 'talks', 'talk-with-a-long-enough-id-' || n, 1 + mod(n, 3), %s, now(), '{}' FROM generate_series(1, %s) n",
        (changeset, count),
    )


def notices(listening: psycopg.Connection) -> list[str]:
    """The payloads that arrived on CHANNEL, once they stop coming."""
    return [notice.payload for notice in listening.notifies(timeout=0.5)]


@through_pooler
@pytest.mark.parametrize("count", [1, 300, 2000])
def test_each_inserted_revision_is_told_in_payloads_under_8000_bytes(bare_database, count):
    with psycopg.connect(bare_database, autocommit=True) as listening, psycopg.connect(bare_database) as conn:
        listening.execute(f"LISTEN {CHANNEL}")
        inserted(conn, count)
        conn.commit()
        payloads = notices(listening)
        head = conn.execute("SELECT max(seq) FROM revisions").fetchone()[0]
    assert all(len(payload.encode()) < 8000 for payload in payloads)
    assert len(payloads) == 1 if count == 1 else len(payloads) > 1  # batched, not one a row
    told = [change for payload in payloads for change in parse(payload)]
    assert told[-1] == (HEAD_KEY, head, False)  # the change feed's newest position, last
    assert sorted(told[:-1]) == sorted(
        (("talks", f"talk-with-a-long-enough-id-{n}"), 1 + n % 3, False) for n in range(1, count + 1)
    )


@through_pooler
def test_a_bulk_statement_sends_one_notice_for_everything(bare_database):
    with psycopg.connect(bare_database, autocommit=True) as listening, psycopg.connect(bare_database) as conn:
        listening.execute(f"LISTEN {CHANNEL}")
        inserted(conn, 5000)
        conn.commit()
        assert notices(listening) == ["*"]
        conn.execute("DELETE FROM revisions WHERE item_id = 'talk-with-a-long-enough-id-1'")
        conn.commit()
        assert notices(listening) == ["*"]


@through_pooler
def test_a_statement_rolled_back_tells_nothing(bare_database):
    with psycopg.connect(bare_database, autocommit=True) as listening, psycopg.connect(bare_database) as conn:
        listening.execute(f"LISTEN {CHANNEL}")
        inserted(conn, 3)
        conn.rollback()
        assert notices(listening) == []
