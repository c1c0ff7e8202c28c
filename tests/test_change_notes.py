"""X-Change-Note: ASCII as it is, any other text as RFC 8187 percent-encoded UTF-8, and a 400 for
anything else, so a note is never stored empty or garbled (as a raw non-ASCII one used to be)."""

from __future__ import annotations

import http.client
import json
import re
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import yaml

from api.http.auth import create_token
from api.http.notes import MAX_NOTE, NoteError, parse_note
from tests.support import new_talk

SPEC = yaml.safe_load((Path(__file__).resolve().parent.parent / "openapi.yaml").read_text())
DOCUMENTED = SPEC["paths"]["/v1/talks/{talk_id}"]["patch"]["parameters"]
(NOTE_SCHEMA,) = [p["schema"] for p in DOCUMENTED if p["name"] == "X-Change-Note"]
RYABKOV = "Ryabkov — «безопасность» 🕊"

ACCEPTED = [
    ("The talks took place.", "The talks took place."),
    ("  padded  ", "padded"),
    ("100% sure, it's 'done'", "100% sure, it's 'done'"),
    ("UTF-8''" + quote(RYABKOV, safe=""), RYABKOV),
    ("utf-8'ru'" + quote("Рябков", safe=""), "Рябков"),
    ("UTF-8''plain-attr-chars_only.~", "plain-attr-chars_only.~"),
    ("UTF-8''%41%20b", "A b"),
    ("UTF-8''" + quote("é" * 1360, safe=""), "é" * 1360),  # 8,167 bytes: as many as one header may hold
    ("UTF-8''" + "a" * MAX_NOTE, "a" * MAX_NOTE),
    ("x" * MAX_NOTE, "x" * MAX_NOTE),
]
REFUSED = [
    "",
    "   ",
    "Ryabkov — note",  # raw, as a WSGI server hands over bytes beyond ASCII: Latin-1 text
    "caf\xe9",
    "line\x01break",
    "x" * (MAX_NOTE + 1),
    "UTF-8''",
    "UTF-8''%E2%80",  # a character cut short
    "UTF-8''%ZZ",
    "UTF-8''100%",
    "UTF-8''%C0%80",  # overlong NUL
    "UTF-8''%ED%A0%80",  # a surrogate
    "UTF-8''%0A",  # a control character, encoded
    "UTF-8''%C2%85",  # a C1 control character
    "UTF-8''%7F",
    "UTF-8''with space",
    "UTF-8''" + "a" * (MAX_NOTE + 1),
]


@pytest.mark.parametrize(("header", "note"), ACCEPTED, ids=range(len(ACCEPTED)))
def test_a_note_in_ascii_or_rfc_8187_form_is_read(header, note):
    assert parse_note(header) == note


@pytest.mark.parametrize("header", REFUSED, ids=range(len(REFUSED)))
def test_anything_else_is_refused(header):
    with pytest.raises(NoteError):
        parse_note(header)


@pytest.mark.parametrize(
    ("header", "accepted"),
    [(h, True) for h, _ in ACCEPTED] + [(h, False) for h in REFUSED],
    ids=range(len(ACCEPTED) + len(REFUSED)),
)
def test_the_documented_pattern_says_exactly_what_is_accepted(header, accepted):
    """A value the server reads matches the document's pattern, and one it refuses does not (except a plain
    value beginning with `UTF-8'…'`, which the description says is always read as encoded)."""
    matches = re.fullmatch(NOTE_SCHEMA["pattern"], header) is not None and len(header) <= NOTE_SCHEMA["maxLength"]
    if not accepted and header.lower().startswith("utf-8'") and re.fullmatch(r"[ -~]+", header):
        return
    assert matches == accepted


# Through HTTP


TALK = "/v1/talks/geneva-strategic-stability-2022-01-10"


@pytest.fixture(scope="module")
def token(db) -> str:
    return create_token(db, f"notes-{uuid.uuid4().hex[:8]}", "write", None)


def latest_note(client, talk_id: str) -> str | None:
    return client.get(f"/v1/talks/{talk_id}/revisions?limit=1").get_json()["items"][0]["note"]


def test_an_encoded_note_is_stored_decoded(client, token):
    talk_id = f"notes-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {token}", "X-Change-Note": "UTF-8''" + quote(RYABKOV, safe="")}
    assert client.post("/v1/talks", json=new_talk(talk_id), headers=headers).status_code == 201
    assert latest_note(client, talk_id) == RYABKOV
    patched = client.patch(
        f"/v1/talks/{talk_id}",
        json={"status": "held"},
        headers={"Authorization": f"Bearer {token}", "If-Match": '"2.1"', "X-Change-Note": "Held, as planned."},
    )
    assert patched.status_code == 200
    assert latest_note(client, talk_id) == "Held, as planned."


@pytest.mark.parametrize("note", ["", "Ryabkov — note", "UTF-8''%E2%80", "UTF-8''%ZZ"])
def test_a_write_with_a_note_that_is_not_one_is_400_and_changes_nothing(client, token, db, note):
    before = db.execute("SELECT count(*) FROM revisions").fetchone()[0]
    talk_id = f"notes-{uuid.uuid4().hex[:8]}"
    for response in (
        client.post(
            "/v1/talks", json=new_talk(talk_id), headers={"Authorization": f"Bearer {token}", "X-Change-Note": note}
        ),
        client.patch(
            TALK,
            json={"status": "held"},
            headers={"Authorization": f"Bearer {token}", "If-Match": "*", "X-Change-Note": note},
        ),
        client.delete(TALK, headers={"Authorization": f"Bearer {token}", "If-Match": "*", "X-Change-Note": note}),
    ):
        assert response.status_code == 400
        assert response.mimetype == "application/problem+json"
        problem = response.get_json()
        assert problem["errors"] == [{"parameter": "X-Change-Note", "detail": "Not a note in ASCII or RFC 8187 form."}]
        assert "X-Change-Note" in problem["detail"]
    assert db.execute("SELECT count(*) FROM revisions").fetchone()[0] == before


def send_raw(base: str, method: str, path: str, headers: list[tuple[str, bytes]], body: bytes) -> tuple[int, dict]:
    """A request whose header values are bytes as they are, beyond ASCII included."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest(method, path)
        for name, value in [*headers, ("Content-Length", str(len(body)).encode())]:
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def test_the_real_server_refuses_raw_utf8_and_stores_the_encoded_form(live_server, db, token):
    """granian passes a value with bytes beyond ASCII on as empty: that used to be stored as ''."""
    talk_id = f"notes-{uuid.uuid4().hex[:8]}"
    body = json.dumps(new_talk(talk_id)).encode()
    common = [("Authorization", f"Bearer {token}".encode()), ("Content-Type", b"application/json")]
    status, problem = send_raw(live_server, "POST", "/v1/talks", [*common, ("X-Change-Note", RYABKOV.encode())], body)
    assert status == 400 and problem["errors"][0]["parameter"] == "X-Change-Note"
    assert db.execute("SELECT count(*) FROM talks WHERE id = %s", (talk_id,)).fetchone()[0] == 0
    encoded = ("UTF-8''" + quote(RYABKOV, safe="")).encode()
    status, created = send_raw(live_server, "POST", "/v1/talks", [*common, ("X-Change-Note", encoded)], body)
    assert status == 201 and created["id"] == talk_id
    stored = db.execute(
        "SELECT note FROM revisions WHERE collection = 'talks' AND item_id = %s", (talk_id,)
    ).fetchone()[0]
    assert stored == RYABKOV
