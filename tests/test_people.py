"""People: the collection, the person references of statements and talks, their filters, the
explorer's page per person, and what migration 0013 does to a database of older imports."""

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from api.http.auth import create_token
from api.resources.export import export_lines
from api.store import migrate as migrations
from api.store.dataset import import_dataset
from tests.conftest import create_database, drop_database, landed_database


@pytest.fixture(scope="module")
def write_token(db) -> str:
    return create_token(db, f"people-{uuid.uuid4().hex[:8]}", "write", None)


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def ids(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def test_a_person_has_names_roles_with_parties_and_sources(client):
    response = client.get("/v1/people/yuri-ushakov")
    assert response.status_code == 200
    assert response.headers["ETag"] == '"2.1"'
    person = response.get_json()
    assert person["name"] == "Yuri Ushakov"
    assert person["other_names"] == ["Yury Ushakov"]
    assert person["roles"] == [
        {
            "title": "Kremlin aide (Aide to the President of Russia)",
            "party_id": "russia",
            "since": None,
            "until": None,
            "source_ids": ["sputnik-lavrov-security-guarantees", "tass-2021-12-15-ushakov-proposals-public"],
        }
    ]
    assert person["revision"] == 1 and person["updated_at"] == "2021-12-31T07:52:00Z"
    again = client.get("/v1/people/yuri-ushakov", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == '"2.1"'


def test_a_role_gives_its_dates_only_where_a_source_does(client):
    rau = client.get("/v1/people/zbigniew-rau").get_json()
    assert [(r["title"], r["party_id"], r["since"], r["until"]) for r in rau["roles"]] == [
        ("Foreign Minister of Poland", "poland", None, None),
        ("OSCE Chairperson-in-Office", "osce", "2022-01-01", None),
    ]
    # Carpenter's start date came with a profile of 20 January 2022: a revision valid from then.
    carpenter = client.get("/v1/people/michael-carpenter/revisions").get_json()["items"]
    assert [(r["revision"], r["valid_from"], r["item"]["roles"][0]["since"]) for r in carpenter] == [
        (2, "2022-01-21T12:00:00Z", "2021-11-29"),
        (1, "2022-01-13T23:00:00Z", None),
    ]


def test_people_list_pages_sorts_and_filters_by_party(client):
    everyone = ids(client.get("/v1/people?limit=100"))
    assert everyone == sorted(everyone) and len(everyone) == 12
    first = client.get("/v1/people?limit=5")
    assert ids(first) == everyone[:5]
    cursor = first.get_json()["next_cursor"]
    assert 'rel="next"' in first.headers["Link"]
    assert ids(client.get(f"/v1/people?limit=5&cursor={cursor}")) == everyone[5:10]
    assert ids(client.get("/v1/people?party=united-states")) == [
        "antony-blinken",
        "joe-biden",
        "michael-carpenter",
        "wendy-sherman",
    ]
    assert ids(client.get("/v1/people?party=nato")) == ["jens-stoltenberg"]
    by_name = ids(client.get("/v1/people?sort=-name&limit=3"))
    assert by_name == ["zbigniew-rau", "yuri-ushakov", "wendy-sherman"]
    assert client.get("/v1/people?party=Not A Slug").status_code == 400


def test_people_as_csv_and_sparse(client):
    csv = client.get("/v1/people?format=csv&party=nato")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0] == "id,name,other_names,roles,source_ids,revision,updated_at"
    assert lines[1].startswith("jens-stoltenberg,Jens Stoltenberg,")
    sparse = client.get("/v1/people/jens-stoltenberg?fields=id,name")
    assert sparse.status_code == 200 and sparse.get_json() == {"id": "jens-stoltenberg", "name": "Jens Stoltenberg"}


def test_statements_and_talks_refer_to_people_and_filter_by_them(client):
    said = client.get("/v1/statements?person=sergey-lavrov&limit=100").get_json()["items"]
    assert len(said) == 5 and {s["speaker_id"] for s in said} == {"sergey-lavrov"}
    assert {s["speaker"] for s in said} == {"Sergey Lavrov"}  # the name as the source spells it stays
    assert ids(client.get("/v1/statements?person=joe-biden")) == [
        "biden-shared-responsibility-and-allied-consultations"
    ]
    assert ids(client.get("/v1/talks?person=wendy-sherman")) == [
        "geneva-strategic-stability-2022-01-10",
        "nato-russia-council-2022-01-12",
    ]
    assert ids(client.get("/v1/talks?person=jens-stoltenberg")) == ["nato-russia-council-2022-01-12"]  # the chair
    assert ids(client.get("/v1/talks?person=nobody-known")) == []
    council = client.get("/v1/talks/nato-russia-council-2022-01-12").get_json()
    assert council["chair"] == {
        "name": "Jens Stoltenberg",
        "person_id": "jens-stoltenberg",
        "role": "NATO Secretary General",
    }
    assert [(d["head"], d["head_id"]) for d in council["delegations"]] == [
        ("Alexander Grushko", "alexander-grushko"),
        ("Wendy Sherman", "wendy-sherman"),
    ]


def test_every_person_a_statement_or_talk_names_is_in_the_data(client):
    people = set(ids(client.get("/v1/people?limit=100")))
    named = {s["speaker_id"] for s in client.get("/v1/statements?limit=100").get_json()["items"]}
    for talk in client.get("/v1/talks?limit=100").get_json()["items"]:
        named |= {d["head_id"] for d in talk["delegations"]}
        named |= {talk["chair"]["person_id"]} if talk["chair"] else set()
    assert named == people


def test_as_of_the_seed_view_knows_the_people_it_names_and_no_later_ones(client):
    assert client.get("/v1/people/sergei-ryabkov?as_of=2022-01-01T00:00:00Z").status_code == 200
    assert client.get("/v1/people/alexander-grushko?as_of=2022-01-01T00:00:00Z").status_code == 404
    grushko = client.get("/v1/people/alexander-grushko/revisions").get_json()["items"]
    assert [(r["revision"], r["valid_from"]) for r in grushko] == [(1, "2022-01-12T23:00:00Z")]


def test_create_patch_and_delete_a_person(client, write_token):
    body = {
        "id": "karen-donfried",
        "name": "Karen Donfried",
        "other_names": [],
        "roles": [
            {
                "title": "Assistant Secretary of State for European and Eurasian Affairs",
                "party_id": "united-states",
                "since": None,
                "until": None,
                "source_ids": ["tass-2021-12-15-ushakov-proposals-public"],
            }
        ],
        "source_ids": ["tass-2021-12-15-ushakov-proposals-public"],
    }
    created = client.post("/v1/people", json=body, headers=bearer(write_token))
    assert created.status_code == 201, created.get_json()
    assert created.headers["Location"].endswith("/v1/people/karen-donfried")
    assert created.get_json() | {"revision": 1} == body | {
        "revision": 1,
        "updated_at": created.get_json()["updated_at"],
    }
    assert "karen-donfried" in ids(client.get("/v1/people?party=united-states"))
    patched = client.patch(
        "/v1/people/karen-donfried",
        json={"other_names": ["Karen E. Donfried"]},
        headers=bearer(
            write_token, **{"If-Match": created.headers["ETag"], "Content-Type": "application/merge-patch+json"}
        ),
    )
    assert patched.status_code == 200 and patched.get_json()["other_names"] == ["Karen E. Donfried"]
    assert patched.get_json()["revision"] == 2
    bad_role = client.patch(
        "/v1/people/karen-donfried",
        json={"roles": [body["roles"][0] | {"since": "2022-01-02", "until": "2022-01-01"}]},
        headers=bearer(
            write_token, **{"If-Match": patched.headers["ETag"], "Content-Type": "application/merge-patch+json"}
        ),
    )
    assert bad_role.status_code == 422
    assert bad_role.get_json()["errors"][0]["pointer"] == "/roles/0/until"
    deleted = client.delete(
        "/v1/people/karen-donfried", headers=bearer(write_token, **{"If-Match": patched.headers["ETag"]})
    )
    assert deleted.status_code == 204
    assert client.get("/v1/people/karen-donfried").status_code == 410
    assert [r["revision"] for r in client.get("/v1/people/karen-donfried/revisions").get_json()["items"]] == [3, 2, 1]


def test_a_reference_to_an_unknown_person_is_refused_and_names_it(client, write_token):
    statement = client.get("/v1/statements/lavrov-no-endless-discussions")
    refused = client.patch(
        "/v1/statements/lavrov-no-endless-discussions",
        json={"speaker_id": "nobody-known"},
        headers=bearer(
            write_token, **{"If-Match": statement.headers["ETag"], "Content-Type": "application/merge-patch+json"}
        ),
    )
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"
    assert "(speaker_id)=(nobody-known)" in refused.get_json()["detail"]
    assert 'table "people"' in refused.get_json()["detail"]
    talk = client.get("/v1/talks/nato-russia-council-2022-01-12")
    chair = talk.get_json()["chair"] | {"person_id": "nobody-known"}
    refused = client.patch(
        "/v1/talks/nato-russia-council-2022-01-12",
        json={"chair": chair},
        headers=bearer(
            write_token, **{"If-Match": talk.headers["ETag"], "Content-Type": "application/merge-patch+json"}
        ),
    )
    assert refused.status_code == 409 and "(chair_id)=(nobody-known)" in refused.get_json()["detail"]
    assert client.get("/v1/talks/nato-russia-council-2022-01-12").headers["ETag"] == talk.headers["ETag"]


def test_a_person_still_referred_to_cannot_be_deleted(client, write_token):
    etag = client.get("/v1/people/jens-stoltenberg").headers["ETag"]
    refused = client.delete("/v1/people/jens-stoltenberg", headers=bearer(write_token, **{"If-Match": etag}))
    assert refused.status_code == 409
    assert "talks/nato-russia-council-2022-01-12" in refused.get_json()["detail"]


def test_a_v1_client_that_sends_no_person_ids_still_writes(client, write_token):
    statement = client.get("/v1/statements/lavrov-no-endless-discussions").get_json()
    old_shape = {
        k: v
        for k, v in statement.items()
        if k not in ("revision", "updated_at", "speaker_id", "said_when", "said_earliest", "said_latest")
    }
    created = client.post(
        "/v1/statements", json=old_shape | {"id": f"old-client-{uuid.uuid4().hex[:6]}"}, headers=bearer(write_token)
    )
    assert created.status_code == 201 and created.get_json()["speaker_id"] is None


def test_the_explorer_has_a_page_per_person_linked_from_the_timeline(client):
    page = client.get("/explore/people/wendy-sherman")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Deputy Secretary of State" in html
    assert (
        'id="talk-geneva-strategic-stability-2022-01-10"' in html and 'id="talk-nato-russia-council-2022-01-12"' in html
    )
    assert "head of the United States delegation" in html or "head of the" in html
    lavrov = client.get("/explore/people/sergey-lavrov").get_data(as_text=True)
    assert 'id="statement-lavrov-no-endless-discussions"' in lavrov
    timeline = client.get("/explore/timeline").get_data(as_text=True)
    assert 'href="/explore/people/sergey-lavrov"' in timeline and 'href="/explore/people/jens-stoltenberg"' in timeline
    assert 'href="/explore/people/zbigniew-rau"' in client.get("/explore/people").get_data(as_text=True)
    assert client.get("/explore/people/nobody-known").status_code == 404
    assert client.get("/explore/people/yuri-ushakov/history").status_code == 200


def _older_database(server_url: str, tmp_path: Path, monkeypatch) -> str:
    """A database as a deployment before people had it (the last release before, with its data)."""
    url = create_database(server_url, "proposals_before_people")
    with psycopg.connect(url, autocommit=True) as conn:
        landed_database(conn, tmp_path, monkeypatch)
    return url


def _history(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT collection, item_id, revision, valid_from, changeset_id, snapshot::jsonb FROM revisions"
        " WHERE collection <> 'people' ORDER BY seq"
    ).fetchall()


def _without_person_ids(snapshot: dict) -> dict:
    """The snapshot as the older database held it: without what 0013 (person ids), 0014 (response
    lists) and 0015 (dates) add."""
    snapshot = dict(snapshot)
    for added in ("speaker_id", "said_when", "said_earliest", "said_latest", "responds_to_ids", "answered_by_ids"):
        snapshot.pop(added, None)
    if isinstance(snapshot.get("clauses"), list):
        snapshot["clauses"] = [_without_person_ids(c) for c in snapshot["clauses"]]
    if isinstance(snapshot.get("delegations"), list):
        snapshot["delegations"] = [{k: v for k, v in d.items() if k != "head_id"} for d in snapshot["delegations"]]
    if isinstance(snapshot.get("chair"), dict):
        snapshot["chair"] = {k: v for k, v in snapshot["chair"].items() if k != "person_id"}
    return snapshot


def test_migration_0013_keeps_the_history_of_an_older_database(server_url, tmp_path, monkeypatch):
    url = _older_database(server_url, tmp_path, monkeypatch)
    target = create_database(server_url, "proposals_round_trip")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            before = _history(conn)
            assert migrations.migrate(conn) == [f[0] for f in migrations.migration_files() if f[0] >= "0012"]
            after = _history(conn)
            # The same revisions, numbers, instants and changesets; each snapshot gains only person ids.
            assert [r[:5] for r in after] == [r[:5] for r in before]
            assert [_without_person_ids(r[5]) for r in after] == [r[5] for r in before]
            statements = [r[5] for r in after if r[0] == "statements"]
            assert statements and all(s["speaker_id"] for s in statements)
            ryabkov = [
                d for r in after if r[0] == "talks" for d in r[5]["delegations"] if d["head"] == "Sergei Ryabkov"
            ]
            assert ryabkov and {d["head_id"] for d in ryabkov} == {"sergei-ryabkov"}
            # Every name became a person, valid from the first revision that names them.
            lavrov = conn.execute(
                "SELECT revision, rfc3339(valid_from), snapshot->>'name' FROM revisions"
                " WHERE collection = 'people' AND item_id = 'sergey-lavrov'"
            ).fetchall()
            assert lavrov == [(1, "2021-12-31T07:52:00Z", "Sergey Lavrov")]
            # The stored documents are what today's functions build: refreshing changes nothing.
            for table in ("statements", "talks", "people"):
                stale = conn.execute(
                    f"SELECT count(*) FROM {table} t WHERE t.doc::text <> doc_{table}(t)::text"
                ).fetchone()[0]
                assert stale == 0, table
            exported = b"".join(export_lines(conn))
        path = tmp_path / "export.ndjson"
        path.write_bytes(exported)
        with psycopg.connect(target, autocommit=True) as conn:
            migrations.migrate(conn)
            assert import_dataset(conn, path) == len(exported.splitlines())
            assert b"".join(export_lines(conn)) == exported
            statement = conn.execute(
                "SELECT snapshot->>'speaker_id' FROM revisions WHERE collection = 'statements'"
                " AND item_id = 'lavrov-no-endless-discussions' AND valid_from <= '2022-01-01' ORDER BY revision DESC LIMIT 1"
            ).fetchone()
            assert statement == ("sergey-lavrov",)
    finally:
        drop_database(server_url, url)
        drop_database(server_url, target)


def test_an_import_naming_an_unknown_person_fails_whole(empty_database_url, tmp_path):
    change = {
        "collection": "statements",
        "valid_from": "2022-01-01T00:00:00Z",
        "record": json.loads(
            json.dumps(
                {
                    "id": "someone-said",
                    "speaker": "Someone",
                    "speaker_id": "someone-unknown",
                    "speaker_role": None,
                    "party_id": None,
                    "said_on": None,
                    "kind": "paraphrase",
                    "quote": None,
                    "summary": "Something.",
                    "proposal_ids": [],
                    "talk_ids": [],
                    "source_ids": ["a-source"],
                }
            )
        ),
    }
    source = {
        "collection": "sources",
        "valid_from": "2022-01-01T00:00:00Z",
        "record": {
            "id": "a-source",
            "publisher": "P",
            "title": None,
            "url": None,
            "published_on": None,
            "description": "D.",
        },
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "proposals-api/dataset@1", "changes": [source, change]}))
    from api.store.dataset import DatasetError

    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrations.migrate(conn)
        with pytest.raises(DatasetError, match="someone-unknown"):
            import_dataset(conn, path)
        assert conn.execute("SELECT count(*) FROM sources").fetchone() == (0,)
