"""ETags on every GET, derived from revisions, and 304 on a matching If-None-Match."""

import pytest

ITEMS = [
    "/v1/talks/geneva-strategic-stability-2022-01-10",
    "/v1/proposals/us-russia-security-treaty",
    "/v1/clauses/us-russia-security-treaty-article-5",
    "/v1/parties/nato",
    "/v1/statements",
    "/v1/sources/sputnik-lavrov-security-guarantees",
    "/v1/talks?party=russia",
    "/v1/proposals/us-russia-security-treaty/clauses",
]


IMMUTABLE_ROUTES = [
    "/v1/talks/geneva-strategic-stability-2022-01-10/revisions/1",
    "/v1/talks/geneva-strategic-stability-2022-01-10/revisions/2",
    "/v1/talks/geneva-strategic-stability-2022-01-10/revisions/2/diff",
    "/v1/talks/geneva-strategic-stability-2022-01-10/revisions/2/diff?from=1",
    "/v1/talks/geneva-strategic-stability-2022-01-10/revisions/1/diff",
    "/v1/proposals/us-russia-security-treaty/revisions/1",
    "/v1/parties/nato/revisions/1/diff",
]
MUTABLE, IMMUTABLE = "public, no-cache", "public, max-age=31536000, immutable"


@pytest.mark.parametrize(
    "path, cache_control", [*((path, MUTABLE) for path in ITEMS), *((path, IMMUTABLE) for path in IMMUTABLE_ROUTES)]
)
def test_get_has_etag_and_revalidates_to_304(client, path, cache_control):
    """Its own ETag, weak or in a list, or `*`, gets 304 with the ETag and no body; others get the body."""
    first = client.get(path)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first.headers["Cache-Control"] == cache_control
    for held in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(path, headers={"If-None-Match": held})
        assert again.status_code == 304, held
        assert again.headers["ETag"] == etag
        assert again.headers["Cache-Control"] == cache_control
        assert again.get_data() == b""
    other = client.get(path, headers={"If-None-Match": '"2.999", "2.7-8"'})
    assert other.status_code == 200 and other.get_data() == first.get_data()


@pytest.mark.parametrize("header", ['"2.999"', "garbage", '""', "W/"])
def test_non_matching_if_none_match_gets_the_body(client, header):
    response = client.get(ITEMS[0], headers={"If-None-Match": header})
    assert response.status_code == 200
    assert response.get_json()["id"] == "geneva-strategic-stability-2022-01-10"


def test_item_etag_is_its_revision(client):
    talk = client.get(ITEMS[0])
    assert talk.headers["ETag"] == f'"2.{talk.get_json()["revision"]}"'


def test_an_etag_of_the_older_representation_no_longer_matches(client):
    """Representation 2 added person ids, response lists and EDTF dates to the JSON: a client holding a
    body of representation 1 gets the new one, not a 304 for what it holds."""
    talk = client.get(ITEMS[0])
    older = f'"1.{talk.get_json()["revision"]}"'
    again = client.get(ITEMS[0], headers={"If-None-Match": older})
    assert again.status_code == 200 and again.headers["ETag"] != older


def test_list_etag_is_the_same_for_every_page_of_an_unchanged_collection(client):
    first = client.get("/v1/parties?limit=5")
    second = client.get(f"/v1/parties?limit=5&cursor={first.get_json()['next_cursor']}")
    assert first.headers["ETag"] == second.headers["ETag"]


def test_a_diff_from_another_revision_has_another_etag(client):
    base = "/v1/talks/geneva-strategic-stability-2022-01-10/revisions/2/diff"
    default, from_one = client.get(base).headers["ETag"], client.get(base + "?from=1").headers["ETag"]
    assert default == from_one  # `from` defaults to the revision before
    from_two = client.get(base + "?from=2")
    assert from_two.headers["ETag"] != default
    assert client.get(base + "?from=2", headers={"If-None-Match": default}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/talks/geneva-strategic-stability-2022-01-10/revisions/999",
        "/v1/talks/geneva-strategic-stability-2022-01-10/revisions/999/diff",
        "/v1/talks/no-such-talk/revisions/1",
        "/v1/talks/no-such-talk/revisions/1/diff",
    ],
)
def test_a_revision_that_does_not_exist_is_404_whatever_the_client_holds(client, path):
    """An ETag like "2.1" names revision 1 of anything: a 304 must not vouch for one that is not there."""
    assert client.get(path, headers={"If-None-Match": "*"}).status_code == 404
    assert client.get(path, headers={"If-None-Match": '"2.999", "2.998-999", "2.1"'}).status_code == 404


def test_the_openapi_document_has_an_etag_and_revalidates_to_304(client):
    first = client.get("/v1/openapi.json")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"openapi-') and first.headers["Cache-Control"] == "public, no-cache"
    assert first.get_json()["openapi"] == "3.1.0"
    assert client.get("/v1/openapi.json").headers["ETag"] == etag  # the same bytes, the same tag
    for held in (etag, f"W/{etag}", f'"2.1", {etag}'):
        again = client.get("/v1/openapi.json", headers={"If-None-Match": held})
        assert (again.status_code, again.headers["ETag"], again.get_data()) == (304, etag, b"")
        assert again.headers["Cache-Control"] == "public, no-cache"
    stale = client.get("/v1/openapi.json", headers={"If-None-Match": '"openapi-0"'})
    assert stale.status_code == 200 and stale.get_data() == first.get_data()


@pytest.mark.parametrize(
    "path", ["/", "/docs", "/docs/swagger-init.js", "/docs/assets/swagger-ui.css", "/docs/assets/swagger-ui-bundle.js"]
)
def test_the_docs_pages_and_assets_revalidate_to_304(client, path):
    first = client.get(path)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"].startswith("public")
    again = client.get(path, headers={"If-None-Match": etag})
    assert (again.status_code, again.headers["ETag"], again.get_data()) == (304, etag, b"")
