"""No URL the service writes depends on the request's Host: `Link` and `Location` are path-absolute
references, or absolute under PUBLIC_BASE_URL when it is set. (Through the caching nginx of
scripts/nginx.conf: tests/test_scale_out.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from api import create_app
from api.config import Settings
from api.http.auth import create_token
from tests.support import new_talk
from tests.test_fastpath import served_by_fast_path

FORGED = {
    "Host": "forged-host-7c1e.example:666",
    "X-Forwarded-Host": "forged-host-7c1e.example",
    "X-Forwarded-Proto": "gopher",
}
TALK = "geneva-strategic-stability-2022-01-10"


@pytest.fixture(scope="module")
def token(db) -> str:
    return create_token(db, f"urls-{uuid.uuid4().hex[:8]}", "write", None)


def next_target(link: str) -> str:
    assert link.startswith("<") and link.endswith('>; rel="next"'), link
    return link[1 : -len('>; rel="next"')]


@pytest.mark.parametrize(
    ("path", "fast"),
    [
        ("/v1/talks?limit=2", True),
        ("/v1/clauses?q=security&limit=1", True),
        ("/v1/talks?limit=2&sort=title", False),
        ("/v1/parties?member_of=nato&limit=3&fields=id", False),
        ("/v1/proposals/us-russia-security-treaty/clauses?limit=2", False),
        (f"/v1/talks/{TALK}/revisions?limit=1", False),
        ("/v1/sources?limit=2&format=csv", False),
    ],
)
def test_a_forged_host_does_not_reach_the_link(app, client, path, fast):
    assert served_by_fast_path(app, path, FORGED) is fast
    forged = client.get(path, headers=FORGED)
    honest = client.get(path, base_url="https://api.example.org:8443")
    assert forged.status_code == honest.status_code == 200
    assert forged.headers["Link"] == honest.headers["Link"]
    route, query = path.split("?")
    target = next_target(forged.headers["Link"])
    assert target.startswith(f"{route}?{query}&cursor=")  # path-absolute: the client's own origin applies
    assert client.get(target).status_code == 200


def assert_deleted(client, token: str, path: str, etag: str) -> None:
    """Deletes what a test created, so the shared database keeps only the seeded talks."""
    response = client.delete(path, headers={"Authorization": f"Bearer {token}", "If-Match": etag})
    assert response.status_code == 204


def test_a_forged_host_does_not_reach_the_location(client, token):
    talk_id = f"test-talk-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"key-{talk_id}", **FORGED}
    created = client.post("/v1/talks", json=new_talk(talk_id), headers=headers)
    replayed = client.post("/v1/talks", json=new_talk(talk_id), headers=headers | {"Host": "other.example"})
    assert (created.status_code, replayed.status_code) == (201, 201)
    assert created.headers["Location"] == replayed.headers["Location"] == f"/v1/talks/{talk_id}"
    assert_deleted(client, token, f"/v1/talks/{talk_id}", created.headers["ETag"])


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/docs",
        "/docs/swagger-initializer.js",
        "/v1/openapi.json",
        "/explore/",
        "/explore/timeline",
        "/explore/proposals/us-russia-security-treaty",
        f"/explore/talks/{TALK}/history?from=1&to=2",
        "/v1/talks?limit=1",
        "/v1/no-such-thing",
        "/v1/talks?colour=red",
    ],
)
def test_no_page_or_header_names_the_forged_host(client, path):
    response = client.get(path, headers=FORGED)
    assert response.status_code in (200, 400, 404)
    assert b"forged-host-7c1e.example" not in response.data
    assert not [value for _, value in response.headers.items() if "forged-host-7c1e.example" in value]


@pytest.fixture(scope="module")
def public_app(database_url: str) -> Iterator:
    app = create_app(
        Settings(
            database_url=database_url,
            rate_limit_reads=0,
            rate_limit_writes=0,
            public_base_url="https://api.example.org/proposals/",
        )
    )
    yield app
    app.extensions["db_pool"].close()


@pytest.mark.parametrize(("path", "fast"), [("/v1/talks?limit=2", True), ("/v1/talks?limit=2&sort=title", False)])
def test_with_a_public_base_url_links_are_absolute_under_it(public_app, path, fast):
    assert served_by_fast_path(public_app, path, FORGED) is fast
    response = public_app.test_client().get(path, headers=FORGED)
    assert next_target(response.headers["Link"]).startswith(f"https://api.example.org/proposals{path}&cursor=")


def test_with_a_public_base_url_the_location_is_absolute_under_it(public_app, token):
    client = public_app.test_client()
    talk_id = f"test-talk-{uuid.uuid4().hex[:8]}"
    created = client.post("/v1/talks", json=new_talk(talk_id), headers={"Authorization": f"Bearer {token}", **FORGED})
    assert created.status_code == 201
    assert created.headers["Location"] == f"https://api.example.org/proposals/v1/talks/{talk_id}"
    assert_deleted(client, token, f"/v1/talks/{talk_id}", created.headers["ETag"])


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("", ""),
        ("https://api.example.org", "https://api.example.org"),
        ("https://api.example.org/", "https://api.example.org"),
        ("http://127.0.0.1:8080/prefix/", "http://127.0.0.1:8080/prefix"),
    ],
)
def test_public_base_url_is_kept_without_its_trailing_slash(value, kept):
    assert Settings.from_env({"PUBLIC_BASE_URL": value}).public_base_url == kept


@pytest.mark.parametrize(
    "value", ["api.example.org", "ftp://api.example.org", "https://", "https://a.org/?x=1", "https://a.org/#top"]
)
def test_a_public_base_url_that_is_not_one_is_refused_at_start_up(value):
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL"):
        Settings.from_env({"PUBLIC_BASE_URL": value})
