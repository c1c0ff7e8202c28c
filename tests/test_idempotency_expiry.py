"""Idempotency records expire after IDEMPOTENCY_TTL: an expired one is not replayed, and is deleted."""

from __future__ import annotations

import uuid

import pytest

from api import create_app
from api.config import Settings
from api.http.auth import create_token
from tests.support import new_talk

TTL = 3600


@pytest.fixture
def short_lived(database_url):
    """An app of its own, so its clean-up clock starts now, with keys remembered for an hour."""
    app = create_app(
        Settings(
            database_url=database_url, rate_limit_writes=1_000_000, rate_limit_reads=1_000_000, idempotency_ttl=TTL
        )
    )
    yield app.test_client()
    app.extensions["db_pool"].close()


@pytest.fixture
def writer(db) -> tuple[str, str]:
    name = f"idem-{uuid.uuid4().hex[:8]}"
    return name, create_token(db, name, "write", None)


def age(db, actor: str, key: str, seconds: int) -> None:
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - make_interval(secs => %s) WHERE actor = %s AND key = %s",
        (seconds, actor, key),
    )


def record_count(db, actor: str, key: str) -> int:
    return db.execute("SELECT count(*) FROM idempotency_keys WHERE actor = %s AND key = %s", (actor, key)).fetchone()[0]


def test_a_record_within_its_ttl_replays(short_lived, db, writer):
    actor, token = writer
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "within"}
    body = new_talk(f"idem-{uuid.uuid4().hex[:8]}")
    assert short_lived.post("/v1/talks", json=body, headers=headers).status_code == 201
    age(db, actor, "within", TTL - 60)
    again = short_lived.post("/v1/talks", json=body, headers=headers)
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (201, "true")


def test_an_expired_record_no_longer_replays_and_is_replaced(short_lived, db, writer):
    actor, token = writer
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "expiring"}
    first = new_talk(f"idem-{uuid.uuid4().hex[:8]}")
    assert short_lived.post("/v1/talks", json=first, headers=headers).status_code == 201
    age(db, actor, "expiring", TTL + 1)

    retry = short_lived.post("/v1/talks", json=first, headers=headers)
    assert retry.status_code == 409  # not replayed: the create ran again and found its id taken
    assert "Idempotent-Replayed" not in retry.headers

    second = new_talk(f"idem-{uuid.uuid4().hex[:8]}")  # another body: 422 while the key was remembered
    created = short_lived.post("/v1/talks", json=second, headers=headers)
    assert created.status_code == 201 and created.get_json()["id"] == second["id"]
    fresh = db.execute(
        "SELECT count(*) FROM idempotency_keys WHERE actor = %s AND key = 'expiring'"
        " AND created_at > now() - interval '1 minute'",
        (actor,),
    ).fetchone()[0]
    assert (record_count(db, actor, "expiring"), fresh) == (1, 1)  # the expired record was replaced
    replayed = short_lived.post("/v1/talks", json=second, headers=headers)
    assert (replayed.status_code, replayed.headers.get("Idempotent-Replayed")) == (201, "true")


def test_writes_delete_expired_records_of_any_key(short_lived, db, writer, database_url):
    actor, token = writer
    for key in ("old-1", "old-2", "fresh"):
        response = short_lived.post(
            "/v1/talks",
            json=new_talk(f"idem-{uuid.uuid4().hex[:8]}"),
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        )
        assert response.status_code == 201
    age(db, actor, "old-1", TTL + 1)
    age(db, actor, "old-2", 30 * 24 * 3600)
    # A fresh worker (its clean-up clock at zero) deletes them on its first create, key or none.
    app = create_app(
        Settings(
            database_url=database_url, rate_limit_writes=1_000_000, rate_limit_reads=1_000_000, idempotency_ttl=TTL
        )
    )
    try:
        response = app.test_client().post(
            "/v1/talks", json=new_talk(f"idem-{uuid.uuid4().hex[:8]}"), headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 201
    finally:
        app.extensions["db_pool"].close()
    assert [record_count(db, actor, key) for key in ("old-1", "old-2", "fresh")] == [0, 0, 1]


def test_the_clean_up_finds_expired_records_through_an_index(db):
    with db.transaction():
        db.execute("SET LOCAL enable_seqscan = off")
        plan = db.execute(
            "EXPLAIN SELECT actor, key FROM idempotency_keys WHERE created_at <= now() - make_interval(secs => 60)"
            " ORDER BY created_at LIMIT 1000"
        ).fetchall()
    assert "idempotency_keys_created_at" in " ".join(row[0] for row in plan)


def test_the_ttl_must_be_positive():
    with pytest.raises(ValueError, match="IDEMPOTENCY_TTL"):
        Settings(idempotency_ttl=0)
    assert Settings.from_env({"IDEMPOTENCY_TTL": "60"}).idempotency_ttl == 60
