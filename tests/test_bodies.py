"""Answers kept in memory (api/store/bodies.py): a 200 of the fast path served again without the
database while the version cache says it is current, never after a write has been told, and
byte for byte what the database would have answered.

The rules are checked on their own; then two apps on one database play two workers, as in
tests/test_versions.py. Through pgbouncer in transaction mode the version cache is never proven,
nothing is ever kept, and the tests that need notices skip.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from api.http.auth import create_token
from api.http.replies import Reply
from api.store.bodies import OVERHEAD, Bodies
from api.store.versions import Versions
from tests.support import from_memory, same_answer, until
from tests.test_versions import KEY, PATH, cache, through_pooler

PAGE = ("/v1/proposals", "limit=2", "")


def kept(size: int = 1 << 20) -> Bodies:
    versions = Versions(10)
    versions.proven = True
    return Bodies(versions, size)


def reply(version: int | None = 3, body: bytes = b'{"id":"x"}') -> Reply:
    return Reply(200, f'"{version}"', body, version=version)


# The rules, without a database.


def test_an_item_is_answered_while_the_version_cache_says_its_revision():
    bodies = kept()
    bodies.keep_item(KEY, reply(3), bodies.versions.clears)
    assert bodies.item(KEY, 3) == reply(3)
    assert bodies.item(KEY, 4) is None  # the item moved on: its next read is kept instead


def test_an_item_kept_before_a_reset_is_never_answered_after_it():
    """A reset numbers revisions anew: revision 3 after it may be another text than before it."""
    bodies = kept()
    clears = bodies.versions.clears
    bodies.keep_item(KEY, reply(3), clears)
    bodies.versions.empty()
    assert bodies.item(KEY, 3) is None
    bodies.keep_item(KEY, reply(3, b"read before the reset"), clears)  # a read that began before it
    assert bodies.item(KEY, 3) is None


def test_a_page_is_answered_until_any_notice_and_only_while_notices_are_proven():
    bodies = kept()
    bodies.keep_page(PAGE, reply(None), bodies.versions.epoch)
    assert bodies.page(PAGE) == reply(None)
    bodies.versions.proven = False
    assert bodies.page(PAGE) is None
    bodies.versions.proven = True
    bodies.versions.apply([(("talks", "elsewhere"), 2, False)])
    assert bodies.page(PAGE) is None


def test_a_page_read_while_a_notice_came_is_not_kept():
    bodies = kept()
    since = bodies.versions.epoch
    bodies.versions.apply([(("talks", "elsewhere"), 2, False)])
    bodies.keep_page(PAGE, reply(None), since)
    assert bodies.page(PAGE) is None and not bodies.entries


def test_the_budget_keeps_the_most_recently_used_and_no_oversized_answer():
    body = b"x" * 100
    bodies = kept(size=3 * (len(body) + OVERHEAD))
    bodies.largest = bodies.max_bytes  # three entries fill it (by default one is at most a sixteenth)
    for n in range(3):
        bodies.keep_item(("talks", f"t{n}"), reply(1, body), 0)
    assert bodies.item(("talks", "t0"), 1) is not None  # used: the least recent is now t1
    bodies.keep_item(("talks", "t3"), reply(1, body), 0)
    assert set(bodies.entries) == {("talks", "t0"), ("talks", "t2"), ("talks", "t3")}
    assert bodies.used == 3 * (len(body) + OVERHEAD)
    bodies.keep_item(("talks", "big"), reply(1, b"x" * bodies.largest), 0)
    assert ("talks", "big") not in bodies.entries
    assert kept().largest == (1 << 20) // 16
    bodies.keep_item(("talks", "t3"), reply(2, body), 0)  # kept again: counted once
    assert bodies.used == 3 * (len(body) + OVERHEAD)


# Against Postgres: two apps on one database, as two workers.


@through_pooler
@pytest.mark.parametrize(
    "path", [PATH, "/v1/talks?limit=3", "/v1/clauses?q=deployment&limit=2", "/v1/search?q=missile"]
)
def test_a_200_comes_from_memory_after_one_read_and_is_the_same_answer(workers, path):
    first, _ = workers
    cache(first)
    read = first.test_client().get(path)
    assert read.status_code == 200
    again, without_database = from_memory(first, path)
    assert without_database
    assert same_answer(again, read)
    unchanged, without_database = from_memory(first, path, {"If-None-Match": read.headers["ETag"]})
    assert (unchanged.status_code, without_database) == (304, True)
    assert unchanged.headers["ETag"] == read.headers["ETag"]


def write_title(app, database_url: str, path: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        token = create_token(conn, f"bodies-{uuid.uuid4().hex[:8]}", "write", None)
    title = f"Changed {uuid.uuid4().hex[:6]}"
    client = app.test_client()
    changed = client.patch(
        path,
        json={"title": title},
        headers={
            "Authorization": f"Bearer {token}",
            "If-Match": client.get(path).headers["ETag"],
            "Content-Type": "application/merge-patch+json",
        },
    )
    assert changed.status_code == 200, changed.get_json()
    return title


@through_pooler
def test_a_write_through_another_worker_ends_the_kept_item_and_pages_within_a_bounded_wait(workers, own_database_url):
    first, second = workers
    cache(first), cache(second)
    reader = first.test_client()
    talks = "/v1/talks?limit=3"  # a page of another collection: any write ends every page kept
    for path in (PATH, "/v1/proposals?limit=100", talks):
        reader.get(path)
        assert from_memory(first, path)[1]
    title = write_title(second, own_database_url, PATH)
    until(lambda: reader.get(PATH).get_json()["title"] == title, "the reader's item shows the write")
    until(
        lambda: title in [item["title"] for item in reader.get("/v1/proposals?limit=100").get_json()["items"]],
        "the reader's page shows the write",
    )
    assert not from_memory(first, talks)[1]  # the notice ended it: read again, then kept again
    assert from_memory(first, talks)[1]
    assert from_memory(first, PATH)[1]  # the new revision, kept


@through_pooler
def test_its_own_write_is_read_at_once(workers, own_database_url):
    first, _ = workers
    cache(first)
    reader = first.test_client()
    reader.get(PATH)
    title = write_title(first, own_database_url, PATH)
    assert reader.get(PATH).get_json()["title"] == title
