"""What responses tell caches: per-route Cache-Control, Vary, Last-Modified, and s-maxage for
shared caches when CACHE_SHARED_MAX_AGE is set."""

from email.utils import parsedate_to_datetime

from api import create_app
from api.config import Settings

TALK = "/v1/talks/geneva-strategic-stability-2022-01-10"


def test_items_revalidate_and_say_when_their_state_became_true(client):
    response = client.get(TALK)
    assert response.headers["Cache-Control"] == "public, no-cache"
    assert "Accept" in response.headers["Vary"]
    assert parsedate_to_datetime(response.headers["Last-Modified"]).isoformat() == "2022-01-10T23:00:00+00:00"
    then = client.get(TALK + "?as_of=2022-01-01T00:00:00Z")
    assert parsedate_to_datetime(then.headers["Last-Modified"]).isoformat() == "2021-12-31T07:52:00+00:00"


def test_revisions_are_immutable_and_errors_are_not_stored(client):
    assert client.get(TALK + "/revisions/1").headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get(TALK + "/revisions/2/diff").headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/v1/talks/no-such-talk").headers["Cache-Control"] == "no-store"
    assert "Accept" not in client.get("/docs").headers.get("Vary", "")


def test_lists_vary_by_accept(client):
    json_page, csv_page = client.get("/v1/talks"), client.get("/v1/talks", headers={"Accept": "text/csv"})
    assert json_page.headers["Vary"] == csv_page.headers["Vary"] == "Accept"
    assert json_page.headers["ETag"] != csv_page.headers["ETag"]


def test_a_shared_max_age_lets_caches_serve_without_asking(database_url):
    app = create_app(Settings(database_url=database_url, cache_shared_max_age=30))
    try:
        client = app.test_client()
        assert client.get(TALK).headers["Cache-Control"] == "public, max-age=0, s-maxage=30"
        assert client.get("/v1/talks").headers["Cache-Control"] == "public, max-age=0, s-maxage=30"
        assert client.get(TALK + "/revisions/1").headers["Cache-Control"] == "public, max-age=31536000, immutable"
    finally:
        app.extensions["db_pool"].close()
