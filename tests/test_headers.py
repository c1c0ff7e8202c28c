"""Headers on every response: request id, nosniff, CORS."""

import pytest


@pytest.mark.parametrize("path", ["/v1/talks", "/v1/talks/nope", "/", "/healthz"])
def test_every_response_has_a_request_id_and_nosniff(client, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert len(response.headers["X-Request-ID"]) == 32
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_a_well_formed_request_id_is_echoed_and_a_hostile_one_replaced(client):
    assert client.get("/v1/talks", headers={"X-Request-ID": "trace-42.a_b"}).headers["X-Request-ID"] == "trace-42.a_b"
    replaced = client.get("/v1/talks", headers={"X-Request-ID": "<script>" + "x" * 200}).headers["X-Request-ID"]
    assert replaced != "<script>" and len(replaced) == 32


def test_preflight_allows_what_writes_need(client):
    response = client.options(
        "/v1/talks/geneva-strategic-stability-2022-01-10",
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "PATCH"},
    )
    assert response.status_code == 200
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    assert "If-Match" in response.headers["Access-Control-Allow-Headers"]
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]
