"""Authenticated writes: create, merge-patch, delete, with If-Match, idempotency and history."""

import concurrent.futures
import json
import urllib.request
import uuid

import jsonpatch
import pytest

from api.http.auth import create_token, revoke_token
from api.resources.revisions import keyed_clauses
from tests.support import new_talk


@pytest.fixture(scope="module")
def tokens(db) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    made = {scope: create_token(db, f"{scope}-{suffix}", scope, None) for scope in ("write", "read")}
    made["revoked"] = create_token(db, f"revoked-{suffix}", "write", None)
    revoke_token(db, f"revoked-{suffix}")
    made["name"] = f"write-{suffix}"
    return made


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def revision_count(db, collection: str, item_id: str) -> int:
    return db.execute(
        "SELECT count(*) FROM revisions WHERE collection = %s AND item_id = %s", (collection, item_id)
    ).fetchone()[0]


def test_an_editors_session(client, tokens, db):
    talk_id = unique("test-talk")
    created = client.post("/v1/talks", json=new_talk(talk_id), headers=bearer(tokens["write"]))
    assert created.status_code == 201
    assert created.headers["Location"] == f"/v1/talks/{talk_id}"
    assert created.headers["ETag"] == '"2.1"'
    assert created.get_json()["revision"] == 1

    patched = client.patch(
        f"/v1/talks/{talk_id}",
        data=json.dumps({"status": "held"}),
        content_type="application/merge-patch+json",
        headers=bearer(tokens["write"], **{"If-Match": '"2.1"', "X-Change-Note": "It took place."}),
    )
    assert patched.status_code == 200
    assert patched.headers["ETag"] == '"2.2"'
    assert patched.get_json()["status"] == "held"
    assert client.get(f"/v1/talks/{talk_id}").headers["ETag"] == '"2.2"'

    revisions = client.get(f"/v1/talks/{talk_id}/revisions").get_json()["items"]
    assert [(r["revision"], r["actor"], r["note"]) for r in revisions] == [
        (2, tokens["name"], "It took place."),
        (1, tokens["name"], None),
    ]
    diff = client.get(f"/v1/talks/{talk_id}/revisions/2/diff").get_json()
    assert sorted(op["path"] for op in diff) == ["/revision", "/status", "/updated_at"]

    between = revisions[0]["valid_from"]
    first = client.get(f"/v1/talks/{talk_id}", query_string={"as_of": revisions[1]["valid_from"]}).get_json()
    assert first["status"] == "scheduled"
    assert client.get(f"/v1/talks/{talk_id}", query_string={"as_of": between}).get_json()["status"] == "held"

    deleted = client.delete(f"/v1/talks/{talk_id}", headers=bearer(tokens["write"], **{"If-Match": '"2.2"'}))
    assert deleted.status_code == 204
    gone = client.get(f"/v1/talks/{talk_id}")
    assert gone.status_code == 410
    assert gone.mimetype == "application/problem+json"
    history = client.get(f"/v1/talks/{talk_id}/revisions").get_json()["items"]
    assert [(r["revision"], r["deleted"]) for r in history] == [(3, True), (2, False), (1, False)]
    assert talk_id not in [t["id"] for t in client.get("/v1/talks?limit=200").get_json()["items"]]
    again = client.post("/v1/talks", json=new_talk(talk_id), headers=bearer(tokens["write"]))
    assert again.status_code == 409
    assert "cannot be reused" in again.get_json()["detail"]


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("read", 403), ("revoked", 401), ("pat_1_nonsense", 401)])
def test_writes_without_a_write_token_are_refused_and_change_nothing(client, tokens, db, token, status):
    headers = {} if token is None else bearer(tokens.get(token, token), **{"If-Match": '"2.2"'})
    before = db.execute("SELECT count(*) FROM revisions").fetchone()
    geneva = "/v1/talks/geneva-strategic-stability-2022-01-10"
    for response in (
        client.post("/v1/talks", json=new_talk(unique("nope")), headers=headers),
        client.patch(geneva, json={"status": "cancelled"}, headers=headers),
        client.delete(geneva, headers=headers),
    ):
        assert response.status_code == status
        assert response.mimetype == "application/problem+json"
        if status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert db.execute("SELECT count(*) FROM revisions").fetchone() == before


