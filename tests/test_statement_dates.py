"""Statement dates as EDTF: the representation, validation on write, since/until and sort with intervals.

A statement's `said_when` is EDTF (ISO 8601-2) of the subset schemas/dates.py documents; Postgres derives
`said_earliest`, `said_latest` and `said_on` from it (sql/functions/writes.sql). The two parsers are held
to one table of cases here.
"""

import json
import uuid
from datetime import date

import psycopg
import pytest
from psycopg.types.json import Jsonb

from api.http.auth import create_token
from api.store import migrate as migrations
from schemas.dates import edtf_bounds
from tests.conftest import landed_migrations

LAVROV = "lavrov-military-participation-important"
BIDEN = "biden-shared-responsibility-and-allied-consultations"
USHAKOV = "ushakov-talks-must-not-be-empty-talk"
SEED_STATEMENTS = 7

# (value, earliest, latest, the day it fixes) — None for an open end or no single day.
VALID = [
    ("2021-12-30", "2021-12-30", "2021-12-30", "2021-12-30"),
    ("2021-12-30/2021-12-31", "2021-12-30", "2021-12-31", None),
    ("2021-12-30/2021-12-30", "2021-12-30", "2021-12-30", "2021-12-30"),
    ("2021-12", "2021-12-01", "2021-12-31", None),
    ("2024-02", "2024-02-01", "2024-02-29", None),
    ("2021", "2021-01-01", "2021-12-31", None),
    ("2021-12-30?", "2021-12-30", "2021-12-30", None),
    ("2021-12-30~/2022-01-02%", "2021-12-30", "2022-01-02", None),
    ("../2021-12-31", None, "2021-12-31", None),
    ("2021-12-30/..", "2021-12-30", None, None),
    ("2021-12/2021-12-15", "2021-12-01", "2021-12-15", None),
]
INVALID = [
    "2021-12-31/2021-12-30",  # ends before it starts
    "2021-02-29",
    "2021-13",
    "0000",
    "../..",
    "..",
    "2021-12-30/2021-12-31/2022-01-01",
    "30 December 2021",
    "2021-12-30T21:25:00Z",
    "/2021-12-31",
    "",
]


def day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


@pytest.mark.parametrize(("value", "earliest", "latest", "fixed"), VALID)
def test_python_and_postgres_give_the_same_bounds(db, value, earliest, latest, fixed):
    bounds = edtf_bounds(value)
    assert (bounds.earliest, bounds.latest, bounds.day) == (day(earliest), day(latest), day(fixed))
    row = db.execute(
        "SELECT statement_day(b.earliest), statement_day(b.latest), b.qualified FROM edtf_bounds(%s) b", (value,)
    ).fetchone()
    assert row[:2] == (day(earliest), day(latest))
    assert row[2] == bounds.qualified


@pytest.mark.parametrize("value", INVALID)
def test_python_and_postgres_refuse_the_same_values(db, value):
    with pytest.raises(ValueError):
        edtf_bounds(value)
    with pytest.raises(psycopg.DataError), db.transaction():  # rolled back: the session's connection goes on
        db.execute("SELECT * FROM edtf_bounds(%s)", (value,))


def test_an_interval_is_served_with_its_bounds_and_no_single_day(client):
    statement = client.get(f"/v1/statements/{LAVROV}").get_json()
    assert {k: statement[k] for k in ("said_on", "said_when", "said_earliest", "said_latest")} == {
        "said_on": None,
        "said_when": "2021-12-30/2021-12-31",
        "said_earliest": "2021-12-30",
        "said_latest": "2021-12-31",
    }
    keys = list(statement)
    assert keys[keys.index("said_on") : keys.index("said_on") + 4] == [
        "said_on",
        "said_when",
        "said_earliest",
        "said_latest",
    ]


def test_a_fixed_day_is_said_on_as_before(client):
    statement = client.get(f"/v1/statements/{BIDEN}").get_json()
    assert [statement[k] for k in ("said_on", "said_when", "said_earliest", "said_latest")] == ["2021-12-30"] * 4


