"""Talks through HTTP, as a client sees them."""

from tests.support import assert_problem

GENEVA = "geneva-strategic-stability-2022-01-10"


def test_list_talks_gives_the_january_2022_talks_with_date_and_place(client):
    response = client.get("/v1/talks")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["next_cursor"] is None
    january = [t for t in body["items"] if t["starts_on"].startswith("2022-01")]
    # The three rounds, then the Blinken-Lavrov call (no venue) and their meeting in Geneva.
    assert [t["starts_on"] for t in january] == ["2022-01-10", "2022-01-12", "2022-01-13", "2022-01-18", "2022-01-21"]
    assert [(t["location"] or "").split(",")[0] for t in january] == ["Geneva", "Brussels", "Vienna", "", "Geneva"]
    assert all(t["status"] == "held" for t in january)  # history.json: they took place
    starts = [t["starts_on"] for t in body["items"]]
    assert starts == sorted(starts)


def test_the_phone_call_is_already_held(client):
    talk = client.get("/v1/talks/putin-biden-call-2021-12-30").get_json()
    assert talk["format"] == "phone_call"
    assert talk["status"] == "held"
    assert talk["starts_on"] == "2021-12-30"


def test_get_talk_shows_its_fields_and_sources(client):
    response = client.get(f"/v1/talks/{GENEVA}")
    assert response.status_code == 200
    talk = response.get_json()
    assert list(talk) == [
        "id",
        "title",
        "format",
        "starts_on",
        "ends_on",
        "location",
        "status",
        "party_ids",
        "proposal_ids",
        "delegations",
        "chair",
        "summary",
        "source_ids",
        "revision",
        "updated_at",
    ]
    assert talk["party_ids"] == ["russia", "united-states"]
    assert "sputnik-lavrov-security-guarantees" in talk["source_ids"]
    assert talk["revision"] == 3  # history.json: held, then the working dinner of 9 January added
    assert response.headers["ETag"] == '"2.3"'


def test_filter_talks_by_party(client):
    ids = [t["id"] for t in client.get("/v1/talks?party=nato").get_json()["items"]]
    assert ids == ["nato-russia-council-2022-01-12"]


def test_filter_talks_by_date_range_is_inclusive(client):
    ids = [t["id"] for t in client.get("/v1/talks?since=2022-01-10&until=2022-01-12").get_json()["items"]]
    assert ids == [GENEVA, "nato-russia-council-2022-01-12"]


def test_filter_talks_by_status_and_proposal(client):
    held = client.get("/v1/talks?status=held").get_json()["items"]
    assert held[0]["id"] == "putin-biden-call-2021-12-30"
    assert all(t["status"] == "held" for t in held)
    assert client.get("/v1/talks?status=cancelled").get_json()["items"] == []
    on_treaty = client.get("/v1/talks?proposal=us-russia-security-treaty").get_json()["items"]
    assert GENEVA in [t["id"] for t in on_treaty]
    assert all("us-russia-security-treaty" in t["proposal_ids"] for t in on_treaty)


def test_unknown_talk_is_404_problem(client):
    assert assert_problem(client.get("/v1/talks/geneva-2030"), 404) == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No talk with id 'geneva-2030'.",
        "instance": "/v1/talks/geneva-2030",
    }


def test_malformed_date_filter_is_400_naming_the_parameter(client):
    response = client.get("/v1/talks?since=tomorrow")
    assert response.status_code == 400
    assert response.get_json()["errors"] == [{"parameter": "since", "detail": "Not a valid date."}]