def test_missing_or_stale_if_match(client, tokens, db):
    talk_id = unique("test-talk")
    client.post("/v1/talks", json=new_talk(talk_id), headers=bearer(tokens["write"]))
    missing = client.patch(f"/v1/talks/{talk_id}", json={"status": "held"}, headers=bearer(tokens["write"]))
    assert missing.status_code == 428
    stale = client.patch(
        f"/v1/talks/{talk_id}", json={"status": "held"}, headers=bearer(tokens["write"], **{"If-Match": '"2.7"'})
    )
    assert stale.status_code == 412
    assert stale.headers["ETag"] == '"2.1"'
    assert client.delete(f"/v1/talks/{talk_id}", headers=bearer(tokens["write"])).status_code == 428
    assert (
        client.delete(f"/v1/talks/{talk_id}", headers=bearer(tokens["write"], **{"If-Match": '"2.9"'})).status_code
        == 412
    )
    assert revision_count(db, "talks", talk_id) == 1
    assert client.get(f"/v1/talks/{talk_id}").get_json()["status"] == "scheduled"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "pointer"),
    [
        ({"status": "adjourned"}, "application/merge-patch+json", 422, "/status"),
        ({"revision": 9}, "application/merge-patch+json", 422, "/revision"),
        ({"colour": "red"}, "application/merge-patch+json", 422, "/colour"),
        ({"id": "renamed"}, "application/merge-patch+json", 422, "/id"),
        ({"title": None}, "application/merge-patch+json", 422, "/title"),
        ({"summary": "x\u0000y"}, "application/merge-patch+json", 422, "/summary"),
        ({"party_ids": ["nobody-known"]}, "application/merge-patch+json", 409, None),
        ({"status": "held"}, "text/plain", 415, None),
    ],
)
def test_invalid_patches_are_refused_and_change_nothing(client, tokens, db, body, content_type, status, pointer):
    talk_id = unique("test-talk")
    client.post("/v1/talks", json=new_talk(talk_id), headers=bearer(tokens["write"]))
    response = client.patch(
        f"/v1/talks/{talk_id}",
        data=json.dumps(body),
        content_type=content_type,
        headers=bearer(tokens["write"], **{"If-Match": '"2.1"'}),
    )
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    if pointer:
        assert pointer in [e.get("pointer") for e in response.get_json()["errors"]]
    assert revision_count(db, "talks", talk_id) == 1


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"{", 400),
        (b"[]", 422),
        (b"\xef\xbb\xbf{}", 400),
        (b"\xff\xfe{}", 400),
        ('{"a": "\udcff"}'.encode("utf-8", "surrogatepass"), 400),
    ],
)
def test_malformed_bodies(client, tokens, raw, status):
    response = client.post("/v1/talks", data=raw, content_type="application/json", headers=bearer(tokens["write"]))
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


def test_clause_change_moves_its_proposal_revision(client, tokens, db):
    proposal_id = unique("test-draft")
    proposal = {
        "id": proposal_id,
        "title": "A test draft",
        "short_title": "Test draft",
        "proposer_id": "russia",
        "addressee_ids": ["united-states"],
        "document_type": "treaty",
        "status": "draft",
        "handed_over_on": None,
        "published_on": None,
        "in_response_to": [],
        "summary": "For tests.",
        "source_ids": ["sputnik-lavrov-security-guarantees"],
        "clauses": [
            {
                "id": f"{proposal_id}-article-{n}",
                "position": n,
                "label": f"Article {n}",
                "summary": f"Clause {n}.",
                "topics": [],
                "obligated_party_ids": ["russia"],
                "excerpts": [],
                "source_ids": ["sputnik-lavrov-security-guarantees"],
            }
            for n in (1, 2, 3)
        ],
    }
    assert client.post("/v1/proposals", json=proposal, headers=bearer(tokens["write"])).status_code == 201
    clause_id = f"{proposal_id}-article-2"
    response = client.patch(
        f"/v1/clauses/{clause_id}",
        json={"summary": "Clause two, revised."},
        headers=bearer(tokens["write"], **{"If-Match": '"2.1"'}),
    )
    assert response.status_code == 200
    current = client.get(f"/v1/proposals/{proposal_id}").get_json()
    assert current["revision"] == 2
    assert current["clauses"][1]["summary"] == "Clause two, revised."
    snapshot = client.get(f"/v1/proposals/{proposal_id}/revisions/2").get_json()["item"]
    assert snapshot == current
    diff = client.get(f"/v1/proposals/{proposal_id}/revisions/2/diff").get_json()
    clause_ops = [op for op in diff if op["path"].startswith("/clauses")]
    assert clause_ops == [{"op": "replace", "path": f"/clauses/{clause_id}", "value": current["clauses"][1]}]
    old = client.get(f"/v1/proposals/{proposal_id}/revisions/1").get_json()["item"]
    assert jsonpatch.apply_patch(keyed_clauses(old), diff) == keyed_clauses(current)
    moved = client.patch(
        f"/v1/clauses/{clause_id}",
        json={"proposal_id": "us-russia-security-treaty"},
        headers=bearer(tokens["write"], **{"If-Match": '"2.2"'}),
    )
    assert moved.status_code == 422


