"""The bundled dataset: faithful to its sources, complete, and loadable only once."""

import json
import os
from pathlib import Path

import psycopg
import pytest

from api.store.dataset import DATA_DIR, DatasetError, import_dataset, seed
from api.store.migrate import migrate
from api.store.records import merge_patch

ROOT = Path(__file__).resolve().parent.parent
# The news article the dataset starts from. It is not ours to redistribute, so a clone does not carry it:
# the quote checks run wherever it is found (SEED_ARTICLE, or the workspace's shared/seed/ beside the
# checkout) and skip elsewhere, unless SEED_ARTICLE_REQUIRED is set (.ci/run sets it), where they fail.
SEED_ARTICLE = Path(os.environ.get("SEED_ARTICLE", ROOT.parent / "shared" / "seed" / "000_598449ba506f7734.txt"))
SEED_ARTICLE_REQUIRED = os.environ.get("SEED_ARTICLE_REQUIRED", "") not in ("", "0")
SEED_SOURCE = "sputnik-lavrov-security-guarantees"


@pytest.fixture(scope="module")
def everything(client) -> dict[str, list[dict]]:
    return {
        name: client.get(f"/v1/{name}?limit=200").get_json()["items"]
        for name in ("sources", "parties", "proposals", "clauses", "talks", "statements")
    }


@pytest.fixture(scope="module")
def client(own_app):
    """The dataset exactly as seeded: other tests write to the shared database."""
    return own_app.test_client()


def seed_text() -> str:
    if not SEED_ARTICLE.exists():
        reason = (
            f"the seed article is needed to check quotes word for word: set SEED_ARTICLE (looked at {SEED_ARTICLE})"
        )
        if SEED_ARTICLE_REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)
    return SEED_ARTICLE.read_text()


def test_every_excerpt_appears_word_for_word_in_the_source_it_cites(everything):
    text = seed_text()
    excerpts = [e for clause in everything["clauses"] for e in clause["excerpts"]]
    assert len(excerpts) >= 4
    for excerpt in excerpts:
        assert excerpt["source_id"] == SEED_SOURCE  # the only source whose text we hold
        assert excerpt["text"] in text, excerpt["text"]


def test_every_quote_appears_word_for_word_in_the_source_it_cites(everything):
    text = seed_text()
    quotes = [s for s in everything["statements"] if s["kind"] == "quote"]
    assert len(quotes) >= 4
    for statement in quotes:
        assert SEED_SOURCE in statement["source_ids"]
        assert statement["quote"] in text, statement["quote"]


def test_every_record_cites_an_existing_source(everything):
    source_ids = {s["id"] for s in everything["sources"]}
    for name, items in everything.items():
        if name == "sources":
            continue
        for item in items:
            assert item["source_ids"], f"{name}/{item['id']} cites nothing"
            assert set(item["source_ids"]) <= source_ids


def test_both_drafts_have_every_article(everything):
    counts = {p["id"]: len(p["clauses"]) for p in everything["proposals"] if p["document_type"] != "written_response"}
    assert counts == {"us-russia-security-treaty": 8, "russia-nato-security-agreement": 9}


def test_the_seed_article_view_is_revision_one_and_history_comes_after(db):
    first = db.execute(
        "SELECT DISTINCT rfc3339(valid_from) FROM revisions r JOIN changesets c ON c.id = r.changeset_id"
        " WHERE r.revision = 1 AND c.actor = 'seed' AND r.valid_from < '2022-01-01'"
    ).fetchall()
    assert first == [("2021-12-31T07:52:00Z",)]  # the instant Sputnik published the article the seed copy reproduces
    later = db.execute(
        "SELECT collection, item_id, revision, rfc3339(valid_from) FROM revisions"
        " WHERE collection = 'talks' AND revision > 1 AND changeset_id IN (SELECT id FROM changesets WHERE actor = 'seed')"
        " ORDER BY valid_from, revision"
    ).fetchall()
    assert [(r[1], r[2], r[3]) for r in later] == [
        ("putin-biden-call-2021-12-30", 2, "2022-01-01T12:00:00Z"),  # the White House's account, when published
        ("geneva-strategic-stability-2022-01-10", 2, "2022-01-10T23:00:00Z"),
        ("geneva-strategic-stability-2022-01-10", 3, "2022-01-10T23:00:00Z"),  # the working dinner of 9 January
        ("nato-russia-council-2022-01-12", 2, "2022-01-12T23:00:00Z"),
        ("osce-russia-consultations-2022-01-13", 2, "2022-01-13T23:00:00Z"),
    ]


