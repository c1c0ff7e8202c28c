"""Rate limits (429 with Retry-After and the IETF RateLimit headers), token revocation and expiry in
every worker, and what responses never reveal: a server version, a stack trace, SQL.

Limits are tested on apps and a server of this module's own, with small limits and a window of a
day (so no window ends mid-test), each test from client addresses no other test uses.
"""

from __future__ import annotations

import http.client
import itertools
import re
import time
import uuid
from urllib.parse import urlsplit

import pytest

from api import create_app
from api.config import Settings
from api.http import ratelimit
from api.http.auth import create_token, revoke_token
from tests.conftest import start_server, stop_server
from tests.support import assert_problem

WINDOW = 86_400
WRITES = 6
GENEVA = "/v1/talks/geneva-strategic-stability-2022-01-10"
_addresses = itertools.count(1)


def address() -> str:
    """A client address of the documentation range no other request in this run comes from."""
    n = next(_addresses)
    return f"198.51.{n // 250}.{n % 250 + 1}"


def remaining(response, policy: str) -> int:
    return int(re.search(rf'"{policy}";r=(\d+);t=\d+', response.headers["RateLimit"]).group(1))


def token(db, scope: str = "write") -> tuple[str, str]:
    name = f"rl-{uuid.uuid4().hex[:10]}"
    return name, create_token(db, name, scope, None)


@pytest.fixture(scope="module")
def limited(database_url):
    """The app with small limits: 3 writes and 4 reads a day."""
    app = create_app(
        Settings(database_url=database_url, rate_limit_window=WINDOW, rate_limit_writes=3, rate_limit_reads=4)
    )
    yield app
    app.extensions["db_pool"].close()


# The pieces


def test_headers_take_the_form_of_the_ietf_draft():
    count = ratelimit.Count("token-writes", limit=60, window=60, hits=61, reset=12)
    assert count.policy_item() == '"token-writes";q=60;w=60'
    assert count.state_item() == '"token-writes";r=0;t=12'
    assert count.exceeded
    assert not ratelimit.Count("address-reads", 60, 60, 60, 1).exceeded


