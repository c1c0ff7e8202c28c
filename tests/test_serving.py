"""The production server as a user starts it: `proposals-api serve` (granian, 2 workers)."""

import json
import urllib.request


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_live_server_serves_talks_with_etags_and_304(live_server):
    status, headers, body = fetch(f"{live_server}/v1/talks")
    assert status == 200
    assert headers["content-type"] == "application/json"
    seeded = {
        "putin-biden-call-2021-12-30",
        "geneva-strategic-stability-2022-01-10",
        "nato-russia-council-2022-01-12",
        "osce-russia-consultations-2022-01-13",
    }
    assert seeded <= {talk["id"] for talk in json.loads(body)["items"]}  # other tests may have added more
    status, again, body = fetch(f"{live_server}/v1/talks", {"If-None-Match": headers["etag"]})
    assert (status, again["etag"], body) == (304, headers["etag"], b"")


def test_live_server_answers_problem_json_for_unknown_ids(live_server):
    status, headers, body = fetch(f"{live_server}/v1/proposals/nope")
    assert status == 404
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["detail"] == "No proposal with id 'nope'."


def test_many_requests_in_a_row_all_succeed(live_server):
    statuses = {fetch(f"{live_server}/v1/proposals/us-russia-security-treaty")[0] for _ in range(50)}
    assert statuses == {200}
