"""MAX_PAGE_SIZE and DEFAULT_PAGE_SIZE govern `limit` on every list, on the fast path and in Flask."""

from __future__ import annotations

import pytest

from api import create_app
from api.config import Settings

TALK = "geneva-strategic-stability-2022-01-10"


@pytest.fixture
def serve(database_url):
    """A client of an app with the given page sizes; its pool closed afterwards."""
    apps = []

    def make(**sizes: int):
        app = create_app(Settings(database_url=database_url, rate_limit_reads=1_000_000, **sizes))
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["db_pool"].close()


def refused_limit(response, maximum: int) -> None:
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"] == [
        {"parameter": "limit", "detail": f"Must be greater than or equal to 1 and less than or equal to {maximum}."}
    ]


def test_a_larger_maximum_allows_larger_pages(serve):
    client = serve(max_page_size=500)
    for path in (
        "/v1/talks?limit=300",
        "/v1/parties?limit=300",
        "/v1/clauses?limit=500",
        f"/v1/talks/{TALK}/revisions?limit=300",
    ):
        assert client.get(path).status_code == 200, path
    parties = client.get("/v1/parties?limit=300").get_json()
    assert len(parties["items"]) > 30 and parties["next_cursor"] is None  # NATO's 30 and the others, in one page
    refused_limit(client.get("/v1/parties?limit=501"), 500)
    refused_limit(client.get("/v1/talks?limit=501"), 500)


def test_a_smaller_maximum_refuses_larger_pages(serve):
    client = serve(max_page_size=10, default_page_size=10)
    for path in (
        "/v1/talks?limit=100",
        "/v1/parties?limit=100",
        "/v1/clauses?limit=11",
        f"/v1/talks/{TALK}/revisions?limit=11",
    ):
        refused_limit(client.get(path), 10)
    assert len(client.get("/v1/parties?limit=10").get_json()["items"]) == 10


def test_the_default_page_size_applies_when_limit_is_omitted(serve):
    client = serve(default_page_size=2)  # every list below has more than two items
    for path in ("/v1/talks", "/v1/clauses", "/v1/parties", "/v1/parties?kind=state", f"/v1/talks/{TALK}/revisions"):
        page = client.get(path).get_json()
        assert len(page["items"]) == 2, path
        assert page["next_cursor"] is not None, path
    assert client.get("/v1/parties").get_json()["next_cursor"] is not None


def test_the_default_settings_match_the_document(client):
    refused_limit(client.get("/v1/parties?limit=201"), 200)
    assert client.get("/v1/parties?limit=200").status_code == 200


@pytest.mark.parametrize(("default", "maximum"), [(0, 200), (201, 200), (20, 10)])
def test_page_sizes_that_contradict_each_other_are_refused_at_start(default, maximum):
    with pytest.raises(ValueError, match="DEFAULT_PAGE_SIZE"):
        Settings(default_page_size=default, max_page_size=maximum)