def test_idempotent_create(client, tokens, db):
    talk_id = unique("test-talk")
    headers = bearer(tokens["write"], **{"Idempotency-Key": f"key-{talk_id}"})
    first = client.post("/v1/talks", json=new_talk(talk_id), headers=headers)
    second = client.post("/v1/talks", json=new_talk(talk_id), headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.get_data() == first.get_data()
    assert second.headers["Location"] == first.headers["Location"]
    assert revision_count(db, "talks", talk_id) == 1
    other = client.post("/v1/talks", json=new_talk(unique("test-talk")), headers=headers)
    assert other.status_code == 422
    assert other.get_json()["errors"][0]["parameter"] == "Idempotency-Key"


def test_cannot_delete_what_others_refer_to(client, tokens):
    etag = client.get("/v1/parties/russia").headers["ETag"]
    response = client.delete("/v1/parties/russia", headers=bearer(tokens["write"], **{"If-Match": etag}))
    assert response.status_code == 409
    detail = response.get_json()["detail"]
    assert "Still referred to by" in detail
    # The first 20 referrers in order: the clauses that oblige Russia, then the people who act for it.
    assert "clauses/russia-nato-security-agreement-article-1" in detail
    assert "people/alexander-grushko" in detail
    assert client.get("/v1/parties/russia").status_code == 200


def live_patch(url: str, body: dict, tokens: dict, if_match: str) -> int:
    """A merge-patch sent to the live server; its status."""
    attempt = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="PATCH",
        headers=bearer(tokens["write"], **{"Content-Type": "application/merge-patch+json", "If-Match": if_match}),
    )
    try:
        with urllib.request.urlopen(attempt, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_twenty_racing_patches_exactly_one_wins(live_server, tokens, db):
    talk_id = unique("race-talk")
    request = urllib.request.Request(
        f"{live_server}/v1/talks",
        data=json.dumps(new_talk(talk_id)).encode(),
        method="POST",
        headers=bearer(tokens["write"], **{"Content-Type": "application/json"}),
    )
    with urllib.request.urlopen(request) as response:
        etag = response.headers["ETag"]

    def patch(n: int) -> int:
        return live_patch(f"{live_server}/v1/talks/{talk_id}", {"summary": f"Racer {n} was here."}, tokens, etag)

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        statuses = sorted(pool.map(patch, range(20)))
    assert statuses == [200] + [412] * 19
    rows = db.execute(
        "SELECT revision FROM revisions WHERE collection = 'talks' AND item_id = %s ORDER BY revision", (talk_id,)
    ).fetchall()
    assert rows == [(1,), (2,)]
    assert db.execute("SELECT revision FROM talks WHERE id = %s", (talk_id,)).fetchone() == (2,)


def test_concurrent_writes_to_a_proposal_and_its_clauses_never_fail(live_server, tokens):
    """Clause writers lock the proposal first, as proposal writers do: no deadlock, no 5xx."""
    proposal = "/v1/proposals/russia-nato-security-agreement"

    def write(n: int) -> int:
        path = proposal if n % 2 else f"/v1/clauses/russia-nato-security-agreement-article-{1 + n % 9}"
        body = {"summary": f"Concurrent edit {n}."} if n % 2 == 0 else {"status": "draft"}
        return live_patch(f"{live_server}{path}", body, tokens, "*")

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(write, range(40)))
    assert set(statuses) == {200}


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("https://example.org/a?b=1#c", 201),
        ("http://example.org:8080/", 201),
        ("http://[", 422),  # once stored, it broke clients' URL parsers (schemathesis among them)
        ("http://[::1]/", 422),
        ("http://example.org:99999/", 422),
        ("http:///no-host", 422),
        ("ftp://example.org/", 422),
    ],
)
def test_a_source_url_is_one_that_parses(client, tokens, db, url, status):
    source_id = unique("test-source")
    body = {"id": source_id, "publisher": "P", "title": None, "url": url, "published_on": None, "description": "D"}
    response = client.post("/v1/sources", json=body, headers=bearer(tokens["write"]))
    assert response.status_code == status, response.get_json()
    if status == 422:
        assert [e.get("pointer") for e in response.get_json()["errors"]] == ["/url"]  # said once
        assert revision_count(db, "sources", source_id) == 0
    else:
        assert response.get_json()["url"] == url
