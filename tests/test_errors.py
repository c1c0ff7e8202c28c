"""One error shape, RFC 9457 problem+json, for every kind of failure a client can cause."""

import pytest

from tests.support import assert_problem


def test_unknown_path_is_404_problem(client):
    body = assert_problem(client.get("/v1/treaties"), 404)
    assert body["instance"] == "/v1/treaties"


def test_unsupported_method_is_405_with_allow(client):
    response = client.delete("/v1/talks")
    assert_problem(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD", "OPTIONS"}


def test_unknown_query_parameter_is_400_naming_it(client):
    body = assert_problem(client.get("/v1/proposals?title=Treaty"), 400)
    assert body["errors"] == [{"parameter": "title", "detail": "Unknown field."}]


@pytest.mark.parametrize("limit", ["0", "201", "1.5", "abc", "", "99999999999999999999999"])
def test_bad_limit_is_400(client, limit):
    body = assert_problem(client.get(f"/v1/talks?limit={limit}"), 400)
    assert body["errors"][0]["parameter"] == "limit"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/talks/..",
        "/v1/talks/%2F",
        "/v1/talks/" + "a" * 10_000,
        "/v1/talks/gen%C3%A8ve",
        "/v1/talks/GENEVA",
        "/v1/talks/'%20OR%201=1--",
    ],
)
def test_odd_ids_are_404(client, path):
    assert_problem(client.get(path), 404)


@pytest.mark.parametrize("value", ["'; DROP TABLE talks; --", "%", "_", "\\", "a" * 10_000, "x\x00y"])
def test_hostile_filter_values_are_400_or_empty(client, value):
    response = client.get("/v1/talks", query_string={"party": value})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.get_json()["items"] == []
    response = client.get("/v1/statements", query_string={"speaker": value})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.get_json()["items"] == []


@pytest.mark.parametrize("cursor", ["abc", "eyJrIjpbXX0", "x" * 1001, "' OR 1=1 --"])
def test_forged_cursor_is_400(client, cursor):
    body = assert_problem(client.get("/v1/talks", query_string={"cursor": cursor}), 400)
    assert body["errors"][0]["parameter"] == "cursor"


def test_tampered_cursor_is_400(client):
    cursor = client.get("/v1/parties?limit=2").get_json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    assert_problem(client.get(f"/v1/parties?limit=2&cursor={tampered}"), 400)


def test_cursor_is_not_valid_under_other_filters_or_lists(client):
    cursor = client.get("/v1/parties?limit=2").get_json()["next_cursor"]
    assert client.get(f"/v1/parties?limit=2&cursor={cursor}").status_code == 200
    assert_problem(client.get(f"/v1/parties?limit=2&kind=state&cursor={cursor}"), 400)
    assert_problem(client.get(f"/v1/sources?limit=2&cursor={cursor}"), 400)


def test_error_responses_are_not_cached(client):
    assert client.get("/v1/talks/nope").headers["Cache-Control"] == "no-store"
