"""Past one machine, on real engines: a Postgres primary with a streaming replica, pgbouncer in
transaction mode in front of the primary, and nginx caching in front of the app, all started on
loopback by scripts/topology.sh.

Skipped, with the reason, where Debian's postgresql, pgbouncer or nginx packages are missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from api.http import metrics
from api.http.auth import create_token
from api.store.dataset import seed
from api.store.migrate import migrate
from tests.conftest import METRICS_AUTH, free_port, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGY = ROOT / "scripts" / "topology.sh"
SHARED_MAX_AGE = 2
TALK = "/v1/talks/geneva-strategic-stability-2022-01-10"

check = subprocess.run([str(TOPOLOGY), "check"], capture_output=True, text=True, check=False)
pytestmark = pytest.mark.skipif(
    check.returncode != 0,
    reason=f"scale-out engines not installed ({check.stderr.strip()}); "
    "apt-get install postgresql pgbouncer nginx-light to run these tests",
)


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def until(predicate, seconds: float = 15.0, message: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def replayed(replica: psycopg.Connection) -> bool:
    """Whether the replica has the token made last on the primary (its tables may not exist yet)."""
    try:
        return replica.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 1
    except psycopg.errors.UndefinedTable:
        return False


@pytest.fixture(scope="module")
def topology() -> Iterator[dict]:
    # Not pytest's tmp_path: Postgres runs as the postgres user when we are root, and pytest's
    # folders are private to root. The script hands this one to postgres.
    folder = Path(tempfile.mkdtemp(prefix="proposals-topology-"))
    app_port = free_port()
    subprocess.run([str(TOPOLOGY), "up", str(folder), str(app_port)], check=True, capture_output=True, timeout=120)
    env = read_env(folder / "env")
    name = "scaleout"
    with psycopg.connect(env["PRIMARY_URL"], autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    urls = {key: env[key].rsplit("/", 1)[0] + f"/{name}" for key in ("PRIMARY_URL", "REPLICA_URL", "PGBOUNCER_URL")}
    with psycopg.connect(urls["PRIMARY_URL"], autocommit=True) as conn:
        migrate(conn)
        seed(conn)
        token = create_token(conn, "scale-out", "write", None)
    with psycopg.connect(urls["REPLICA_URL"], autocommit=True) as replica:
        until(lambda: replayed(replica), message="the replica to replay the seed")
    base, server = start_server(
        urls["PGBOUNCER_URL"],
        port=app_port,
        env={
            "DATABASE_READ_URL": urls["REPLICA_URL"],
            "PREPARED_STATEMENTS": "off",
            "REPLICA_MAX_LAG_BYTES": "1",
            "CACHE_SHARED_MAX_AGE": str(SHARED_MAX_AGE),
            "TRUSTED_PROXIES": "1",
        },
    )
    yield {
        **env,
        **{key.lower(): value for key, value in urls.items()},
        "base": base,
        "token": token,
        "folder": folder,
        "log": server.log_path,
    }
    stop_server(server)
    subprocess.run([str(TOPOLOGY), "down", str(folder)], check=False, capture_output=True, timeout=60)
    shutil.rmtree(folder, ignore_errors=True)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def patch(base: str, token: str, body: dict, if_match: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        base + TALK,
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "If-Match": if_match},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}


def transactions(url: str) -> int:
    """Committed transactions in this database, as the server the URL names counts them."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        return conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def test_anonymous_reads_are_served_by_the_replica(topology):
    before = transactions(topology["replica_url"])
    for _ in range(40):
        assert get(topology["base"] + TALK)[0] == 200, Path(topology["log"]).read_text()[-3000:]
    until(lambda: transactions(topology["replica_url"]) - before >= 40, 25, "the replica's statistics")


def test_a_writer_reads_its_own_write_at_once(topology):
    token = {"Authorization": f"Bearer {topology['token']}"}
    _, headers, body = get(topology["base"] + TALK, token)
    note = f"read-your-writes {time.time()}"
    status, written = patch(topology["base"], topology["token"], {"summary": note}, headers["etag"])
    assert status == 200
    status, read_headers, body = get(topology["base"] + TALK, token)
    assert json.loads(body)["summary"] == note and read_headers["etag"] == written["etag"]


def test_a_lagging_replica_is_skipped(topology):
    with psycopg.connect(topology["replica_url"], autocommit=True) as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            _, headers, _ = get(topology["base"] + TALK)
            note = f"while the replica lags {time.time()}"
            patch(topology["base"], topology["token"], {"summary": note}, headers["etag"])
            until(lambda: json.loads(get(topology["base"] + TALK)[2])["summary"] == note, 10, "the primary's answer")
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")


def test_a_stopped_replica_causes_no_5xx(topology):
    pg_ctl = [str(Path(topology["PG_BIN"]) / "pg_ctl"), "-D", str(topology["folder"] / "replica")]
    as_postgres = (
        ["runuser", "-u", "postgres", "--"]
        if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() == "0"
        else []
    )
    subprocess.run([*as_postgres, *pg_ctl, "-m", "immediate", "stop"], check=True, capture_output=True)
    try:
        statuses = [get(topology["base"] + TALK)[0] for _ in range(30)]
        assert statuses == [200] * 30
    finally:
        log = str(topology["folder"] / "replica.log")
        subprocess.run([*as_postgres, *pg_ctl, "-l", log, "-w", "start"], check=True, capture_output=True)


