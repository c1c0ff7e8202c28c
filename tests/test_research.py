"""Researcher queries: full-text search, filters, sparse fields, CSV."""

import csv
import io

import pytest


def test_search_clauses_ranks_matches_with_highlighted_snippets(client):
    response = client.get("/v1/clauses?q=deploy&limit=20")
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert items[0]["id"] == "us-russia-security-treaty-article-5"  # its quoted words say "deploying" three times
    ranks = [item["search"]["rank"] for item in items]
    assert ranks == sorted(ranks, reverse=True)
    assert "<mark>deploying</mark>" in items[0]["search"]["snippet"]
    assert all("search" not in item for item in client.get("/v1/clauses?limit=5").get_json()["items"])


def test_search_understands_phrases_or_and_minus(client):
    def ids(query: str) -> set[str]:
        return {
            item["id"]
            for item in client.get("/v1/clauses", query_string={"q": query, "limit": 200}).get_json()["items"]
        }

    nuclear, missiles = ids("nuclear"), ids("missiles")
    assert nuclear and missiles
    assert ids("nuclear or missiles") == nuclear | missiles
    assert ids("missiles -nuclear") == missiles - nuclear
    assert ids('"peaceful means"') == {"russia-nato-security-agreement-article-1"}
    assert ids("the") == set()  # only a stop word: nothing to match


def test_search_pages_walk_every_hit_once(client):
    everything = [i["id"] for i in client.get("/v1/clauses?q=security&limit=200").get_json()["items"]]
    walked, url = [], "/v1/clauses?q=security&limit=2"
    while url:
        body = client.get(url).get_json()
        walked += [i["id"] for i in body["items"]]
        url = f"/v1/clauses?q=security&limit=2&cursor={body['next_cursor']}" if body["next_cursor"] else None
    assert walked == everything and len(everything) > 2


def test_search_statements(client):
    items = client.get("/v1/statements?q=military").get_json()["items"]
    assert [item["speaker"] for item in items] == ["Sergey Lavrov"]
    assert "<mark>military</mark>" in items[0]["search"]["snippet"]


def test_clause_filters_topic_party_and_quoted(client):
    quoted = client.get("/v1/clauses?quoted=true&limit=200").get_json()["items"]
    assert quoted and all(item["excerpts"] for item in quoted)
    unquoted = client.get("/v1/clauses?quoted=false&limit=200").get_json()["items"]
    assert unquoted and not any(item["excerpts"] for item in unquoted)
    enlargement = client.get("/v1/clauses?topic=nato-enlargement").get_json()["items"]
    assert enlargement and all("nato-enlargement" in item["topics"] for item in enlargement)
    us_only = client.get("/v1/clauses?party=united-states&proposal=us-russia-security-treaty").get_json()["items"]
    assert len(us_only) == 8 and all("united-states" in item["obligated_party_ids"] for item in us_only)


def test_statement_date_filter(client):
    """since/until keep the statements that may have been made in the range (their possible days meet it)."""
    on_the_call = client.get("/v1/statements?since=2021-12-30&until=2021-12-30").get_json()["items"]
    assert on_the_call and all(item["said_earliest"] <= "2021-12-30" <= item["said_latest"] for item in on_the_call)
    assert "2021-12-30" in {item["said_on"] for item in on_the_call}


def test_sparse_fields_on_items_and_lists(client):
    full = client.get("/v1/talks/geneva-strategic-stability-2022-01-10")
    sparse = client.get("/v1/talks/geneva-strategic-stability-2022-01-10?fields=id,status,starts_on")
    assert sparse.get_json() == {
        "id": "geneva-strategic-stability-2022-01-10",
        "starts_on": "2022-01-10",
        "status": "held",
    }
    assert sparse.headers["ETag"] != full.headers["ETag"]
    assert client.get(sparse.request.url, headers={"If-None-Match": sparse.headers["ETag"]}).status_code == 304
    assert client.get(sparse.request.url, headers={"If-None-Match": full.headers["ETag"]}).status_code == 200
    listed = client.get("/v1/parties?fields=id,kind&limit=3").get_json()["items"]
    assert listed == [{"id": i["id"], "kind": i["kind"]} for i in client.get("/v1/parties?limit=3").get_json()["items"]]


def test_unknown_field_is_400_naming_it(client):
    response = client.get("/v1/talks?fields=id,colour")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["parameter"] == "fields"


@pytest.mark.parametrize("how", [{"query_string": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}])
def test_lists_as_csv(client, how):
    response = client.get("/v1/talks", **how)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8; header=present"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    json_items = client.get("/v1/talks").get_json()["items"]
    assert [row["id"] for row in rows] == [item["id"] for item in json_items]
    geneva = next(row for row in rows if row["id"].startswith("geneva"))
    assert geneva["party_ids"] == "russia;united-states"
    assert geneva["chair"] == ""
    assert geneva["delegations"].startswith('[{"party_id":"united-states"')
    assert response.headers["ETag"].endswith(';csv"')


