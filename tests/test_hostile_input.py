"""Hostile input, sent to every operation where it applies: each gets its documented 4xx, never a 5xx,
and nothing is written.

The operations come from openapi.yaml, so a new route is covered the day it is added.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import yaml

from api.http.auth import create_token

ROOT = Path(__file__).resolve().parent.parent
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
SAMPLE_IDS = {
    "party_id": "nato",
    "proposal_id": "us-russia-security-treaty",
    "clause_id": "us-russia-security-treaty-article-5",
    "person_id": "wendy-sherman",
    "talk_id": "geneva-strategic-stability-2022-01-10",
    "statement_id": None,  # looked up: statement ids are not fixed by the seed's shape
    "source_id": "sputnik-lavrov-security-guarantees",
    "number": "1",
}
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method != "parameters"
]
READS = [(method, path, op) for method, path, op in OPERATIONS if method == "GET"]
BODY_WRITES = [(method, path, op) for method, path, op in OPERATIONS if method in ("POST", "PATCH")]
WRITES = [(method, path, op) for method, path, op in OPERATIONS if method in ("POST", "PATCH", "DELETE")]
LISTS = [
    (method, path, op)
    for method, path, op in READS
    if any(p["name"] == "cursor" for p in op.get("parameters", []) if p["in"] == "query")
]


def required(operation: dict) -> dict[str, str]:
    """The query parameters an operation cannot go without (`q` of /v1/search), at their examples."""
    return {
        p["name"]: str(p.get("example", p["schema"].get("example")))
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }


def ids(operations: list) -> list[str]:
    return [f"{method} {path}" for method, path, _ in operations]


@pytest.fixture(scope="module")
def write_token(db) -> str:
    return create_token(db, f"hostile-{uuid.uuid4().hex[:8]}", "write", None)


@pytest.fixture(scope="module")
def concrete(db):
    """Turns a templated path into one that names a real item."""
    statement = db.execute("SELECT id FROM statements ORDER BY id LIMIT 1").fetchone()[0]
    values = {**SAMPLE_IDS, "statement_id": statement}
    return lambda path: re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], path)


@pytest.fixture(scope="module")
def state(db):
    """A fingerprint of everything stored: hostile requests must leave it as it was."""

    def fingerprint() -> tuple:
        return db.execute(
            "SELECT count(*), max(recorded_at) FROM revisions r JOIN changesets c ON c.id = r.changeset_id"
        ).fetchone()

    return fingerprint


def write_headers(token: str, content_type: str | None = "application/json") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "If-Match": '"2.1"'}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def send(client, method: str, url: str, **kwargs):
    response = client.open(url, method=method, **kwargs)
    assert response.status_code < 500, (method, url, response.status_code, response.data[:300])
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", (method, url, response.mimetype)
        body = response.get_json()
        assert body["status"] == response.status_code
        assert "Traceback" not in body.get("detail", "") and "SELECT" not in body.get("detail", "")
    return response


def test_the_suite_sees_every_kind_of_operation():
    assert len(READS) >= 30 and len(BODY_WRITES) == 14 and len(WRITES) == 21 and len(LISTS) >= 13


HOSTILE_BODIES = {
    "nested 1,000 deep": (b'{"id": ' + b"[" * 1000 + b"]" * 1000 + b"}", 400),
    "invalid UTF-8": (b'{"id": "\xff\xfe\xfa"}', 400),
    "UTF-16": ('{"id": "x"}'.encode("utf-16-le"), 400),
    "UTF-16 with its BOM": ('{"id": "x"}'.encode("utf-16"), 400),
    "UTF-8 with a BOM": (b'\xef\xbb\xbf{"id": "x"}', 400),
    "malformed JSON": (b'{"id": ', 400),
    "a bare array": (b"[]", 422),
    "a bare string": (b'"talk"', 422),
    "NaN": (b'{"id": NaN}', 400),
    "empty": (b"", 400),
}


@pytest.mark.parametrize("kind", HOSTILE_BODIES)
@pytest.mark.parametrize(("method", "path", "operation"), BODY_WRITES, ids=ids(BODY_WRITES))
def test_hostile_bodies(client, write_token, concrete, state, kind, method, path, operation):
    body, status = HOSTILE_BODIES[kind]
    before = state()
    response = send(client, method, concrete(path), data=body, headers=write_headers(write_token))
    assert response.status_code == status, (kind, response.get_json())
    assert state() == before


@pytest.mark.parametrize(("method", "path", "operation"), BODY_WRITES, ids=ids(BODY_WRITES))
def test_a_body_over_the_limit_is_413(client, write_token, concrete, method, path, operation):
    body = b'{"summary": "' + b"x" * (1024 * 1024 + 1) + b'"}'
    response = send(client, method, concrete(path), data=body, headers=write_headers(write_token))
    assert response.status_code == 413


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/xml", "application/json; charset=utf-16", "multipart/form-data"]
)
@pytest.mark.parametrize(("method", "path", "operation"), BODY_WRITES, ids=ids(BODY_WRITES))
def test_a_wrong_or_missing_content_type_is_415(client, write_token, concrete, content_type, method, path, operation):
    response = send(client, method, concrete(path), data=b"{}", headers=write_headers(write_token, content_type))
    assert response.status_code == 415


def valid_body(client, concrete, method: str, path: str) -> dict:
    """A body the operation would accept: the item as served, without its server-owned fields."""
    if method == "PATCH":
        return {}
    sample = client.get(concrete(path + "/{" + SINGULAR_ID[path] + "}")).get_json()
    return {key: value for key, value in sample.items() if key not in ("revision", "updated_at")}


SINGULAR_ID = {
    "/v1/parties": "party_id",
    "/v1/proposals": "proposal_id",
    "/v1/clauses": "clause_id",
    "/v1/people": "person_id",
    "/v1/talks": "talk_id",
    "/v1/statements": "statement_id",
    "/v1/sources": "source_id",
}
INTEGER_FIELD = {"/v1/clauses": "position", "/v1/clauses/{clause_id}": "position"}
BAD_INTEGERS = {
    "a string": b'"12"',
    "a fraction": b"1.5",
    "a boolean": b"true",
    "1e400": b"1e400",
    "2**70": b"1180591620717411303424",
}


@pytest.mark.parametrize("kind", BAD_INTEGERS)
@pytest.mark.parametrize("path", INTEGER_FIELD)
def test_an_integer_field_refuses_what_is_not_one(client, write_token, concrete, state, kind, path):
    method = "POST" if path == "/v1/clauses" else "PATCH"
    body = valid_body(client, concrete, method, path) | {"id": "hostile-clause"} if method == "POST" else {}
    raw = json.dumps(body | {"position": "PLACEHOLDER"}).encode().replace(b'"PLACEHOLDER"', BAD_INTEGERS[kind])
    before = state()
    response = send(client, method, concrete(path), data=raw, headers=write_headers(write_token))
    assert response.status_code == 422, (kind, response.get_json())
    assert response.get_json()["errors"][0]["pointer"] == "/position"
    assert state() == before


@pytest.mark.parametrize(("method", "path", "operation"), BODY_WRITES, ids=ids(BODY_WRITES))
def test_nul_unknown_and_server_owned_fields_are_422(client, write_token, concrete, state, method, path, operation):
    collection = path if path in SINGULAR_ID else path.rsplit("/", 1)[0]
    base = valid_body(client, concrete, "POST", collection) | {"id": f"hostile-{uuid.uuid4().hex[:6]}"}
    if method == "PATCH":
        base = {}
    before = state()
    for field in ("summary", "id") if method == "POST" else ("summary",):
        nul = send(
            client, method, concrete(path), json=base | {field: "bad\u0000value"}, headers=write_headers(write_token)
        )
        assert nul.status_code == 422, (field, nul.get_json())
        assert any(error.get("pointer") == f"/{field}" for error in nul.get_json()["errors"]), nul.get_json()
    for extra in ({"unexpected": 1}, {"revision": 99}, {"updated_at": "2030-01-01T00:00:00Z"}):
        refused = send(client, method, concrete(path), json=base | extra, headers=write_headers(write_token))
        assert refused.status_code == 422, (extra, refused.get_json())
    assert state() == before


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=ids(OPERATIONS))
def test_unknown_query_parameters_are_400(client, write_token, concrete, method, path, operation):
    response = send(
        client,
        method,
        concrete(path),
        query_string={**required(operation), "surprise": "1"},
        headers=write_headers(write_token),
    )
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["parameter"] == "surprise"


HOSTILE_VALUES = ["' OR 1=1 --", '"; DROP TABLE talks; --', "%", "_", "\\", "x" * 10_240, "ü∂€", "a\u0000b"]


@pytest.mark.parametrize(
    "value", HOSTILE_VALUES, ids=["quote", "drop", "percent", "underscore", "backslash", "10KB", "unicode", "nul"]
)
@pytest.mark.parametrize(("method", "path", "operation"), LISTS, ids=ids(LISTS))
def test_hostile_values_in_every_query_parameter(client, concrete, state, value, method, path, operation):
    before = state()
    for parameter in operation["parameters"]:
        if parameter["in"] != "query":
            continue
        response = send(client, "GET", concrete(path), query_string={**required(operation), parameter["name"]: value})
        assert response.status_code in (200, 400), (parameter["name"], response.status_code)
        if response.status_code == 200:
            assert response.get_json()["items"] == [], (parameter["name"], value[:20])
    assert state() == before


@pytest.mark.parametrize(("method", "path", "operation"), LISTS, ids=ids(LISTS))
def test_forged_tampered_and_borrowed_cursors_are_400(client, concrete, method, path, operation):
    url, given = concrete(path), required(operation)
    for cursor in ("forged", "eyJrIjpbMV19.AAAAAAAAAAAAAAAA", "x" * 999):
        assert send(client, "GET", url, query_string={**given, "cursor": cursor}).status_code == 400
    first = client.get(url, query_string={**given, "limit": 1}).get_json()
    if path == "/v1/changes":
        # The feed's cursors are not signed (an imported copy of the database must read them): one names a
        # position in the one commit order, the same under every filter. An altered one is malformed (400),
        # names another revision (200) or one not held here (409); never a 500.
        altered = first["next_cursor"][:-2] + ("AA" if not first["next_cursor"].endswith("AA") else "BB")
        assert send(client, "GET", url, query_string={"cursor": altered}).status_code in (200, 400, 409)
        return
    if first["next_cursor"]:
        cursor = first["next_cursor"]
        tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
        assert send(client, "GET", url, query_string={**given, "limit": 1, "cursor": tampered}).status_code == 400
        other = next(
            (
                {p["name"]: p["schema"]["enum"][-1]}
                for p in operation["parameters"]
                if p["in"] == "query" and "enum" in p["schema"] and p["name"] != "format"
            ),
            None,  # revision lists have no filters to swap
        )
        if other:
            borrowed = send(client, "GET", url, query_string={**given, "limit": 1, "cursor": cursor, **other})
            assert borrowed.status_code == 400


ODD_IDS = ["%2F", "..", "%2E%2E", "x" * 10_240, "%C3%BC", "%E2%80%8B", "%00", "UPPER", "a%20b"]


@pytest.mark.parametrize(
    "odd", ODD_IDS, ids=["slash", "dotdot", "encoded-dotdot", "10KB", "u-umlaut", "zero-width", "nul", "upper", "space"]
)
@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [(m, p, o) for m, p, o in OPERATIONS if "{" in p],
    ids=ids([(m, p, o) for m, p, o in OPERATIONS if "{" in p]),
)
def test_odd_path_ids_are_404(client, write_token, state, odd, method, path, operation):
    url = re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1) == "number" else odd, path, count=1)
    url = re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1) == "number" else SAMPLE_IDS[m.group(1)] or "x", url)
    before = state()
    response = send(client, method, url, json={}, headers=write_headers(write_token))
    assert response.status_code == 404, (url[:80], response.status_code)
    assert state() == before


@pytest.mark.parametrize("path", sorted(SPEC["paths"]))
def test_unsupported_methods_are_405_with_allow(client, concrete, path):
    documented = {method.upper() for method in SPEC["paths"][path] if method != "parameters"}
    for method in {"PUT", "POST", "PATCH", "DELETE", "TRACE"} - documented:
        response = send(client, method, concrete(path))
        assert response.status_code == 405, (method, path)
        allowed = {value.strip() for value in response.headers["Allow"].split(",")}
        assert documented <= allowed and method not in allowed


@pytest.mark.parametrize(("method", "path", "operation"), READS, ids=ids(READS))
def test_accept_xml_is_406(client, concrete, method, path, operation):
    response = send(client, "GET", concrete(path), headers={"Accept": "application/xml"})
    assert response.status_code == 406


@pytest.mark.parametrize("header", ["garbage", '"unterminated', "W/", '"a" "b"', "*, *", "\x7f"])
@pytest.mark.parametrize(("method", "path", "operation"), READS, ids=ids(READS))
def test_a_malformed_if_none_match_is_ignored(client, concrete, header, method, path, operation):
    """RFC 9110 §13.1.2: a condition that names no current representation is false: the full answer."""
    response = send(client, "GET", concrete(path), query_string=required(operation), headers={"If-None-Match": header})
    assert response.status_code == 200


@pytest.mark.parametrize("header", ["garbage", '"unterminated', "W/", '"a" "b"', "\x7f"])
@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [(m, p, o) for m, p, o in WRITES if m != "POST"],
    ids=ids([(m, p, o) for m, p, o in WRITES if m != "POST"]),
)
def test_a_malformed_if_match_never_matches(client, write_token, concrete, state, header, method, path, operation):
    """RFC 9110 §13.1.1: If-Match that names no current representation fails: 412, nothing written."""
    before = state()
    headers = write_headers(write_token) | {"If-Match": header}
    response = send(client, method, concrete(path), json={}, headers=headers)
    assert response.status_code == 412
    assert state() == before
