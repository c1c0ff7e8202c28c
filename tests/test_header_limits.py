"""Header fields are bounded: 431 problem+json past 8 KiB in one field or 32 KiB in all, before
anything parses them; an Accept header with too many media ranges is 400 before it is parsed;
and granian refuses a head past its own buffer before Python sees it."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import pytest

from api.http.headers import HEAD_BUFFER_BYTES, MAX_FIELD_BYTES, MAX_FIELDS_BYTES
from api.http.negotiation import MAX_ACCEPT_PARAMETERS, MAX_MEDIA_RANGES

TALK = "/v1/talks/geneva-strategic-stability-2022-01-10"
# Sixty kilobytes of media ranges: parsing it took 85-150 ms of CPU before it was bounded.
HUGE_ACCEPT = ",".join(f"text/x-{i};q=0.{i % 10}" for i in range(6000))[:60_000]


def assert_431(response, header: str | None = None) -> None:
    assert response.status_code == 431
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["title"] == "Request Header Fields Too Large"
    if header is not None:
        assert f"The {header} header is" in problem["detail"]
    assert response.headers["X-Request-ID"] and response.headers["Cache-Control"] == "no-store"


def test_a_60_kb_accept_is_refused_quickly_and_clearly(client):
    client.get("/v1/talks?status=held", headers={"Accept": HUGE_ACCEPT})  # warm up
    started = time.process_time()
    for _ in range(20):
        response = client.get("/v1/talks?status=held", headers={"Accept": HUGE_ACCEPT})
        assert_431(response, "Accept")
    # Parsed, each cost 85 ms or more of CPU here; refused unparsed, well under a millisecond.
    assert time.process_time() - started < 0.5


@pytest.mark.parametrize("path", ["/v1/talks", TALK, "/v1/talks?status=held", "/healthz", "/explore/"])
def test_one_field_over_8_kib_is_431_on_every_kind_of_route(client, path):
    response = client.get(path, headers={"If-None-Match": '"2.1", ' + "x" * MAX_FIELD_BYTES})
    assert_431(response, "If-None-Match")
    assert response.get_json()["detail"].endswith(f"at most {MAX_FIELD_BYTES} are accepted.")


def test_a_field_of_exactly_8_kib_passes(client):
    response = client.get("/v1/talks", headers={"X-Padding": "x" * MAX_FIELD_BYTES})
    assert response.status_code == 200


def test_fields_over_32_kib_together_are_431(client):
    padding = {f"X-Padding-{n}": "x" * (MAX_FIELD_BYTES - 100) for n in range(MAX_FIELDS_BYTES // MAX_FIELD_BYTES + 1)}
    response = client.get("/v1/talks", headers=padding)
    assert_431(response)
    assert "The header fields add up to" in response.get_json()["detail"]
    del padding["X-Padding-0"]
    assert client.get("/v1/talks", headers=padding).status_code == 200  # four of them fit


def test_a_write_with_a_huge_header_is_431_before_its_token_is_looked_at(client):
    response = client.patch(TALK, headers={"Authorization": "Bearer " + "x" * MAX_FIELD_BYTES}, data=b"{")
    assert_431(response, "Authorization")
    assert "WWW-Authenticate" not in response.headers


def test_an_accept_with_too_many_media_ranges_is_400_naming_it(client):
    many = ",".join(f"text/x-{i}" for i in range(MAX_MEDIA_RANGES)) + ",application/json"
    response = client.get("/v1/talks?status=held", headers={"Accept": many})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"] == [{"parameter": "Accept", "detail": "Too many media ranges or parameters."}]
    enough = ",".join(f"text/x-{i}" for i in range(MAX_MEDIA_RANGES - 1)) + ",application/json"
    assert client.get("/v1/talks?status=held", headers={"Accept": enough}).status_code == 200


def test_an_accept_with_too_many_parameters_is_400(client):
    many = "application/json;" + ";".join(f"p{i}=v" for i in range(MAX_ACCEPT_PARAMETERS + 1))
    response = client.get("/v1/talks?status=held", headers={"Accept": many})
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["parameter"] == "Accept"


def send(base: str, headers: dict[str, str], path: str = "/v1/talks") -> tuple[int, dict[str, str], bytes, float]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        started = time.monotonic()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body, time.monotonic() - started
    finally:
        conn.close()


def test_the_real_server_refuses_a_60_kb_accept_with_a_problem(live_server):
    status, headers, body, elapsed = send(live_server, {"Accept": HUGE_ACCEPT}, "/v1/talks?status=held")
    assert (status, headers["content-type"]) == (431, "application/problem+json")
    assert b"The Accept header is 60000 bytes long" in body
    assert elapsed < 2  # generous: refused at once, not after a parse


def test_the_real_server_refuses_a_head_past_its_buffer_before_python(live_server):
    status, headers, body, _ = send(live_server, {"X-Padding": "x" * (HEAD_BUFFER_BYTES * 2)})
    assert status == 431  # granian's own answer: no body, none of the app's headers
    assert body == b"" and "x-request-id" not in headers
    status, headers, _, _ = send(live_server, {})
    assert status == 200  # the server is fine afterwards