def test_csv_pages_and_keeps_filters(client):
    response = client.get("/v1/parties?member_of=nato&limit=5&format=csv&fields=id,name")
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "id,name"
    assert len(lines) == 6
    assert "format=csv" in response.headers["Link"] and "member_of=nato" in response.headers["Link"]


def test_csv_quotes_commas_quotes_and_unicode(client):
    text = client.get("/v1/statements?format=csv&fields=id,quote&speaker=Sergey%20Lavrov").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    quotes = {row[1] for row in rows[1:]}
    assert any("," in quote for quote in quotes)  # survived quoting intact
    json_quotes = {s["quote"] or "" for s in client.get("/v1/statements?speaker=Sergey%20Lavrov").get_json()["items"]}
    assert quotes == json_quotes


@pytest.mark.parametrize("path", ["/v1/talks", "/v1/talks/geneva-strategic-stability-2022-01-10"])
def test_unacceptable_media_type_is_406(client, path):
    response = client.get(path, headers={"Accept": "application/xml"})
    assert response.status_code == 406
    assert response.mimetype == "application/problem+json"


def test_items_are_not_offered_as_csv(client):
    assert (
        client.get("/v1/talks/geneva-strategic-stability-2022-01-10", headers={"Accept": "text/csv"}).status_code == 406
    )


@pytest.mark.parametrize(
    "value", ["'; DROP TABLE clauses; --", "%", "_", "\\\\", "a" * 10_000, "x\\x00y", "!!!", "(", "&|"]
)
@pytest.mark.parametrize("param", ["q", "topic", "party", "proposal", "fields", "sort"])
def test_hostile_values_get_400_or_an_empty_result(client, param, value):
    response = client.get("/v1/clauses", query_string={param: value})
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    if response.status_code == 200:
        assert response.get_json()["items"] == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/talks", "starts_on"),
        ("/v1/parties", "name"),
        ("/v1/sources", "publisher"),
        ("/v1/proposals", "title"),
        ("/v1/statements", "speaker"),
    ],
)
def test_sort_both_ways_and_walk_sorted_pages(client, path, field):
    def walk(sort: str) -> list[dict]:
        items, cursor = [], None
        while True:
            body = client.get(
                path, query_string={"sort": sort, "limit": 3} | ({"cursor": cursor} if cursor else {})
            ).get_json()
            items += body["items"]
            cursor = body["next_cursor"]
            if cursor is None:
                return items

    ascending, descending = walk(field), walk(f"-{field}")
    key = [(item[field], item["id"]) for item in ascending]
    assert key == sorted(key)
    assert [item["id"] for item in descending] == [item["id"] for item in reversed(ascending)]


def test_unknown_sort_field_is_400_and_cursors_keep_their_sort(client):
    response = client.get("/v1/talks?sort=colour")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["parameter"] == "sort"
    cursor = client.get("/v1/parties?sort=name&limit=2").get_json()["next_cursor"]
    assert client.get(f"/v1/parties?sort=-name&limit=2&cursor={cursor}").status_code == 400


FILTERS = {
    "/v1/talks": ["party", "proposal", "status", "since", "until", "sort", "fields", "cursor", "limit", "format"],
    "/v1/proposals": ["proposer", "party", "status", "sort", "fields", "cursor"],
    "/v1/statements": ["q", "party", "speaker", "proposal", "talk", "since", "until", "sort", "fields", "cursor"],
    "/v1/parties": ["kind", "member_of", "sort", "fields", "cursor"],
    "/v1/sources": ["publisher", "sort", "fields", "cursor"],
    "/v1/proposals/us-russia-security-treaty/clauses": ["fields", "cursor", "format"],
    "/v1/talks/geneva-strategic-stability-2022-01-10": ["as_of", "fields"],
    "/v1/talks/geneva-strategic-stability-2022-01-10/revisions": ["cursor", "limit"],
}
HOSTILE = ["'; DROP TABLE talks; --", "%", "_", "\\", "a" * 10_000, "x\x00y", '"', "1 OR 1=1", "ü∂ƒ"]


@pytest.mark.parametrize(("path", "param"), [(path, param) for path, params in FILTERS.items() for param in params])
def test_hostile_values_in_every_filter_never_reach_5xx(client, path, param):
    for value in HOSTILE:
        response = client.get(path, query_string={param: value})
        assert response.status_code in (200, 400), (value[:20], response.get_data(as_text=True)[:300])
        if response.status_code == 200 and "items" in (body := response.get_json()):
            assert body["items"] == []
