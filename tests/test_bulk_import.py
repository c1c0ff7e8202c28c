"""The bulk import (COPY into staging, then set-based SQL) against the per-record path it replaces.

The per-record path (`import_dataset(..., bulk=False)`: each change through save_<collection>) is
the reference: the same files imported both ways must leave every table the same, revisions in the
same seq order, stored representations byte for byte, search entries, terms and snippet tokens,
and must fail with the same error.
"""

import json
from pathlib import Path

import psycopg
import pytest

from api.store.dataset import SEED_FILES, DatasetError, import_dataset
from api.store.migrate import migrate
from tests.support import create_database, drop_database

# Every table an import writes. A row is compared as JSON without what the clock gives (when a
# tombstone or a changeset was made), and, where it has one, its stored representation as text.
TABLES = [
    *("changesets", "sources", "parties", "party_memberships", "party_sources", "proposals", "proposal_addressees"),
    *("proposal_responses", "proposal_sources", "clauses", "clause_obligations", "clause_excerpts", "clause_sources"),
    *("clause_responses", "talks", "talk_parties", "talk_proposals", "talk_delegations", "talk_sources", "statements"),
    *("statement_proposals", "statement_talks", "statement_sources", "people", "person_roles", "person_role_sources"),
    *("person_sources", "search_items", "search_terms", "clause_search_terms"),
]


def tables(conn: psycopg.Connection) -> dict[str, list]:
    found = {}
    for table in TABLES:
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)
            )
        }
        text = "t.doc::text" if "doc" in columns else "''"
        found[table] = conn.execute(
            f"SELECT (to_jsonb(t) - 'deleted_at' - 'recorded_at' - 'doc'"
            f" || jsonb_build_object('deleted', to_jsonb(t)->>'deleted_at' IS NOT NULL))::text, {text}"
            f" FROM {table} t ORDER BY 1"
        ).fetchall()
    found["revisions"] = conn.execute(
        "SELECT (to_jsonb(r) - 'seq' - 'snapshot')::text, r.snapshot::text FROM revisions r ORDER BY r.seq"
    ).fetchall()
    return found


@pytest.fixture
def two_databases(server_url):
    urls = [create_database(server_url, "proposals_bulk"), create_database(server_url, "proposals_rows")]
    conns = [psycopg.connect(url, autocommit=True) for url in urls]
    for conn in conns:
        migrate(conn)
    yield conns
    for conn, url in zip(conns, urls, strict=True):
        conn.close()
        drop_database(server_url, url)


def import_both(conns, paths: list[Path]) -> list[dict]:
    """Imports the files into the first database in bulk, into the second record by record."""
    stats = []
    for path in paths:
        stats.append({})
        results = []
        for conn, bulk in zip(conns, (True, False), strict=True):
            try:
                results.append(import_dataset(conn, path, actor="test", bulk=bulk, stats=stats[-1] if bulk else None))
            except DatasetError as error:
                results.append(str(error))
        assert results[0] == results[1]
        assert isinstance(results[0], int), results[0]
    return stats


def assert_same(conns) -> None:
    bulk, rows = (tables(conn) for conn in conns)
    for table in rows:
        assert bulk[table] == rows[table], table


def change(collection: str, record: dict, valid_from: str = "2020-01-01T00:00:00Z", **extra) -> dict:
    return {"collection": collection, "valid_from": valid_from, "note": None, "record": record} | extra


def source(source_id: str) -> dict:
    return {"id": source_id, "publisher": "P", "title": None, "url": None, "published_on": None, "description": "D"}


def party(party_id: str, **fields) -> dict:
    record = {"id": party_id, "name": party_id.title(), "short_name": party_id[:3], "kind": "state"}
    return record | {"member_of": [], "source_ids": ["src"]} | fields


def clause(clause_id: str, position: int, **fields) -> dict:
    record = {"id": clause_id, "position": position, "label": f"Article {position}", "summary": f"Forces {clause_id}."}
    record |= {"topics": ["arms-control"], "obligated_party_ids": ["alpha"], "source_ids": ["src"]}
    return (
        record | {"excerpts": [{"text": f"The <Parties> shall not & deploy {clause_id}.", "source_id": "src"}]} | fields
    )


def proposal(proposal_id: str, clauses: list[dict], **fields) -> dict:
    record = {"id": proposal_id, "title": f"Treaty {proposal_id}", "short_title": proposal_id, "proposer_id": "alpha"}
    record |= {"addressee_ids": ["beta"], "document_type": "treaty", "status": "draft", "handed_over_on": "2021-12-15"}
    record |= {"published_on": None, "in_response_to": [], "summary": "Security guarantees.", "source_ids": ["src"]}
    return record | {"clauses": clauses} | fields


