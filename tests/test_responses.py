"""The answers point by point (issue 16): a response's points answer draft articles (`responds_to_ids`), each
article shows what answered it (`answered_by_ids`), and both directions are one request each."""

import re
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from api.http.auth import create_token
from api.store import migrate
from tests.conftest import landed_database

US_4 = "us-russia-security-treaty-article-4"
US_RESPONSE = "us-written-response-2022-01-26"
NATO_RESPONSE = "nato-written-response-2022-01-26"
REPLY = "russia-reply-2022-02-17"
RESPONSES = (US_RESPONSE, NATO_RESPONSE, REPLY)
NO_ARTICLE = "It answers no single article of the draft: "


@pytest.fixture(scope="module")
def client(own_app):
    """A database of this module's own: these tests write answers and read the seeded history."""
    return own_app.test_client()


@pytest.fixture(scope="module")
def token(own_database_url) -> str:
    with psycopg.connect(own_database_url, autocommit=True) as conn:
        return create_token(conn, f"answers-{uuid.uuid4().hex[:8]}", "write", None)


def walk(client, url: str, **query) -> list[dict]:
    items, cursor = [], None
    while True:
        body = client.get(url, query_string=query | {"limit": 200} | ({"cursor": cursor} if cursor else {})).get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def points(client) -> list[dict]:
    return [c for proposal in RESPONSES for c in client.get(f"/v1/proposals/{proposal}").get_json()["clauses"]]


def test_how_was_us_article_4_answered_is_one_request_each_way(client):
    answers = client.get("/v1/clauses", query_string={"responds_to": US_4})
    assert answers.status_code == 200 and answers.mimetype == "application/json"
    body = answers.get_json()
    assert [c["id"] for c in body["items"]] == [
        "russia-reply-2022-02-17-core-elements-unanswered",
        "us-written-response-2022-01-26-open-door",
        "us-written-response-2022-01-26-no-missiles-or-combat-forces-in-ukraine",
    ]
    assert all(US_4 in c["responds_to_ids"] for c in body["items"])
    assert body["next_cursor"] is None
    article = client.get(f"/v1/clauses/{US_4}").get_json()
    assert sorted(article["answered_by_ids"]) == sorted(c["id"] for c in body["items"])
    assert article["responds_to_ids"] == []
    # The proposal carries its clauses as the clause collection serves them.
    treaty = client.get("/v1/proposals/us-russia-security-treaty").get_json()
    (inline,) = [c for c in treaty["clauses"] if c["id"] == US_4]
    assert inline["answered_by_ids"] == article["answered_by_ids"]


def test_the_filter_combines_with_search_and_other_filters(client):
    found = client.get(
        "/v1/clauses", query_string={"responds_to": "us-russia-security-treaty-article-6", "q": "Aegis"}
    ).get_json()
    assert {c["id"] for c in found["items"]} == {
        "us-written-response-2022-01-26-aegis-ashore-transparency",
        "russia-reply-2022-02-17-intermediate-range-missiles",
    }
    assert all("<mark>" in c["search"]["snippet"] for c in found["items"])
    only_us = client.get(
        "/v1/clauses", query_string={"responds_to": "us-russia-security-treaty-article-6", "proposal": US_RESPONSE}
    ).get_json()
    assert {c["proposal_id"] for c in only_us["items"]} == {US_RESPONSE} and len(only_us["items"]) == 3
    nothing = client.get("/v1/clauses", query_string={"responds_to": "no-such-clause"}).get_json()
    assert nothing["items"] == []
    bad = client.get("/v1/clauses", query_string={"responds_to": "Not An Id"})
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"


def test_the_reply_answers_the_us_points_and_they_show_it(client):
    point = client.get("/v1/clauses/us-written-response-2022-01-26-aegis-ashore-transparency").get_json()
    assert point["responds_to_ids"] == ["us-russia-security-treaty-article-6"]
    assert point["answered_by_ids"] == ["russia-reply-2022-02-17-intermediate-range-missiles"]
    listed = walk(client, "/v1/clauses", responds_to=point["id"])
    assert [c["id"] for c in listed] == point["answered_by_ids"]