def test_seeding_again_changes_nothing(db):
    before = db.execute("SELECT count(*), max(seq) FROM revisions").fetchone()
    assert seed(db) == [("dataset.json", None), ("history.json", None)]
    assert db.execute("SELECT count(*), max(seq) FROM revisions").fetchone() == before


def test_merge_patch_follows_rfc_7396():
    # The examples of RFC 7396, appendix A.
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert merge_patch({"a": "b"}, {"a": None}) == {}
    assert merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert merge_patch(["a", "b"], ["c", "d"]) == ["c", "d"]
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}


def _dataset(tmp_path: Path, changes: list) -> Path:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"format": "proposals-api/dataset@1", "changes": changes}))
    return path


def _change(collection: str, record: dict, note: str | None = None, valid_from: str = "2020-01-01T00:00:00Z") -> dict:
    return {"collection": collection, "valid_from": valid_from, "note": note, "record": record}


SOURCE = {"id": "a-source", "publisher": "P", "title": None, "url": None, "published_on": None, "description": "D"}


def _party(party_id: str, **extra) -> dict:
    return {
        "id": party_id,
        "name": party_id,
        "short_name": party_id,
        "kind": "state",
        "member_of": [],
        "source_ids": ["a-source"],
    } | extra


@pytest.fixture
def empty_db(empty_database_url):
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn)
        yield conn


def test_import_is_all_or_nothing_and_names_the_failing_change(empty_db, tmp_path):
    path = _dataset(
        tmp_path,
        [
            _change("sources", SOURCE),
            _change("parties", _party("alpha")),
            _change("parties", _party("beta", kind="empire")),
        ],
    )
    with pytest.raises(DatasetError) as caught:
        import_dataset(empty_db, path)
    assert (
        str(caught.value)
        == 'change 3 (parties beta): invalid fields {"kind": ["Must be one of: state, alliance, organization."]}'
    )
    assert empty_db.execute("SELECT count(*) FROM parties").fetchone() == (0,)
    assert empty_db.execute("SELECT count(*) FROM sources").fetchone() == (0,)


def test_import_reports_references_to_missing_records(empty_db, tmp_path):
    path = _dataset(
        tmp_path,
        [
            _change("sources", SOURCE),
            _change("parties", _party("alpha", member_of=["nowhere"])),
        ],
    )
    with pytest.raises(DatasetError, match=r"^change 2 \(parties alpha\): conflicts with the data: .*nowhere"):
        import_dataset(empty_db, path)


def test_history_in_one_file_makes_one_revision_per_change(empty_db, tmp_path):
    path = _dataset(
        tmp_path,
        [
            _change("sources", SOURCE),
            _change("parties", _party("alpha"), note="made"),
            {
                "collection": "parties",
                "id": "alpha",
                "valid_from": "2021-06-01T00:00:00Z",
                "note": "renamed",
                "patch": {"name": "Alpha Republic"},
            },
        ],
    )
    assert import_dataset(empty_db, path) == 3
    rows = empty_db.execute(
        "SELECT revision, valid_from::date::text, note, snapshot->>'name' FROM revisions"
        " WHERE item_id = 'alpha' ORDER BY revision"
    ).fetchall()
    assert rows == [(1, "2020-01-01", "made", "alpha"), (2, "2021-06-01", "renamed", "Alpha Republic")]
    assert import_dataset(empty_db, path) is None  # the same file again: nothing


def test_a_group_gets_one_revision_for_all_members_joining_in_one_import(empty_db, tmp_path):
    path = _dataset(
        tmp_path,
        [
            _change("sources", SOURCE),
            _change("parties", _party("league", kind="alliance")),
            *(_change("parties", _party(name, member_of=["league"])) for name in ("one", "two", "three")),
        ],
    )
    import_dataset(empty_db, path)
    league = empty_db.execute("SELECT revision, doc->'members' FROM parties WHERE id = 'league'").fetchone()
    assert league == (1, ["one", "three", "two"])


def test_bundled_files_use_the_documented_format():
    for path in DATA_DIR.glob("*.json"):
        document = json.loads(path.read_text())
        assert document["format"] == "proposals-api/dataset@1"
        assert document["changes"]
