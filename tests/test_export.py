"""Export and import: the whole dataset with its history, moved losslessly."""

import json

import psycopg
import pytest
from click.testing import CliRunner

from api.command.cli import main
from api.resources.export import export_lines
from api.store.dataset import DatasetError, import_dataset
from api.store.migrate import migrate
from api.store.records import SERVER_FIELDS


def test_export_streams_ndjson_tagged_by_collection(client, db):
    response = client.get("/v1/export")
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data().splitlines()]
    assert {line["collection"] for line in lines} == {
        "sources",
        "parties",
        "proposals",
        "people",
        "talks",
        "statements",
    }
    revisions = db.execute("SELECT count(*) FROM revisions WHERE collection <> 'clauses'").fetchone()[0]
    assert len(lines) == revisions
    geneva = [line for line in lines if line.get("record", {}).get("id") == "geneva-strategic-stability-2022-01-10"]
    assert [g["record"]["status"] for g in geneva] == ["scheduled", "held", "held"]
    assert "revision" not in geneva[0]["record"] and "updated_at" not in geneva[0]["record"]
    again = client.get("/v1/export", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def _export(conn: psycopg.Connection) -> bytes:
    return b"".join(export_lines(conn))


def test_round_trip_export_import_export_is_byte_identical(client, database_url, empty_database_url, tmp_path):
    # Give the history some API edits first: a clause change, a deletion.
    with psycopg.connect(database_url, autocommit=True) as source:
        from api.http.auth import create_token

        token = create_token(source, "round-trip-editor", "write", None)
    headers = {"Authorization": f"Bearer {token}"}
    clause = "/v1/clauses/russia-nato-security-agreement-article-3"
    etag = client.get(clause).headers["ETag"]
    assert (
        client.patch(
            clause,
            json={"topics": ["incident-prevention", "dialogue"]},
            headers=headers | {"If-Match": etag, "X-Change-Note": "Tagged."},
        ).status_code
        == 200
    )
    statement = client.get("/v1/statements?limit=1").get_json()["items"][0]
    created = client.post(
        "/v1/statements",
        json={k: v for k, v in statement.items() if k not in SERVER_FIELDS} | {"id": "round-trip-statement"},
        headers=headers,
    )
    assert created.status_code == 201
    assert (
        client.delete(
            "/v1/statements/round-trip-statement", headers=headers | {"If-Match": created.headers["ETag"]}
        ).status_code
        == 204
    )

    # Two members join a group in commits of their own: each revises the group, so the group has a
    # revision per commit, which the import can only rebuild if it commits as the export numbers them.
    cited = {"short_name": "RT", "source_ids": ["sputnik-lavrov-security-guarantees"]}
    group = {"id": "round-trip-group", "name": "Round-trip group", "kind": "alliance", "member_of": []}
    made = [client.post("/v1/parties", json=group | cited, headers=headers)]
    for member in ("round-trip-member-a", "round-trip-member-b"):
        record = {"id": member, "name": member, "kind": "state", "member_of": [group["id"]]}
        made.append(client.post("/v1/parties", json=record | cited, headers=headers))
    assert [response.status_code for response in made] == [201, 201, 201], [r.get_json() for r in made]
    for party in ("round-trip-member-b", "round-trip-member-a", group["id"]):
        etag = client.get(f"/v1/parties/{party}").headers["ETag"]
        assert client.delete(f"/v1/parties/{party}", headers=headers | {"If-Match": etag}).status_code == 204
    group_history = "SELECT revision, deleted FROM revisions WHERE item_id = 'round-trip-group' ORDER BY 1"

    clause_history = (
        "SELECT revision FROM revisions WHERE item_id = 'russia-nato-security-agreement-article-3' ORDER BY 1"
    )
    with psycopg.connect(database_url, autocommit=True) as source:
        first = _export(source)
        source_clause_revisions = source.execute(clause_history).fetchall()
        source_group_revisions = source.execute(group_history).fetchall()
    path = tmp_path / "export.ndjson"
    path.write_bytes(first)
    with psycopg.connect(empty_database_url, autocommit=True) as target:
        migrate(target)
        assert import_dataset(target, path) == len(first.splitlines())
        second = _export(target)
        clause_revisions = target.execute(clause_history).fetchall()
        group_revisions = target.execute(group_history).fetchall()
        tombstone = target.execute("SELECT deleted_at IS NOT NULL FROM statements WHERE id = 'round-trip-statement'")
        assert tombstone.fetchone() == (True,)
    assert second == first
    assert clause_revisions == source_clause_revisions  # clause history rebuilt from its proposal's
    assert len(clause_revisions) >= 2
    assert group_revisions == source_group_revisions and len(group_revisions) == 6  # made, 2 joins, 2 leaves, deleted


def test_cli_export_and_import(database_url, empty_database_url, tmp_path):
    runner = CliRunner()
    out = tmp_path / "dataset.ndjson"
    assert runner.invoke(main, ["export", str(out)], env={"DATABASE_URL": database_url}).exit_code == 0
    loaded = runner.invoke(main, ["import", str(out)], env={"DATABASE_URL": empty_database_url})
    assert loaded.exit_code == 0, loaded.output
    assert "change(s) applied" in loaded.output


def test_import_errors_name_the_line_record_and_field(empty_database_url, tmp_path):
    lines = [
        {
            "collection": "sources",
            "valid_from": "2020-01-01T00:00:00Z",
            "actor": "me",
            "note": None,
            "record": {
                "id": "s",
                "publisher": "P",
                "title": None,
                "url": None,
                "published_on": None,
                "description": "D",
            },
        },
        {
            "collection": "parties",
            "valid_from": "2020-01-01T00:00:00Z",
            "actor": "me",
            "note": None,
            "record": {
                "id": "p",
                "name": "P",
                "short_name": "P",
                "kind": "planet",
                "member_of": [],
                "source_ids": ["s"],
            },
        },
    ]
    path = tmp_path / "bad.ndjson"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn)
        with pytest.raises(DatasetError) as caught:
            import_dataset(conn, path)
        assert str(caught.value).startswith('line 2 (parties p): invalid fields {"kind"')
        assert conn.execute("SELECT count(*) FROM sources").fetchone() == (0,)
    path.write_text('{"collection": "sources",\n')
    with psycopg.connect(empty_database_url, autocommit=True) as conn, pytest.raises(DatasetError, match=r"^line 1"):
        import_dataset(conn, path)
