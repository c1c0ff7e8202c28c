"""Proposals and their clauses through HTTP."""

TREATY = "us-russia-security-treaty"
AGREEMENT = "russia-nato-security-agreement"


def test_get_proposal_includes_its_clauses_in_order(client):
    response = client.get(f"/v1/proposals/{TREATY}")
    assert response.status_code == 200
    proposal = response.get_json()
    assert (
        proposal["title"]
        == "Treaty between the United States of America and the Russian Federation on Security Guarantees"
    )
    assert proposal["proposer_id"] == "russia"
    assert proposal["addressee_ids"] == ["united-states"]
    assert (proposal["handed_over_on"], proposal["published_on"]) == ("2021-12-15", "2021-12-17")
    assert [c["label"] for c in proposal["clauses"]] == [f"Article {n}" for n in range(1, 9)]
    assert [c["position"] for c in proposal["clauses"]] == list(range(1, 9))
    assert all(c["proposal_id"] == TREATY and c["source_ids"] for c in proposal["clauses"])


def test_nato_agreement_has_nine_articles_addressed_to_nato_and_its_members(client):
    proposal = client.get(f"/v1/proposals/{AGREEMENT}").get_json()
    assert len(proposal["clauses"]) == 9
    assert "nato" in proposal["addressee_ids"]
    assert len(proposal["addressee_ids"]) == 31


def test_article_5_of_the_treaty_carries_the_seed_quote(client):
    clause = client.get(f"/v1/clauses/{TREATY}-article-5").get_json()
    assert clause["excerpts"] == [
        {
            "text": clause["excerpts"][0]["text"],
            "source_id": "sputnik-lavrov-security-guarantees",
        }
    ]
    assert clause["excerpts"][0]["text"].startswith("The Parties shall refrain from deploying their armed forces")


def test_list_proposals_filters_by_proposer_and_party(client):
    by_russia = [p["id"] for p in client.get("/v1/proposals?proposer=russia").get_json()["items"]]
    assert by_russia == sorted([AGREEMENT, TREATY, "russia-reply-2022-02-17"])
    for_us = [p["id"] for p in client.get("/v1/proposals?party=united-states").get_json()["items"]]
    assert TREATY in for_us and AGREEMENT in for_us  # the US is an addressee of both
    assert client.get("/v1/proposals?proposer=ukraine").get_json()["items"] == []


def test_proposal_clauses_subresource_lists_them_in_order(client):
    response = client.get(f"/v1/proposals/{AGREEMENT}/clauses?limit=4")
    assert response.status_code == 200
    body = response.get_json()
    assert [c["position"] for c in body["items"]] == [1, 2, 3, 4]
    assert body["next_cursor"]
    assert response.headers["Link"].endswith('; rel="next"')
    rest = client.get(f"/v1/proposals/{AGREEMENT}/clauses?limit=10&cursor={body['next_cursor']}")
    assert rest.status_code == 200
    assert [c["position"] for c in rest.get_json()["items"]] == [5, 6, 7, 8, 9]
    assert rest.get_json()["next_cursor"] is None
    assert "Link" not in rest.headers


def test_clauses_of_unknown_proposal_is_404(client):
    response = client.get("/v1/proposals/no-such-draft/clauses")
    assert response.status_code == 404
    assert response.get_json()["detail"] == "No proposal with id 'no-such-draft'."