def test_every_point_has_a_source_and_an_article_or_a_stated_reason(client):
    sources = {s["id"]: s for s in walk(client, "/v1/sources")}
    found = points(client)
    assert len(found) >= 20
    by_id = {c["id"]: c for c in walk(client, "/v1/clauses")}
    proposals = {p["id"]: p for p in walk(client, "/v1/proposals")}
    for point in found:
        assert point["source_ids"] and all(s in sources for s in point["source_ids"]), point["id"]
        assert point["excerpts"] == [] and point["obligated_party_ids"] == [], point["id"]
        if point["responds_to_ids"]:
            assert not point["summary"].startswith(NO_ARTICLE), point["id"]
        else:
            assert point["summary"].startswith(NO_ARTICLE), point["id"]
        # It answers the drafts, or a document in the chain its own document answers.
        chain, todo = set(), list(proposals[point["proposal_id"]]["in_response_to"])
        while todo:
            chain.add(todo[-1])
            todo += proposals[todo.pop()]["in_response_to"]
        for target in point["responds_to_ids"]:
            owner = proposals[by_id[target]["proposal_id"]]
            assert owner["document_type"] != "written_response" or owner["id"] in chain, (point["id"], target)
            assert point["id"] in by_id[target]["answered_by_ids"], (point["id"], target)
    for proposal_id in RESPONSES:
        assert proposals[proposal_id]["published_on"] is not None, proposal_id


