"""History as a resource: revisions, as-of reads and diffs, on the bundled dataset."""

import jsonpatch

from api.resources.revisions import keyed_clauses

GENEVA = "/v1/talks/geneva-strategic-stability-2022-01-10"


def test_geneva_as_of_new_year_is_scheduled_per_the_seed_article(client):
    response = client.get(f"{GENEVA}?as_of=2022-01-01T00:00:00Z")
    assert response.status_code == 200
    talk = response.get_json()
    assert (talk["status"], talk["revision"]) == ("scheduled", 1)
    assert {d["party_id"]: d["head"] for d in talk["delegations"]} == {
        "russia": "Sergei Ryabkov",  # announced by the Russian Foreign Ministry on 30 December 2021
        "united-states": "Wendy Sherman",
    }
    assert talk["source_ids"][0] == "sputnik-lavrov-security-guarantees"
    assert response.headers["ETag"] == '"2.1"'


def test_geneva_today_is_held_with_sherman_and_ryabkov_leading(client):
    talk = client.get(GENEVA).get_json()
    assert talk["status"] == "held"
    assert talk["revision"] == 3  # the 9 January working dinner added to its summary (data/README.md)
    assert talk["updated_at"] == "2022-01-10T23:00:00Z"  # the end of the meeting's day in Geneva
    heads = {d["party_id"]: d["head"] for d in talk["delegations"]}
    assert heads == {"united-states": "Wendy Sherman", "russia": "Sergei Ryabkov"}
    assert len(talk["source_ids"]) > 1


def test_revisions_list_all_newest_first_with_their_sources(client):
    response = client.get(f"{GENEVA}/revisions")
    assert response.status_code == 200
    revisions = response.get_json()["items"]
    assert [r["revision"] for r in revisions] == [3, 2, 1]
    assert [r["valid_from"] for r in revisions] == [
        "2022-01-10T23:00:00Z",
        "2022-01-10T23:00:00Z",
        "2021-12-31T07:52:00Z",
    ]
    assert all(r["actor"] == "seed" and r["note"] for r in revisions)
    assert revisions[2]["item"]["source_ids"][0] == "sputnik-lavrov-security-guarantees"
    assert set(revisions[2]["item"]["source_ids"]) < set(revisions[1]["item"]["source_ids"])
    assert set(revisions[1]["item"]["source_ids"]) <= set(revisions[0]["item"]["source_ids"])
    assert all(r["deleted"] is False for r in revisions)


def test_one_revision_is_immutable_and_cacheable(client):
    response = client.get(f"{GENEVA}/revisions/1")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.get_json()["item"]["status"] == "scheduled"
    assert client.get(f"{GENEVA}/revisions/4").status_code == 404
    assert client.get(f"{GENEVA}/revisions/0").status_code == 404
    assert client.get(f"{GENEVA}/revisions/{2**70}").status_code == 404


def test_diff_is_the_json_patch_of_exactly_what_changed(client):
    response = client.get(f"{GENEVA}/revisions/2/diff?from=1")
    assert response.status_code == 200
    assert response.mimetype == "application/json-patch+json"
    patch = response.get_json()
    changed = {op["path"].split("/")[1] for op in patch}
    assert {"status", "title", "location", "revision", "updated_at"} <= changed
    assert not changed & {"id", "party_ids", "starts_on", "proposal_ids"}
    old = client.get(f"{GENEVA}/revisions/1").get_json()["item"]
    new = client.get(f"{GENEVA}/revisions/2").get_json()["item"]
    assert jsonpatch.apply_patch(old, patch) == new
    assert client.get(f"{GENEVA}/revisions/2/diff").get_json() == patch  # from defaults to the one before


def test_diff_of_revision_1_builds_it_from_nothing(client):
    patch = client.get(f"{GENEVA}/revisions/1/diff").get_json()
    assert jsonpatch.apply_patch({}, patch) == client.get(f"{GENEVA}/revisions/1").get_json()["item"]


def test_as_of_before_the_item_existed_is_404(client):
    response = client.get(f"{GENEVA}?as_of=2021-01-01T00:00:00Z")
    assert response.status_code == 404
    assert "did not exist yet" in response.get_json()["detail"]


def test_as_of_needs_a_time_zone(client):
    response = client.get(f"{GENEVA}?as_of=2022-01-01T00:00:00")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["parameter"] == "as_of"


def test_the_written_responses_are_new_records_of_january_2022(client):
    us = client.get("/v1/proposals/us-written-response-2022-01-26").get_json()
    assert (us["document_type"], us["status"], us["handed_over_on"]) == ("written_response", "delivered", "2022-01-26")
    assert us["in_response_to"]
    assert client.get("/v1/proposals/us-written-response-2022-01-26?as_of=2022-01-20T00:00:00Z").status_code == 404
    reply = client.get("/v1/proposals/russia-reply-2022-02-17").get_json()
    assert reply["in_response_to"] == ["us-written-response-2022-01-26"]


def test_revisions_of_an_unknown_item_are_404(client):
    assert client.get("/v1/talks/nowhere-2030/revisions").status_code == 404
    assert client.get("/v1/talks/nowhere-2030/revisions/1").status_code == 404


def test_keyed_clauses_names_clauses_by_id():
    item = {"id": "p", "clauses": [{"id": "a", "position": 1}, {"id": "b", "position": 2}]}
    assert keyed_clauses(item)["clauses"] == {"a": {"id": "a", "position": 1}, "b": {"id": "b", "position": 2}}
    assert item["clauses"][0]["id"] == "a"  # the original is left alone
