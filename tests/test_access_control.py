"""Every write is denied by default: without a write token it is refused before anything else
about the request, its body included, is looked at.

The operations come from openapi.yaml and the routes from the app's URL map, so a write added
tomorrow is covered, and one that the document does not guard fails the last tests.
"""

from __future__ import annotations

import io
import re
import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from api.http.auth import create_token

ROOT = Path(__file__).resolve().parent.parent
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method != "parameters"
]
SECURED = [(method, path) for method, path, operation in OPERATIONS if operation.get("security")]
SAFE = {"GET", "HEAD", "OPTIONS"}
EXISTING = {  # ids of seeded items, so a route that ignored its token would find something to change
    "party_id": "nato",
    "proposal_id": "us-russia-security-treaty",
    "clause_id": "us-russia-security-treaty-article-5",
    "person_id": "wendy-sherman",
    "talk_id": "geneva-strategic-stability-2022-01-10",
    "statement_id": "lavrov-legally-binding-security-guarantees",
    "source_id": "sputnik-lavrov-security-guarantees",
}
HUGE = 50 * 1024 * 1024  # fifty times the 1 MiB the app accepts


class Tripwire(io.RawIOBase):
    """A request body that records whether anyone read it."""

    def __init__(self) -> None:
        self.touched = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self.touched = True
        buffer[:1] = b"{"
        return 1


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: EXISTING[match.group(1)], path)


@pytest.fixture(scope="module")
def read_token(db) -> str:
    return create_token(db, f"reader-{uuid.uuid4().hex[:8]}", "read", None)


@pytest.fixture(scope="module")
def state(db):
    """Everything stored, fingerprinted: a refused write must leave it as it was."""
    return lambda: db.execute("SELECT count(*), max(id) FROM changesets").fetchone()


BODIES = {
    "huge and unread": None,  # a Tripwire claiming HUGE bytes
    "malformed JSON": b'{"id": ',
    "nested 1,000 deep": b'{"id": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    "not JSON at all": b"\xff\xfe<xml/>",
}


def test_the_document_guards_exactly_the_writes():
    writes = [(method, path) for method, path, _ in OPERATIONS if method not in SAFE]
    assert sorted(SECURED) == sorted(writes)
    assert len(SECURED) == 21  # POST, PATCH and DELETE on seven collections
    assert all(
        operation["security"] == [{"bearerAuth": []}] for method, _, operation in OPERATIONS if method not in SAFE
    )
    assert SPEC["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": SPEC["components"]["securitySchemes"]["bearerAuth"]["description"],
    }


def test_every_route_that_accepts_a_write_is_a_guarded_operation(app):
    """Nothing writable outside the document: each non-safe method of each URL rule is a secured operation."""
    routes = {
        (method, re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        for method in rule.methods - SAFE
    }
    assert routes, "the app has no write routes at all"
    assert routes == set(SECURED)


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize(("method", "path"), SECURED, ids=[f"{m} {p}" for m, p in SECURED])
def test_a_write_without_a_write_token_is_refused_before_its_body_is_read(
    client, read_token, state, method, path, body
):
    before = state()
    for authorization, status in ((None, 401), (f"Bearer {read_token}", 403)):
        # Everything else about the request is wrong too: each would be its own 4xx after the token.
        headers = {"Content-Type": "application/json", "Accept": "application/xml", "If-Match": "garbage"}
        if authorization:
            headers["Authorization"] = authorization
        tripwire = Tripwire()
        data = {"input_stream": tripwire, "content_length": HUGE} if body is None else {"data": BODIES[body]}
        response = client.open(concrete(path) + "?surprise=1", method=method, headers=headers, **data)
        assert response.status_code == status, (authorization, response.get_json())
        assert response.mimetype == "application/problem+json"
        problem = response.get_json()
        assert problem["status"] == status and "errors" not in problem
        if status == 401:
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="proposals-api"'
        else:
            assert problem["detail"] == "The token may only read; this request needs write."
            assert response.headers["WWW-Authenticate"] == (
                'Bearer realm="proposals-api", error="insufficient_scope", scope="write"'
            )
        assert not tripwire.touched, "the body was read before the token was checked"
    assert state() == before


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer pat_1_short", "Bearer pat_999999999_" + "a" * 43, "bearer " + "x" * 5000],
)
def test_a_write_with_a_bad_token_is_401(client, state, authorization):
    before = state()
    response = client.delete(concrete("/v1/talks/{talk_id}"), headers={"Authorization": authorization, "If-Match": "*"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="proposals-api"')
    assert state() == before


def test_routing_answers_are_not_hidden_behind_the_token(client):
    """The guard runs only on a route that exists with that method: 404 and 405 stay what they are."""
    assert client.post("/v1/nowhere", data=b"{").status_code == 404
    refused = client.put("/v1/talks", data=b"{")
    assert refused.status_code == 405
    assert "POST" in refused.headers["Allow"]
    assert client.options("/v1/talks", headers={"Access-Control-Request-Method": "POST"}).status_code == 200


def test_reads_stay_public(client):
    for path in ("/v1/talks", concrete("/v1/talks/{talk_id}"), "/v1/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_the_real_server_refuses_a_huge_anonymous_write_without_waiting_for_it(live_server):
    """granian in front: a request that announces 50 MiB and sends 1 KiB of it gets 401 at once; a server
    that read the body first would wait for the rest (or answer 413)."""
    parts = urlsplit(live_server)
    head = (
        f"POST /v1/talks HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {HUGE}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"[" * 1024)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 401 Unauthorized", answer[:300]
    assert b'www-authenticate: bearer realm="proposals-api"' in rest.lower()
    assert b"needs a token" in rest and b"Traceback" not in rest