def talk(talk_id: str, **fields) -> dict:
    record = {"id": talk_id, "title": f"Talks {talk_id}", "format": "bilateral", "starts_on": "2022-01-10"}
    record |= {"ends_on": None, "location": "Geneva", "status": "held", "party_ids": ["alpha", "beta"]}
    record |= {"proposal_ids": ["p1"], "delegations": [], "chair": None, "summary": "Talked.", "source_ids": ["src"]}
    return record | fields


def write_ndjson(path: Path, changes: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in changes))
    return path


def first_file(tmp_path: Path) -> Path:
    return write_ndjson(
        tmp_path / "first.ndjson",
        [
            change("sources", source("src")),
            change("parties", party("alpha")),
            change("parties", party("beta")),
            change("parties", party("league", kind="alliance")),
            change("parties", party("gamma", member_of=["league"])),
            change("proposals", proposal("p1", [clause("p1-a", 1), clause("p1-b", 2), clause("p1-c", 3)])),
            change("proposals", proposal("p2", [clause("p2-a", 1, responds_to_ids=["p1-a"])], in_response_to=["p1"])),
            change("proposals", proposal("p4", [clause("p4-a", 2), clause("p4-b", 1)]), note="made"),
            change(
                "talks", talk("t1", delegations=[{"party_id": "alpha", "head": "A. Head", "head_role": "Minister"}])
            ),
            change("talks", talk("t2", proposal_ids=["p1", "p4"]), actor="someone-else"),
        ],
    )


def second_file(tmp_path: Path) -> Path:
    """History on top of history: revisions, patches, deletions, answers, new items among them."""
    return write_ndjson(
        tmp_path / "second.ndjson",
        [
            change("sources", source("src2"), "2021-01-01T00:00:00Z"),
            change("proposals", proposal("p3", [clause("p3-a", 1), clause("p3-b", 2)]), "2021-01-02T00:00:00Z"),
            # p1 drops a clause and reorders the others (it exists: record by record).
            change("proposals", proposal("p1", [clause("p1-b", 1), clause("p1-a", 2)]), "2021-01-03T00:00:00Z"),
            {"collection": "talks", "id": "t1", "valid_from": "2021-01-04T00:00:00Z", "patch": {"location": "Vienna"}},
            change("talks", talk("t3", proposal_ids=["p3"]), "2021-01-05T00:00:00Z"),
            change("proposals", proposal("p6", [clause("p6-a", 1, responds_to_ids=["p1-b"])]), "2021-01-06T00:00:00Z"),
            {"collection": "talks", "id": "t2", "valid_from": "2021-01-07T00:00:00Z", "deleted": True, "note": "gone"},
            change("parties", party("delta", member_of=["league"]), "2021-01-08T00:00:00Z"),
            change("proposals", proposal("p5", [clause("p5-a", 1)], short_title="P five"), "2021-01-09T00:00:00Z"),
            # p3 again: a new changeset.
            change("proposals", proposal("p3", [clause("p3-a", 1, summary="Changed.")]), "2021-02-01T00:00:00Z"),
            change("talks", talk("t4", proposal_ids=["p5"]), "2021-02-02T00:00:00Z"),
            {"collection": "proposals", "id": "p4", "valid_from": "2021-02-03T00:00:00Z", "deleted": True},
            change("sources", source("src3"), "2021-02-04T00:00:00Z"),
        ],
    )


def test_seed_files_give_the_same_tables_in_bulk_as_record_by_record(two_databases):
    stats = import_both(two_databases, list(SEED_FILES))
    assert all(s["bulk"] > 0 and s["replayed"] == 0 for s in stats), stats
    assert_same(two_databases)


def test_history_on_top_of_history_gives_the_same_tables(two_databases, tmp_path):
    stats = import_both(two_databases, [first_file(tmp_path), second_file(tmp_path)])
    assert stats[0]["bulk"] >= 6 and stats[1]["bulk"] >= 4 and stats[1]["per_record"] >= 5, stats
    assert not any(s["replayed"] for s in stats), stats
    assert_same(two_databases)
    revisions = (
        two_databases[0]
        .execute("SELECT collection || '/' || item_id, revision FROM revisions WHERE item_id LIKE 'p1%' ORDER BY seq")
        .fetchall()
    )
    assert revisions[:4] == [("clauses/p1-a", 1), ("clauses/p1-b", 1), ("clauses/p1-c", 1), ("proposals/p1", 1)]