def test_writing_an_answer_revises_the_article_it_answers_and_its_etag(client, token):
    article = "us-russia-security-treaty-article-2"
    before = client.get(f"/v1/clauses/{article}")
    assert before.get_json()["answered_by_ids"] == []
    treaty_before = client.get("/v1/proposals/us-russia-security-treaty").get_json()["revision"]
    point_id = f"{US_RESPONSE}-test-{uuid.uuid4().hex[:6]}"
    created = client.post(
        "/v1/clauses",
        json={
            "id": point_id,
            "proposal_id": US_RESPONSE,
            "position": 90,
            "label": "Test point",
            "summary": "A point written by a test.",
            "topics": [],
            "obligated_party_ids": [],
            "excerpts": [],
            "responds_to_ids": [article],
            "source_ids": ["tass-2022-02-02-us-and-nato-reaffirm-open-door"],
        },
        headers={"Authorization": f"Bearer {token}", "X-Change-Note": "An answer."},
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["responds_to_ids"] == [article]
    assert created.get_json()["answered_by_ids"] == []
    after = client.get(f"/v1/clauses/{article}")
    assert after.get_json()["answered_by_ids"] == [point_id]
    assert after.get_json()["revision"] == before.get_json()["revision"] + 1
    assert after.headers["ETag"] != before.headers["ETag"]
    stale = client.get(f"/v1/clauses/{article}", headers={"If-None-Match": before.headers["ETag"]})
    assert stale.status_code == 200 and stale.get_json()["answered_by_ids"] == [point_id]
    assert client.get("/v1/proposals/us-russia-security-treaty").get_json()["revision"] == treaty_before + 1
    newest = client.get(f"/v1/clauses/{article}/revisions").get_json()["items"][0]
    assert newest["note"] == "An answer." and newest["item"]["answered_by_ids"] == [point_id]
    # An answered article cannot be deleted while the answer lives.
    refused = client.delete(f"/v1/clauses/{article}", headers={"Authorization": f"Bearer {token}", "If-Match": "*"})
    assert refused.status_code == 409 and point_id in refused.get_json()["detail"]
    # Deleting the answer revises the article once more: nothing answers it now.
    gone = client.delete(
        f"/v1/clauses/{point_id}",
        headers={"Authorization": f"Bearer {token}", "If-Match": created.headers["ETag"]},
    )
    assert gone.status_code == 204
    last = client.get(f"/v1/clauses/{article}")
    assert last.get_json()["answered_by_ids"] == []
    assert last.get_json()["revision"] == before.get_json()["revision"] + 2


def test_an_answer_to_an_unknown_clause_is_refused_with_422(client, token):
    point_id = f"{US_RESPONSE}-test-{uuid.uuid4().hex[:6]}"
    refused = client.post(
        "/v1/clauses",
        json={
            "id": point_id,
            "proposal_id": US_RESPONSE,
            "position": 91,
            "label": "Test point",
            "summary": "A point answering nothing that exists.",
            "topics": [],
            "obligated_party_ids": [],
            "excerpts": [],
            "responds_to_ids": ["us-russia-security-treaty-article-99"],
            "source_ids": ["tass-2022-02-02-us-and-nato-reaffirm-open-door"],
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert "us-russia-security-treaty-article-99" in problem["detail"]
    assert problem["errors"][0]["pointer"] == "/responds_to_ids"
    assert client.get(f"/v1/clauses/{point_id}").status_code == 404
    # The same through a patch of an existing point: refused, and the point is unchanged.
    existing = client.get(f"/v1/clauses/{US_RESPONSE}-open-door")
    patched = client.patch(
        f"/v1/clauses/{US_RESPONSE}-open-door",
        json={"responds_to_ids": [US_4, "no-such-clause"]},
        headers={"Authorization": f"Bearer {token}", "If-Match": existing.headers["ETag"]},
    )
    assert patched.status_code == 422 and "no-such-clause" in patched.get_json()["detail"]
    assert client.get(f"/v1/clauses/{US_RESPONSE}-open-door").get_json() == existing.get_json()
    itself = client.patch(
        f"/v1/clauses/{US_RESPONSE}-open-door",
        json={"responds_to_ids": [f"{US_RESPONSE}-open-door"]},
        headers={"Authorization": f"Bearer {token}", "If-Match": existing.headers["ETag"]},
    )
    assert itself.status_code == 422


@pytest.mark.parametrize(
    ("as_of", "published_on", "points", "answered_by_article_4"),
    [
        ("2022-02-02T22:59:59Z", None, 0, []),  # delivered, not yet public
        (
            "2022-02-02T23:00:00Z",
            "2022-02-02",
            7,
            [f"{US_RESPONSE}-open-door", f"{US_RESPONSE}-no-missiles-or-combat-forces-in-ukraine"],
        ),
        (
            "2022-02-17T21:00:00Z",
            "2022-02-02",
            7,
            [
                f"{REPLY}-core-elements-unanswered",
                f"{US_RESPONSE}-open-door",
                f"{US_RESPONSE}-no-missiles-or-combat-forces-in-ukraine",
            ],
        ),
    ],
)
def test_as_of_around_the_publication(client, as_of, published_on, points, answered_by_article_4):
    response = client.get(f"/v1/proposals/{US_RESPONSE}", query_string={"as_of": as_of}).get_json()
    assert response["published_on"] == published_on and len(response["clauses"]) == points
    article = client.get(f"/v1/clauses/{US_4}", query_string={"as_of": as_of}).get_json()
    assert article["answered_by_ids"] == answered_by_article_4


def test_the_reply_is_public_from_the_day_it_was_handed_over(client):
    before = client.get(f"/v1/proposals/{REPLY}/revisions").get_json()["items"]
    assert [r["revision"] for r in before] == [3, 2, 1]
    valid = {r["revision"]: datetime.fromisoformat(r["valid_from"].replace("Z", "+00:00")) for r in before}
    assert valid[1] == valid[2] == valid[3] == datetime(2022, 2, 17, 21, tzinfo=UTC)
    assert client.get(f"/v1/proposals/{REPLY}/revisions/1").get_json()["item"]["published_on"] is None
    assert client.get(f"/v1/proposals/{REPLY}").get_json()["published_on"] == "2022-02-17"


def test_the_explorer_links_articles_and_the_points_that_answer_them(client):
    html = client.get("/explore/proposals/us-russia-security-treaty").get_data(as_text=True)
    rows = dict(re.findall(r'<tr id="([a-z0-9-]+)">(.*?)</tr>', html, re.DOTALL))
    assert f'href="/explore/proposals/{US_RESPONSE}#{US_RESPONSE}-open-door"' in rows[US_4]
    assert "US written response, Point 1: NATO&#39;s open door" in rows[US_4]
    assert "Answered by" not in rows["us-russia-security-treaty-article-3"]
    page = client.get(f"/explore/proposals/{US_RESPONSE}").get_data(as_text=True)
    rows = dict(re.findall(r'<tr id="([a-z0-9-]+)">(.*?)</tr>', page, re.DOTALL))
    assert f'href="/explore/proposals/us-russia-security-treaty#{US_4}"' in rows[f"{US_RESPONSE}-open-door"]
    assert (
        f'href="/explore/proposals/{REPLY}#{REPLY}-intermediate-range-missiles"'
        in rows[f"{US_RESPONSE}-aegis-ashore-transparency"]
    )
    assert 'href="/explore/proposals/us-russia-security-treaty"' in page  # in response to


def test_a_database_migrated_before_0014_gets_the_new_lists_without_a_revision(
    empty_database_url, monkeypatch, tmp_path
):
    """Migration 0014 adds the two lists to the stored representations and snapshots already there, in
    doc_clauses' order, as what doc_clauses would build now; the form changes, not what the items say, so no
    revision."""
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        landed_database(conn, tmp_path, monkeypatch)  # the last release before 0014, with its data
        old = conn.execute("SELECT doc::text FROM clauses WHERE id = %s", (US_4,)).fetchone()[0]
        assert "responds_to_ids" not in old
        history = "SELECT collection, item_id, revision, snapshot::text FROM revisions WHERE collection <> 'people' ORDER BY seq"
        before = conn.execute(history).fetchall()
        assert "0014_clause_responses.sql" in migrate.migrate(conn)
        after = conn.execute(history).fetchall()
        assert [row[:3] for row in after] == [row[:3] for row in before]  # no revision added
        stale = conn.execute(
            "SELECT id FROM clauses c WHERE c.doc::text <> doc_clauses(c)::text "
            "UNION ALL SELECT id FROM proposals p WHERE p.doc::text <> doc_proposals(p)::text"
        ).fetchall()
        assert stale == []
        new = conn.execute("SELECT doc::text FROM clauses WHERE id = %s", (US_4,)).fetchone()[0]
        assert '"excerpts":[' in new and '"responds_to_ids":[],"answered_by_ids":[],"source_ids":[' in new
        lists = '"responds_to_ids":[],"answered_by_ids":[],'
        for (collection, _item, _revision, old_snapshot), (_c, _i, _r, new_snapshot) in zip(before, after, strict=True):
            if collection == "clauses" or (collection == "proposals" and '"clauses":[{' in old_snapshot):
                assert lists in new_snapshot and new_snapshot.replace(lists, "") == old_snapshot


def test_a_response_written_whole_revises_what_it_answers_only_when_that_changes(client, token):
    """A proposal's clauses are written one by one; what they answer is refreshed once all are in place."""
    article = client.get(f"/v1/clauses/{US_4}").get_json()
    response = client.get(f"/v1/proposals/{US_RESPONSE}")
    clauses = [
        {k: v for k, v in c.items() if k not in ("proposal_id", "revision", "updated_at", "answered_by_ids")}
        for c in response.get_json()["clauses"]
    ]
    headers = {"Authorization": f"Bearer {token}"}
    # The same clauses listed backwards: nothing they answer changes, so nothing answered gets a revision.
    same = client.patch(
        f"/v1/proposals/{US_RESPONSE}",
        json={"clauses": clauses[::-1]},
        headers=headers | {"If-Match": response.headers["ETag"]},
    )
    assert same.status_code == 200
    assert client.get(f"/v1/clauses/{US_4}").get_json() == article
    # Points 1 and 2 trade places: the article lists its answers in their new document order, in one revision.
    swapped = [c | {"position": {1: 2, 2: 1}.get(c["position"], c["position"])} for c in clauses]
    moved = client.patch(
        f"/v1/proposals/{US_RESPONSE}",
        json={"clauses": swapped[::-1]},
        headers=headers | {"If-Match": same.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.get_json()
    after = client.get(f"/v1/clauses/{US_4}").get_json()
    assert after["answered_by_ids"] == [
        f"{REPLY}-core-elements-unanswered",
        f"{US_RESPONSE}-no-missiles-or-combat-forces-in-ukraine",
        f"{US_RESPONSE}-open-door",
    ]
    assert after["revision"] == article["revision"] + 1
