"""The HTML explorer, through the Flask client: what each page shows, escaping, and 404s."""

import re

import pytest

TREATY = "us-russia-security-treaty"


def test_the_index_lists_every_proposal_with_links(client):
    page = client.get("/explore/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert f'href="/explore/proposals/{TREATY}"' in html
    assert 'href="/explore/proposals/russia-nato-security-agreement"' in html


def test_a_proposal_shows_each_clause_with_our_summary_beside_the_quoted_words(client):
    item = client.get(f"/v1/proposals/{TREATY}").get_json()
    html = client.get(f"/explore/proposals/{TREATY}").get_data(as_text=True)
    rows = re.findall(r'<tr id="([a-z0-9-]+)">(.*?)</tr>', html, re.DOTALL)
    assert [clause_id for clause_id, _ in rows] == [clause["id"] for clause in item["clauses"]]
    article_5 = dict(rows)[f"{TREATY}-article-5"]
    clause = item["clauses"][4]
    assert clause["summary"] in article_5
    assert clause["excerpts"] and all(excerpt["text"] in article_5 for excerpt in clause["excerpts"])
    for source_id in item["source_ids"]:
        assert f'id="source-{source_id}"' in html


def test_the_timeline_orders_talks_and_statements_by_date(client):
    html = client.get("/explore/timeline").get_data(as_text=True)
    dates = re.findall(r"<tr class=\"(?:talk|statement)\">\s*<td>([^<]+)</td>", html)
    dated = [date for date in dates if date != "undated"]
    assert dated == sorted(dated) and len(dates) > 10
    assert "Geneva, US mission" in html and "Sergey Lavrov" in html
    assert dates[len(dated) :] == ["undated"] * (len(dates) - len(dated))  # undated statements come last


def test_history_compares_two_revisions_field_by_field(client):
    html = client.get("/explore/talks/geneva-strategic-stability-2022-01-10/history").get_data(as_text=True)
    assert "Revision 1 → revision 2" in html
    diff = html[html.index('<table id="diff">') :]
    assert "<td>status</td>" in diff and "scheduled" in diff and "held" in diff
    assert "<td>location</td>" in diff and "Geneva, US mission" in diff
    same = client.get("/explore/talks/geneva-strategic-stability-2022-01-10/history?from=2&to=2")
    assert "Only one revision" in same.get_data(as_text=True)


def test_a_proposals_history_names_changed_clauses(client):
    html = client.get(f"/explore/proposals/{TREATY}/history?from=1&to=1").get_data(as_text=True)
    assert '<table id="revisions">' in html


@pytest.mark.parametrize(
    "path",
    [
        "/explore/proposals/no-such-proposal",
        "/explore/proposals/%3Cscript%3E",
        "/explore/nothing/nato/history",
        "/explore/talks/no-such-talk/history",
        "/explore/talks/geneva-strategic-stability-2022-01-10/history?to=99",
        "/explore/talks/geneva-strategic-stability-2022-01-10/history?from=x",
    ],
)
def test_unknown_things_are_a_plain_404_page(client, path):
    page = client.get(path)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "Not found" in page.get_data(as_text=True) and "Traceback" not in page.get_data(as_text=True)


def test_text_from_the_data_is_escaped(client, db):
    db.execute(
        "UPDATE talks SET doc = jsonb_set(doc::jsonb, '{summary}', to_jsonb('<script>alert(1)</script>'::text))::json "
        "WHERE id = 'osce-russia-consultations-2022-01-13' RETURNING id"
    )
    try:
        html = client.get("/explore/timeline").get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    finally:
        db.execute(
            "UPDATE talks SET doc = (SELECT snapshot FROM revisions WHERE collection = 'talks' "
            "AND item_id = 'osce-russia-consultations-2022-01-13' ORDER BY revision DESC LIMIT 1) "
            "WHERE id = 'osce-russia-consultations-2022-01-13'"
        )
