"""Parties and memberships through HTTP."""


def test_nato_lists_its_30_members_of_december_2021(client):
    nato = client.get("/v1/parties/nato").get_json()
    assert nato["kind"] == "alliance"
    assert len(nato["members"]) == 30
    assert {"united-states", "turkey", "north-macedonia", "poland"} <= set(nato["members"])
    assert "russia" not in nato["members"]


def test_member_of_filter_agrees_with_members(client):
    nato = client.get("/v1/parties/nato").get_json()
    listed = client.get("/v1/parties?member_of=nato&limit=200").get_json()["items"]
    assert [p["id"] for p in listed] == nato["members"]
    assert all("nato" in p["member_of"] for p in listed)


def test_filter_parties_by_kind(client):
    kinds = {p["id"]: p["kind"] for p in client.get("/v1/parties?kind=organization").get_json()["items"]}
    assert kinds == {"osce": "organization"}


def test_every_party_article_names_is_there(client):
    for party_id in ("russia", "united-states", "nato", "osce", "ukraine"):
        assert client.get(f"/v1/parties/{party_id}").status_code == 200


def test_walking_pages_of_parties_sees_each_once(client):
    seen, url = [], "/v1/parties?limit=7"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        body = response.get_json()
        assert len(body["items"]) <= 7
        seen += [p["id"] for p in body["items"]]
        url = f"/v1/parties?limit=7&cursor={body['next_cursor']}" if body["next_cursor"] else None
    assert len(seen) == len(set(seen)) == 34
    assert seen == sorted(seen)


def test_unknown_kind_is_400(client):
    response = client.get("/v1/parties?kind=empire")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["parameter"] == "kind"