def test_export_import_export_through_the_bulk_path_gives_the_same_bytes(two_databases, empty_database_url, tmp_path):
    from api.resources.export import export_lines

    import_both(two_databases, [first_file(tmp_path), second_file(tmp_path)])
    exported = b"".join(export_lines(two_databases[0]))
    assert exported == b"".join(export_lines(two_databases[1]))
    path = write_ndjson(tmp_path / "export.ndjson", [])
    path.write_bytes(exported)
    stats: dict[str, int] = {}
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn)
        assert import_dataset(conn, path, stats=stats) == len(exported.splitlines())
        assert b"".join(export_lines(conn)) == exported
    assert stats["bulk"] > 0 and not stats["replayed"], stats


@pytest.mark.parametrize(
    "broken, message",
    [
        # A talk naming a proposal that comes later in the file: refused at the talk.
        (
            lambda cs: [
                *cs[:8],
                change("talks", talk("t9", proposal_ids=["p9"])),
                change("proposals", proposal("p9", [])),
            ],
            r"^line 9 \(talks t9\): conflicts with the data: .*p9",
        ),
        # A clause id used twice in one batch.
        (
            lambda cs: [*cs[:6], change("proposals", proposal("p8", [clause("p1-a", 7)]))],
            r"^line 7 \(proposals p8\): conflicts with the data",
        ),
        # A party that does not exist, in the middle of a batch.
        (
            lambda cs: [*cs[:6], change("proposals", proposal("p8", [], proposer_id="nobody")), *cs[6:]],
            r"^line 7 \(proposals p8\): conflicts with the data: .*nobody",
        ),
        # A validation error after a data error: the data error comes first, as it did.
        (
            lambda cs: [
                *cs[:6],
                change("talks", talk("t9", party_ids=["nobody"])),
                change("parties", party("x", kind="planet")),
            ],
            r"^line 7 \(talks t9\): conflicts with the data: .*nobody",
        ),
    ],
)
def test_a_refused_batch_fails_as_record_by_record_with_nothing_written(two_databases, tmp_path, broken, message):
    changes = [json.loads(line) for line in first_file(tmp_path).read_text().splitlines()]
    path = write_ndjson(tmp_path / "broken.ndjson", broken(changes))
    errors = []
    for conn, bulk in zip(two_databases, (True, False), strict=True):
        with pytest.raises(DatasetError, match=message) as caught:
            import_dataset(conn, path, bulk=bulk)
        errors.append(str(caught.value))
        assert conn.execute("SELECT count(*) FROM revisions").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM search_items").fetchone() == (0,)
    assert errors[0] == errors[1]


def test_a_json_document_streams_like_ndjson(two_databases, tmp_path):
    changes = [json.loads(line) for line in first_file(tmp_path).read_text().splitlines()]
    document = tmp_path / "first.json"
    document.write_text(json.dumps({"changes": changes, "format": "proposals-api/dataset@1"}, indent=1))
    import_dataset(two_databases[0], document, actor="test")
    import_dataset(two_databases[1], first_file(tmp_path), actor="test", bulk=False)
    bulk, rows = (tables(conn) for conn in two_databases)
    assert bulk["revisions"] == rows["revisions"] and bulk["search_terms"] == rows["search_terms"]


def test_the_file_is_checked_whole_before_anything_is_written(empty_database_url, tmp_path):
    """Streaming keeps the old order of errors: a bad line, a bad shape or bad bytes anywhere in
    the file are reported first, as when the whole file was parsed before the first change."""
    lines = first_file(tmp_path).read_text().splitlines()
    bad_line = tmp_path / "bad-line.ndjson"
    bad_line.write_text("\n".join([lines[0], '{"collection": "parties", "record": {"id": 1}}', *lines[1:], "{oops"]))
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "something/else", "changes": []}))
    latin = tmp_path / "latin.ndjson"
    latin.write_bytes(lines[0].encode() + b"\n\xe9\n")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn)
        with pytest.raises(DatasetError, match=r"^line 12: not valid JSON: "):
            import_dataset(conn, bad_line)
        with pytest.raises(DatasetError, match=r'^dataset: expected \{"format": "proposals-api/dataset@1"'):
            import_dataset(conn, wrong)
        with pytest.raises(DatasetError, match=r"^dataset: latin.ndjson is not UTF-8: "):
            import_dataset(conn, latin)
        assert conn.execute("SELECT count(*) FROM changesets").fetchone() == (0,)
