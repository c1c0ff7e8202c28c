"""Statements and sources through HTTP."""


def test_every_statement_cites_sources_and_only_quotes_carry_a_quote(client):
    items = client.get("/v1/statements?limit=200").get_json()["items"]
    assert items
    for statement in items:
        assert statement["source_ids"]
        assert (statement["kind"] == "quote") == (statement["quote"] is not None)


def test_filter_statements_by_speaker_and_party(client):
    lavrov = client.get("/v1/statements?speaker=Sergey%20Lavrov").get_json()["items"]
    assert lavrov and all(s["speaker"] == "Sergey Lavrov" for s in lavrov)
    american = client.get("/v1/statements?party=united-states").get_json()["items"]
    assert [s["speaker"] for s in american] == ["Joe Biden"]


def test_get_source_and_list_sources(client):
    source = client.get("/v1/sources/sputnik-lavrov-security-guarantees").get_json()
    assert source["publisher"] == "Sputnik"
    assert source["published_on"] is None  # the copy we hold prints no date; its description says so
    listed = client.get("/v1/sources?limit=200").get_json()["items"]
    assert "sputnik-lavrov-security-guarantees" in [s["id"] for s in listed]
    assert all(s["description"] for s in listed)


def test_unknown_statement_and_source_are_404(client):
    assert client.get("/v1/statements/nobody-said-this").status_code == 404
    assert client.get("/v1/sources/nowhere").status_code == 404