@pytest.mark.parametrize(
    ("proxies", "peer", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.1", "203.0.113.9"),  # no proxy trusted: a client cannot pick its address
        (1, "127.0.0.1", "10.0.0.1, 203.0.113.9", "203.0.113.9"),  # what nginx appended, not what the client sent
        (2, "127.0.0.1", "203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (3, "127.0.0.1", "203.0.113.9", "203.0.113.9"),  # fewer entries than proxies: the leftmost
        (0, "2001:db8:1:2:3:4:5:6", None, "2001:db8:1:2::/64"),  # an IPv6 client counts by its /64
        (0, "::ffff:203.0.113.9", None, "203.0.113.9"),
        (1, "127.0.0.1", "not-an-address", "not-an-address"),
    ],
)
def test_client_address(app, proxies, peer, forwarded, expected):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    with app.test_request_context(environ_base={"REMOTE_ADDR": peer}, headers=headers):
        assert ratelimit.client_address(proxies) == expected


def test_the_local_counter_starts_again_each_window(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    counter = ratelimit.LocalCounter(window=60, max_keys=2)
    assert [counter.hit("a") for _ in range(3)] == [(1, 20), (2, 20), (3, 20)]  # 1,000,000 = 16,666 × 60 + 40
    assert counter.hit("b") == (1, 20)
    assert counter.hit("c") == (0, 20)  # past max_keys a new key goes uncounted rather than growing memory
    now[0] += 25
    assert counter.hit("a") == (1, 55)


@pytest.mark.parametrize(
    "bad", [{"rate_limit_window": 0}, {"rate_limit_writes": -1}, {"rate_limit_reads": -1}, {"trusted_proxies": -1}]
)
def test_nonsense_settings_stop_the_start(bad):
    with pytest.raises(ValueError):
        ratelimit.Limiter(Settings(**bad))


def test_the_settings_read_the_environment():
    env = {"RATE_LIMIT_WINDOW": "10", "RATE_LIMIT_WRITES": "5", "RATE_LIMIT_READS": "0", "TRUSTED_PROXIES": "1"}
    settings = Settings.from_env(env)
    assert (settings.rate_limit_window, settings.rate_limit_writes, settings.rate_limit_reads) == (10, 5, 0)
    assert settings.trusted_proxies == 1


# In one process


def test_reads_past_the_limit_get_429_with_retry_after_and_ratelimit_headers(limited):
    client, me = limited.test_client(), {"REMOTE_ADDR": address()}
    answers = [client.get("/v1/talks?limit=1", environ_base=me) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert [remaining(a, "address-reads") for a in answers] == [3, 2, 1, 0, 0]
    assert {a.headers["RateLimit-Policy"] for a in answers} == {f'"address-reads";q=4;w={WINDOW}'}
    refused = answers[-1]
    assert refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert (problem["status"], problem["title"]) == (429, "Too Many Requests")
    reset = int(re.search(r";t=(\d+)", refused.headers["RateLimit"]).group(1))
    assert 1 <= int(refused.headers["Retry-After"]) == reset <= WINDOW
    assert (
        problem["detail"] == f"Too many requests from this address: at most 4 every {WINDOW} s. Try again in {reset} s."
    )
    assert refused.headers["Cache-Control"] == "no-store"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    # Others are not held back, and health checks never are.
    assert client.get("/v1/talks?limit=1", environ_base={"REMOTE_ADDR": address()}).status_code == 200
    health = client.get("/healthz", environ_base=me)
    assert health.status_code == 200 and "RateLimit" not in health.headers


def test_every_write_attempt_counts_against_its_address(limited, db):
    client, me = limited.test_client(), {"REMOTE_ADDR": address()}
    anonymous = [client.delete(GENEVA, environ_base=me).status_code for _ in range(4)]
    assert anonymous == [401, 401, 401, 429]  # a token guesser is stopped too
    _, writer = token(db)
    refused = client.patch(GENEVA, headers={"Authorization": f"Bearer {writer}"}, environ_base=me)
    assert refused.status_code == 429
    assert "from this address" in refused.get_json()["detail"]
    hits = db.execute("SELECT hits FROM rate_limit_hits WHERE bucket = %s", (f"address:{me['REMOTE_ADDR']}",))
    assert hits.fetchall() == [(5,)]


def test_a_token_is_limited_from_whatever_address_it_writes(limited, db):
    client = limited.test_client()
    _, writer = token(db)
    auth = {"Authorization": f"Bearer {writer}"}
    answers = [client.patch(GENEVA, headers=auth, environ_base={"REMOTE_ADDR": address()}) for _ in range(4)]
    assert [a.status_code for a in answers] == [428, 428, 428, 429]  # 428: no If-Match, so nothing is written
    assert answers[0].headers["RateLimit-Policy"] == f'"address-writes";q=3;w={WINDOW}, "token-writes";q=3;w={WINDOW}'
    assert [remaining(a, "token-writes") for a in answers] == [2, 1, 0, 0]
    assert [remaining(a, "address-writes") for a in answers] == [2, 2, 2, 2]
    assert "Too many writes from this token" in answers[-1].get_json()["detail"]
    _, other = token(db)  # another token, from the same address, is not held back
    again = client.patch(GENEVA, headers={"Authorization": f"Bearer {other}"}, environ_base={"REMOTE_ADDR": address()})
    assert again.status_code == 428


def test_write_counts_are_shared_by_every_process(limited, database_url, db):
    """Two apps, as two workers or two hosts would be: one count in Postgres."""
    second = create_app(Settings(database_url=database_url, rate_limit_window=WINDOW, rate_limit_writes=3))
    try:
        _, writer = token(db)
        auth, me = {"Authorization": f"Bearer {writer}"}, {"REMOTE_ADDR": address()}
        apps = [limited.test_client(), second.test_client()] * 2
        assert [c.patch(GENEVA, headers=auth, environ_base=me).status_code for c in apps] == [428, 428, 428, 429]
    finally:
        second.extensions["db_pool"].close()


def test_reads_need_no_database_and_writes_get_503_without_one():
    app = create_app(
        Settings(
            database_url="postgresql://nobody@127.0.0.1:1/none", pool_timeout=0.2, connect_timeout=1, rate_limit_reads=2
        )
    )
    try:
        client = app.test_client()
        document = client.get("/v1/openapi.json")
        assert document.status_code == 200 and remaining(document, "address-reads") == 1
        assert client.get("/v1/talks").status_code == 503  # the normal answer while the database is away
        assert client.get("/v1/openapi.json").status_code == 429  # the limit holds without a database
        write = client.post("/v1/talks", json={})
        assert (write.status_code, write.headers["Retry-After"]) == (503, "1")
    finally:
        app.extensions["db_pool"].close()


def test_a_failure_shows_no_trace_and_no_sql(limited, monkeypatch):
    client = limited.test_client()
    broken = "SELECT secret_sha256 FROM no_such_table WHERE bucket = ANY(%(buckets)s) AND %(window)s > 0"
    monkeypatch.setattr(ratelimit, "q", lambda name: broken)
    failed = client.delete(GENEVA, environ_base={"REMOTE_ADDR": address()})
    monkeypatch.undo()

    def boom(proxies: int) -> str:
        raise RuntimeError(f"{ratelimit.__file__}: address lookup exploded")

    monkeypatch.setattr(ratelimit, "client_address", boom)
    crashed = client.get("/v1/talks")
    for response in (failed, crashed):
        assert assert_problem(response, 500) == {
            "type": "about:blank",
            "title": "Internal Server Error",
            "status": 500,
            "instance": response.request.path,
        }
        text = response.get_data(as_text=True)
        for leak in ("no_such_table", "SELECT", "secret", "Traceback", "psycopg", ".py", "exploded"):
            assert leak not in text


# The production server: granian, two workers


@pytest.fixture(scope="module")
def server(database_url):
    env = {"RATE_LIMIT_WRITES": str(WRITES), "RATE_LIMIT_READS": "1000000", "RATE_LIMIT_WINDOW": str(WINDOW)}
    base, process = start_server(database_url, env=env)
    yield urlsplit(base)
    stop_server(process)


_loopback = itertools.count(20)


class Client:
    """One keep-alive connection from a loopback address of its own (Linux answers all of 127/8)."""

    def __init__(self, server, source: str) -> None:
        self.conn = http.client.HTTPConnection(server.hostname, server.port, timeout=30, source_address=(source, 0))

    def send(self, method: str, path: str, **headers: str) -> http.client.HTTPResponse:
        self.conn.request(method, path, headers=headers)
        response = self.conn.getresponse()
        response.body = response.read()
        return response

    def reads_counted(self) -> int:
        """How many reads from this address the worker behind this connection has counted."""
        response = self.send("GET", "/v1/talks?limit=1")
        return 1_000_000 - int(re.search(r"r=(\d+)", response.getheader("RateLimit")).group(1))


def worker_pair(server) -> tuple[Client, Client]:
    """Two connections served by different workers. Reads are counted per worker, so a new connection
    whose worker has counted one read from this address so far is not on the first one's worker."""
    source = f"127.0.0.{next(_loopback)}"
    first = Client(server, source)
    assert first.reads_counted() == 1
    # Workers are spawned interpreters: just after start-up one may still be loading the app, and
    # until it listens every connection goes to the other. Keep trying for a while, bounded.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        other = Client(server, source)
        if other.reads_counted() == 1:
            return first, other
        other.conn.close()
        time.sleep(0.05)
    pytest.fail("granian gave every connection for 30 s to the same worker")


def test_write_limits_hold_across_two_workers(server, db):
    _, writer = token(db)
    pair = worker_pair(server)
    statuses = [pair[n % 2].send("PATCH", GENEVA, Authorization=f"Bearer {writer}").status for n in range(WRITES + 2)]
    assert statuses == [428] * WRITES + [429, 429]  # per worker, each would have allowed WRITES
    refused = pair[0].send("PATCH", GENEVA, Authorization=f"Bearer {writer}")
    assert refused.status == 429 and int(refused.getheader("Retry-After")) >= 1
    assert '"token-writes";r=0' in refused.getheader("RateLimit")
    assert b"Too many writes" in refused.body


def test_revocation_counts_at_once_in_every_worker(server, db):
    name, writer = token(db)
    pair = worker_pair(server)
    assert [c.send("PATCH", GENEVA, Authorization=f"Bearer {writer}").status for c in pair] == [428, 428]
    assert revoke_token(db, name)
    after = [c.send("PATCH", GENEVA, Authorization=f"Bearer {writer}") for c in pair]
    assert [(r.status, b"The token was revoked." in r.body) for r in after] == [(401, True), (401, True)]


def test_expiry_counts_at_once_in_every_worker(server, db):
    name, writer = token(db)
    pair = worker_pair(server)
    assert [c.send("PATCH", GENEVA, Authorization=f"Bearer {writer}").status for c in pair] == [428, 428]
    db.execute("UPDATE api_tokens SET expires_at = now() WHERE name = %s", (name,))
    after = [c.send("PATCH", GENEVA, Authorization=f"Bearer {writer}") for c in pair]
    assert [(r.status, b"The token has expired." in r.body) for r in after] == [(401, True), (401, True)]


def test_no_response_names_the_server_software_or_its_version(server, db):
    client = Client(server, f"127.0.0.{next(_loopback)}")
    _, reader = token(db, "read")
    answers = [
        client.send("GET", "/v1/talks"),
        client.send("GET", "/v1/nowhere"),
        client.send("GET", "/healthz"),
        client.send("DELETE", GENEVA),
        client.send("DELETE", GENEVA, Authorization=f"Bearer {reader}"),
    ]
    assert [r.status for r in answers] == [200, 404, 200, 401, 403]
    for response in answers:
        assert response.getheader("Server") == "proposals-api"  # granian's own `server: granian` is replaced
        assert response.headers.get_all("Server") == ["proposals-api"]
        text = " ".join(f"{name}: {value}" for name, value in response.getheaders()).lower()
        assert not re.search(r"granian|werkzeug|flask|python|gunicorn", text), text
        assert b"Traceback" not in response.body