def test_as_of_selects_revisions_by_valid_from_not_by_the_day_said(client):
    """Lavrov may have spoken on 31 December (UTC), yet his statement is in the record from 07:52 UTC that day:
    `as_of` reads revisions' valid_from, whatever the statement's own date."""
    seen = client.get(f"/v1/statements/{LAVROV}?as_of=2021-12-31T07:52:00Z")
    assert seen.status_code == 200 and seen.get_json()["said_when"] == "2021-12-30/2021-12-31"
    before = client.get(f"/v1/statements/{LAVROV}?as_of=2021-12-31T07:51:59Z")
    assert before.status_code == 404


def test_since_keeps_what_may_have_been_said_on_or_after_it(client):
    ids = {s["id"] for s in client.get("/v1/statements?since=2021-12-31&limit=200").get_json()["items"]}
    assert LAVROV in ids and USHAKOV in ids  # their latest possible day is 31 December
    assert BIDEN not in ids  # said on 30 December
    later = client.get("/v1/statements?since=2022-01-01&limit=200").get_json()["items"]
    assert not {LAVROV, USHAKOV, BIDEN} & {s["id"] for s in later}


def test_until_keeps_what_may_have_been_said_on_or_before_it(client):
    ids = {s["id"] for s in client.get("/v1/statements?until=2021-12-30&limit=200").get_json()["items"]}
    assert {LAVROV, USHAKOV, BIDEN} <= ids  # their earliest possible day is 30 December
    earlier = client.get("/v1/statements?until=2021-12-29&limit=200").get_json()["items"]
    assert not {LAVROV, USHAKOV, BIDEN} & {s["id"] for s in earlier}


def test_sort_by_said_when_orders_by_earliest_then_latest_day(client):
    items = client.get("/v1/statements?sort=said_when&limit=200").get_json()["items"]
    keys = [(s["said_when"] is None, s["said_earliest"] or "", s["said_latest"] or "~", s["id"]) for s in items]
    assert keys == sorted(keys)
    ids = [s["id"] for s in items]
    assert ids.index(BIDEN) < ids.index(LAVROV)  # 30/30 December before 30/31 December
    backwards = client.get("/v1/statements?sort=-said_when&limit=200").get_json()["items"]
    assert [s["id"] for s in backwards] == ids[::-1]


