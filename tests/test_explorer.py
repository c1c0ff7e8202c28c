"""The HTML explorer, through the Flask client: what each page shows, escaping, and 404s."""

import re

import pytest

from api.pages.explorer import compare

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
    dates = re.findall(r"<tr class=\"(?:talk|statement)\" id=\"[^\"]+\">\s*<td>([^<]+)</td>", html)
    dated = [date for date in dates if date != "undated"]
    assert dated == sorted(dated) and len(dates) > 10
    assert "Geneva, US mission" in html and "Sergey Lavrov" in html
    assert dates[len(dated) :] == ["undated"] * (len(dates) - len(dated))  # undated statements come last


def test_talks_statements_proposals_and_answers_link_to_one_another(client):
    """Every talk links the proposals on its table, every statement the proposals and talks it is about; a
    proposal page links back to them, to the documents that answer it, and each to the timeline's row."""
    timeline = client.get("/explore/timeline").get_data(as_text=True)
    for talk in client.get("/v1/talks?limit=100").get_json()["items"]:
        row = timeline.split(f'id="talk-{talk["id"]}"')[1].split("</tr>")[0]
        assert all(f'href="/explore/proposals/{p}"' in row for p in talk["proposal_ids"]), talk["id"]
    for statement in client.get("/v1/statements?limit=100").get_json()["items"]:
        row = timeline.split(f'id="statement-{statement["id"]}"')[1].split("</tr>")[0]
        assert all(f'href="/explore/proposals/{p}"' in row for p in statement["proposal_ids"]), statement["id"]
        assert all(f'href="#talk-{t}"' in row for t in statement["talk_ids"]), statement["id"]
    page = client.get(f"/explore/proposals/{TREATY}").get_data(as_text=True)
    on_the_table = client.get(f"/v1/talks?proposal={TREATY}&limit=100").get_json()["items"]
    about = client.get(f"/v1/statements?proposal={TREATY}&limit=100").get_json()["items"]
    assert on_the_table and about
    assert all(f'href="/explore/timeline#talk-{t["id"]}"' in page for t in on_the_table)
    assert all(f'href="/explore/timeline#statement-{s["id"]}"' in page for s in about)
    assert 'href="/explore/proposals/us-written-response-2022-01-26"' in page  # the document that answers it


def test_history_compares_two_revisions_field_by_field(client):
    html = client.get("/explore/talks/geneva-strategic-stability-2022-01-10/history?from=1&to=2").get_data(as_text=True)
    assert "Revision 1 → revision 2" in html
    diff = html[html.index('<table id="diff">') :]
    assert "<td>status</td>" in diff and "scheduled" in diff and "held" in diff
    assert "<td>location</td>" in diff and "Geneva, US mission" in diff
    assert "<td>title</td>" in diff and "<td>id</td>" not in diff  # only what changed
    same = client.get("/explore/talks/geneva-strategic-stability-2022-01-10/history?from=2&to=2")
    assert '<table id="diff">' not in same.get_data(as_text=True)
    assert "The same revision on both sides: nothing to compare." in same.get_data(as_text=True)


def test_history_lists_every_revision_with_when_it_was_recorded_and_a_form_to_pick_two(client, db):
    recorded = db.execute(
        "SELECT to_char(c.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM revisions r "
        "JOIN changesets c ON c.id = r.changeset_id "
        "WHERE r.collection = 'talks' AND r.item_id = 'geneva-strategic-stability-2022-01-10' ORDER BY r.revision"
    ).fetchall()
    html = client.get("/explore/talks/geneva-strategic-stability-2022-01-10/history").get_data(as_text=True)
    table = html[html.index('<table id="revisions">') : html.index("</table>")]
    assert re.findall(r'<tr title="recorded ([^"]+) UTC"><td>(\d+)', table) == [
        (when, str(number)) for number, (when,) in enumerate(recorded, start=1)
    ]
    assert "2021-12-31 07:52 UTC" in table and "2022-01-10 23:00 UTC" in table  # valid from
    form = html[html.index('<form method="get" id="compare"') : html.index("</form>")]
    assert re.findall(r'<select name="(\w+)">', form) == ["from", "to"]
    assert "<option selected>2</option>" in form and "<option selected>3</option>" in form  # the latest two


def test_an_item_with_one_revision_has_nothing_to_compare(client):
    # A source: since the answers (issue 16), each draft has later revisions showing what answered it.
    html = client.get("/explore/sources/aalep-nato-russia-agreement/history").get_data(as_text=True)
    assert "Only one revision: nothing to compare." in html and '<form method="get"' not in html
    assert html.count("<tr title=") == 1


def test_compare_names_the_clause_that_changed():
    clause = {"id": "a-1", "label": "Article 1", "summary": "Old words."}
    old = {"id": "a", "title": "A", "clauses": [clause, {"id": "a-2", "label": "Article 2"}]}
    new = {
        "id": "a",
        "title": "A",
        "clauses": [clause | {"summary": "New words."}, {"id": "a-3", "label": "Article 3"}],
    }
    changes = compare(old, new)
    assert [field for field, _, _ in changes] == ["clause a-1", "clause a-2", "clause a-3"]
    before, after = changes[0][1], changes[0][2]
    assert '"summary": "Old words."' in before and '"summary": "New words."' in after
    assert changes[1][2] is None and changes[2][1] is None  # removed, added
    assert compare(old, old) == []


@pytest.mark.parametrize(
    "path",
    [
        "/explore/proposals/no-such-proposal",
        "/explore/proposals/%3Cscript%3E",
        "/explore/nothing/nato/history",
        "/explore/talks/no-such-talk/history",
        "/explore/talks/geneva-strategic-stability-2022-01-10/history?to=99",
        "/explore/talks/geneva-strategic-stability-2022-01-10/history?from=x",
        "/explore/no-such-page",
        "/explore/proposals/us-russia-security-treaty/clauses",
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