def served_by_app(base: str, route: str) -> float:
    """How many GETs of `route` the app has answered (its /metrics, summed over workers)."""
    time.sleep(metrics.SCRAPE_REUSE_SECONDS + 0.1)  # past the rendering a worker may still be reusing
    text = get(base + "/metrics", METRICS_AUTH)[2].decode()
    pattern = re.compile(r"^proposals_api_http_requests_total\{(.*)\} (\S+)$", re.MULTILINE)
    return sum(
        float(value)
        for labels, value in pattern.findall(text)
        if f'route="{route}"' in labels and 'method="GET"' in labels
    )


def test_cached_reads_never_reach_the_app_and_a_write_shows_after_revalidation(topology):
    proxy, base = topology["PROXY_URL"], topology["base"]
    route = "/v1/talks/<talk_id>"
    url = proxy + TALK + "?fields=id,summary"
    status, first, _ = get(url)
    assert status == 200 and first["cache-control"] == f"public, max-age=0, s-maxage={SHARED_MAX_AGE}"
    before = served_by_app(base, route)
    cached = [get(url) for _ in range(20)]
    assert all(status == 200 and headers["x-cache-status"] == "HIT" for status, headers, _ in cached)
    assert not any("ratelimit" in headers for _, headers, _ in cached)  # one client's limits are not replayed
    assert served_by_app(base, route) == before

    note = f"seen through the cache {time.time()}"
    _, current, _ = get(base + TALK, {"Authorization": f"Bearer {topology['token']}"})
    patch(proxy, topology["token"], {"summary": note}, current["etag"])
    time.sleep(SHARED_MAX_AGE + 1.1)  # nginx counts freshness in whole seconds
    status, after, body = get(url)
    assert after["x-cache-status"] == "EXPIRED" and json.loads(body)["summary"] == note
    assert after["etag"] != first["etag"]
    assert get(url)[1]["x-cache-status"] == "HIT"


def test_a_forged_host_cannot_poison_the_links_the_cache_serves(topology):
    """Links are path-absolute: what nginx caches from one client's request is right for every client,
    whatever Host that request carried, and resolves to the proxy's own scheme and port."""
    proxy = topology["PROXY_URL"]
    url = proxy + "/v1/parties?member_of=nato&limit=4"  # no other test asks for it: not cached yet
    forged_status, forged, _ = get(url, {"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    assert forged_status == 200 and forged["x-cache-status"] == "MISS"
    status, honest, body = get(url)
    assert status == 200 and honest["x-cache-status"] == "HIT"  # the forged request's answer, from the cache
    assert honest["link"] == forged["link"]
    assert "evil.example" not in honest["link"] and b"evil.example" not in body
    target = honest["link"].removeprefix("<").removesuffix('>; rel="next"')
    assert target.startswith("/v1/parties?")
    following = urllib.parse.urljoin(url, target)  # as a client resolves it (RFC 3986 §5)
    assert following.startswith(proxy + "/v1/parties?")  # the proxy's scheme, host and port
    assert get(following)[0] == 200


def test_the_change_feed_on_a_replica_never_shows_an_uncommitted_position_nor_goes_back(topology):
    """Anonymous feed reads go to the replica (here whatever its lag), a token's to the primary. While
    replay is paused, the replica's head stays where it was, and a cursor the primary gave for a newer
    change is a 409 with Retry-After there, never an older page; once it has replayed, it goes on."""
    from api import create_app
    from api.config import Settings

    app = create_app(
        Settings(
            database_url=topology["primary_url"],
            database_read_url=(topology["replica_url"],),
            replica_max_lag_bytes=2**50,
            rate_limit_writes=1_000_000,
            rate_limit_reads=1_000_000,
        )
    )
    client, token = app.test_client(), {"Authorization": f"Bearer {topology['token']}"}

    def head(headers: dict[str, str] | None = None) -> str:
        return client.get("/v1/changes", query_string={"since": "2100-01-01T00:00:00Z"}, headers=headers).get_json()[
            "next_cursor"
        ]

    try:
        with psycopg.connect(topology["replica_url"], autocommit=True) as replica:
            until(lambda: head() == head(token), message="the replica to replay everything")
            before = head()
            replica.execute("SELECT pg_wal_replay_pause()")
            try:
                etag = client.get(TALK, headers=token).headers["ETag"]
                written = client.patch(
                    TALK,
                    json={"summary": f"while the replica's replay is paused {time.time()}"},
                    headers=token | {"If-Match": etag},
                )
                assert written.status_code == 200
                on_primary = client.get("/v1/changes", query_string={"cursor": before}, headers=token).get_json()
                assert ("talks", "geneva-strategic-stability-2022-01-10") in {
                    (item["collection"], item["id"]) for item in on_primary["items"]
                }
                newer = on_primary["next_cursor"]
                lagging = client.get("/v1/changes", query_string={"cursor": newer})
                assert lagging.status_code == 409 and lagging.headers["Retry-After"] == "5"
                assert client.get("/v1/changes", query_string={"cursor": before}).get_json() == {
                    "items": [],
                    "next_cursor": before,  # the replica's head: what it has replayed, nothing more
                }
            finally:
                replica.execute("SELECT pg_wal_replay_resume()")
            until(lambda: client.get("/v1/changes", query_string={"cursor": newer}).status_code == 200)
            assert client.get("/v1/changes", query_string={"cursor": before}).get_json() == on_primary
    finally:
        app.extensions["db_pool"].close()
        for replica_pool in app.extensions["db_replicas"]:
            replica_pool.pool.close()