def test_sort_by_said_when_pages_with_a_cursor(client):
    whole = [s["id"] for s in client.get("/v1/statements?sort=said_when&limit=200").get_json()["items"]]
    paged, cursor = [], None
    for _ in range(50):
        query = {"sort": "said_when", "limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get("/v1/statements", query_string=query).get_json()
        paged += [s["id"] for s in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert paged == whole and len(whole) >= SEED_STATEMENTS


# Writes: a token of this module's own, statements it creates and deletes.


@pytest.fixture(scope="module")
def writer(db) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(db, f'dates-{uuid.uuid4().hex[:8]}', 'write', None)}"}


def new_statement(**fields: object) -> dict:
    return {
        "id": f"test-dates-{uuid.uuid4().hex[:8]}",
        "speaker": "A. Spokesperson",
        "speaker_role": None,
        "party_id": "russia",
        "kind": "paraphrase",
        "quote": None,
        "summary": "The spokesperson spoke of the talks.",
        "proposal_ids": ["us-russia-security-treaty"],
        "talk_ids": [],
        "source_ids": ["sputnik-lavrov-security-guarantees"],
    } | fields


def patch(client, writer, statement_id: str, etag: str, body: dict):
    return client.patch(
        f"/v1/statements/{statement_id}",
        data=json.dumps(body),
        content_type="application/merge-patch+json",
        headers=writer | {"If-Match": etag},
    )


def deleted(client, writer: dict, statement_id: str, etag: str) -> bool:
    """Deletes a statement a test made (so the shared lists stay as seeded); True when it is gone."""
    return client.delete(f"/v1/statements/{statement_id}", headers=writer | {"If-Match": etag}).status_code == 204


def dates_of(item: dict) -> tuple:
    return tuple(item[k] for k in ("said_on", "said_when", "said_earliest", "said_latest"))


def test_create_with_an_interval_then_narrow_it_to_a_day(client, writer):
    record = new_statement(said_when="2022-01-09/2022-01-10")
    created = client.post("/v1/statements", json=record, headers=writer)
    assert created.status_code == 201
    assert dates_of(created.get_json()) == (None, "2022-01-09/2022-01-10", "2022-01-09", "2022-01-10")
    narrowed = patch(client, writer, record["id"], created.headers["ETag"], {"said_when": "2022-01-10"})
    assert narrowed.status_code == 200
    assert dates_of(narrowed.get_json()) == ("2022-01-10", "2022-01-10", "2022-01-10", "2022-01-10")
    widened = patch(client, writer, record["id"], narrowed.headers["ETag"], {"said_when": "2022-01"})
    assert widened.status_code == 200
    assert dates_of(widened.get_json()) == (None, "2022-01", "2022-01-01", "2022-01-31")
    assert deleted(client, writer, record["id"], widened.headers["ETag"])


def test_a_client_of_before_said_when_still_writes_said_on(client, writer):
    """`said_on` alone sets the day; a patch of `said_on` alone replaces `said_when`, and null clears both."""
    record = new_statement(said_on="2022-01-12")
    created = client.post("/v1/statements", json=record, headers=writer)
    assert created.status_code == 201
    assert dates_of(created.get_json()) == ("2022-01-12", "2022-01-12", "2022-01-12", "2022-01-12")
    moved = patch(client, writer, record["id"], created.headers["ETag"], {"said_on": "2022-01-13"})
    assert moved.status_code == 200
    assert dates_of(moved.get_json()) == ("2022-01-13", "2022-01-13", "2022-01-13", "2022-01-13")
    cleared = patch(client, writer, record["id"], moved.headers["ETag"], {"said_on": None})
    assert cleared.status_code == 200
    assert dates_of(cleared.get_json()) == (None, None, None, None)
    assert deleted(client, writer, record["id"], cleared.headers["ETag"])


def test_open_ends_pass_every_filter_on_their_open_side(client, writer):
    record = new_statement(said_when="../2021-12-20")
    created = client.post("/v1/statements", json=record, headers=writer)
    assert created.status_code == 201
    assert dates_of(created.get_json()) == (None, "../2021-12-20", None, "2021-12-20")
    listed = lambda query: {s["id"] for s in client.get(f"/v1/statements?{query}&limit=200").get_json()["items"]}  # noqa: E731
    assert record["id"] in listed("until=1990-01-01")
    assert record["id"] in listed("since=2021-12-20")
    assert record["id"] not in listed("since=2021-12-21")
    first = client.get("/v1/statements?sort=said_when&limit=1").get_json()["items"][0]
    assert first["id"] == record["id"]  # an open start sorts before every bounded one
    assert deleted(client, writer, record["id"], created.headers["ETag"])


@pytest.mark.parametrize(
    ("fields", "pointer", "detail"),
    [
        ({"said_when": "2021-12-31/2021-12-30"}, "/said_when", "ends (2021-12-30) before it starts (2021-12-31)"),
        ({"said_when": "30 December 2021"}, "/said_when", "Not a date of the accepted EDTF subset"),
        ({"said_when": "2021-02-29"}, "/said_when", "is not a day of the calendar"),
        ({"said_when": "../.."}, "/said_when", "bounds nothing"),
        ({"said_on": "2021-12-30", "said_when": "2021-12-30/2021-12-31"}, "/said_on", "said_on is the day said_when"),
        ({"said_on": "2021-12-31", "said_when": "2021-12-30"}, "/said_on", "said_on is the day said_when"),
    ],
)
def test_a_malformed_or_contradictory_date_is_a_422_naming_the_field(client, writer, fields, pointer, detail):
    answer = client.post("/v1/statements", json=new_statement(**fields), headers=writer)
    assert answer.status_code == 422
    assert answer.headers["Content-Type"] == "application/problem+json"
    errors = answer.get_json()["errors"]
    assert [e["pointer"] for e in errors] == [pointer]
    assert detail in errors[0]["detail"]


def test_a_malformed_date_in_a_patch_is_a_422_and_changes_nothing(client, writer):
    etag = client.get(f"/v1/statements/{LAVROV}").headers["ETag"]
    answer = patch(client, writer, LAVROV, etag, {"said_when": "2021-12-31/2021-12-30"})
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["pointer"] == "/said_when"
    assert client.get(f"/v1/statements/{LAVROV}").headers["ETag"] == etag


def test_the_derived_bounds_cannot_be_written(client, writer):
    answer = client.post("/v1/statements", json=new_statement(said_earliest="2021-12-30"), headers=writer)
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["pointer"] == "/said_earliest"


# Migration 0015 on a database that already holds statements.


def test_migration_0015_dates_every_stored_representation_in_place(empty_database_url, monkeypatch):
    landed = landed_migrations()
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        with monkeypatch.context() as then:  # a deployment of 0012 (before 0015): its migrations and functions
            then.setattr(migrations, "migration_files", lambda: landed)
            then.setattr(migrations, "function_files", list)
            migrations.migrate(conn)
        changeset = conn.execute("INSERT INTO changesets (actor) VALUES ('seed') RETURNING id").fetchone()[0]
        save = "SELECT save_{}(%s, %s, '2021-12-31T07:52:00Z', 'Seed view.')"
        source = {"id": "seed", "publisher": "Sputnik", "title": None, "url": None, "published_on": None}
        conn.execute(save.format("sources"), (Jsonb(source | {"description": "The seed."}), changeset))
        for statement_id, said_on in (("dated", "2021-12-30"), ("undated", None)):
            record = new_statement(id=statement_id, party_id=None, proposal_ids=[], source_ids=["seed"])
            conn.execute(save.format("statements"), (Jsonb(record | {"said_on": said_on}), changeset))
        later = conn.execute("INSERT INTO changesets (actor) VALUES ('later') RETURNING id").fetchone()[0]
        record = new_statement(id="dated", party_id=None, proposal_ids=[], source_ids=["seed"], said_on="2021-12-30")
        conn.execute(save.format("statements"), (Jsonb(record | {"summary": "Said again."}), later))
        before = conn.execute(
            "SELECT item_id, revision, changeset_id, valid_from, snapshot::text FROM revisions "
            "WHERE collection = 'statements' ORDER BY item_id, revision"
        ).fetchall()
        assert [row[:2] for row in before] == [("dated", 1), ("dated", 2), ("undated", 1)]
        assert all('"said_when"' not in row[4] for row in before)

        assert "0015_statement_dates.sql" in migrations.migrate(conn)
        added = ("said_when", "said_earliest", "said_latest", "speaker_id")  # 0015's and 0013's

        rows = conn.execute(
            "SELECT s.id, s.revision, s.doc::text, doc_statements(s)::text FROM statements s ORDER BY s.id"
        ).fetchall()
        for statement_id, _revision, doc, rendered in rows:
            assert doc == rendered, statement_id  # as today's functions write it
        assert [(row[0], row[1]) for row in rows] == [("dated", 2), ("undated", 1)]  # no revision added
        docs = {row[0]: json.loads(row[2]) for row in rows}
        assert dates_of(docs["dated"]) == ("2021-12-30",) * 4
        assert dates_of(docs["undated"]) == (None,) * 4
        after = conn.execute(
            "SELECT item_id, revision, changeset_id, valid_from, snapshot::text FROM revisions "
            "WHERE collection = 'statements' ORDER BY item_id, revision"
        ).fetchall()
        assert [row[:4] for row in after] == [row[:4] for row in before]  # the same history
        for old, new in zip(
            before, after, strict=True
        ):  # each snapshot: the same record, with the dates beside said_on
            old_doc, new_doc = json.loads(old[4]), json.loads(new[4])
            assert {k: v for k, v in new_doc.items() if k not in added} == old_doc
            assert dates_of(new_doc) == (old_doc["said_on"],) * 4
        assert json.loads(after[1][4]) == docs["dated"]
