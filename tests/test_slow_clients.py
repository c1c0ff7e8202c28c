"""Slow clients cannot take the API down (api/http/serving.py, api/resources/export.py).

The production server runs as deployed by default: 2 workers, WEB_THREADS=1. Against it, more
slow clients than workers: writers with a valid token whose bodies arrive a byte at a time,
readers of a 20 MB export who take a kilobyte at a time, and clients who never finish their
request head. Meanwhile 60 ordinary reads must keep answering, p99 under a second. Then each
slow client is let go, and must get what a fast one would: the writes are applied (201) and
every export line arrives.

Before api/http/serving.py, two such writers held both workers and every other request timed out.
"""

from __future__ import annotations

import io
import json
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from api.http.auth import create_token
from tests.conftest import seeded_database, start_server, stop_server
from tests.support import new_talk

SLOW_CLIENTS_OF_EACH_KIND = 3  # 9 in all, against 2 workers of one app thread each
EXPORT_BYTES = 20 * 1024 * 1024  # far beyond what the sockets' buffers hold between the two ends
READS = 60


@pytest.fixture(scope="module")
def big_database_url(server_url: str) -> Iterator[str]:
    """The seeded dataset, its revisions copied under other ids until the export is over 20 MB.

    The copies are only there to be exported: their snapshots still name the original ids.
    """
    databases = seeded_database(server_url, "proposals_slow")
    url = next(databases)
    with psycopg.connect(url, autocommit=True) as conn:
        one_export = conn.execute(
            "SELECT sum(length(snapshot::text)) FROM revisions WHERE collection <> 'clauses'"
        ).fetchone()[0]
        copies = EXPORT_BYTES // one_export + 1
        conn.execute(
            """INSERT INTO revisions (collection, item_id, revision, changeset_id, valid_from, note, deleted, snapshot)
               SELECT collection, item_id || '-copy-' || n, revision, changeset_id, valid_from, note, deleted, snapshot
                 FROM revisions, generate_series(1, %s) AS n
                WHERE collection <> 'clauses'""",
            [copies],
        )
    yield url
    databases.close()


@pytest.fixture(scope="module")
def server(big_database_url: str) -> Iterator[tuple[str, str, int]]:
    with psycopg.connect(big_database_url, autocommit=True) as conn:
        token = create_token(conn, f"slow-{uuid.uuid4().hex[:8]}", "write", None)
        lines = conn.execute("SELECT count(*) FROM revisions WHERE collection <> 'clauses'").fetchone()[0]
    base, process = start_server(big_database_url, env={"WEB_CONCURRENCY": "2", "WEB_THREADS": "1"})
    yield base, token, lines
    stop_server(process)


def connect(base: str, receive_buffer: int | None = None) -> socket.socket:
    address = urlsplit(base)
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(30)
    sock.connect((address.hostname, address.port))
    return sock


def read_response(recv: Callable[[int], bytes]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and the whole body (de-chunked) of one response, read with `recv`."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += recv(65536) or _closed()
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (f.partition(":") for f in fields)}
    if "content-length" in headers:
        while len(rest) < int(headers["content-length"]):
            rest += recv(65536) or _closed()
        return int(status_line.split()[1]), headers, rest
    body = bytearray()
    while True:  # chunked
        while b"\r\n" not in rest:
            rest += recv(65536) or _closed()
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        while len(rest) < size + 2:
            rest += recv(1 << 20) or _closed()
        body += rest[:size]
        rest = rest[size + 2 :]
        if size == 0:
            return int(status_line.split()[1]), headers, bytes(body)


def _closed() -> bytes:
    raise ConnectionError("the server closed the connection")


def get(base: str, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    with connect(base) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        status, _, _ = read_response(sock.recv)
    return status, time.perf_counter() - started


class SlowWriter(threading.Thread):
    """POSTs a talk whose body arrives a byte every 0.2 s until `hurry` is set, then the rest at once."""

    def __init__(self, base: str, token: str, hurry: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base, self.token, self.hurry = base, token, hurry
        self.talk_id = f"slow-{uuid.uuid4().hex[:8]}"
        self.status: int | None = None
        self.bytes_trickled = 0

    def run(self) -> None:
        body = json.dumps(new_talk(self.talk_id, summary="Sent a byte at a time.")).encode()
        head = (
            f"POST /v1/talks HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with connect(self.base) as sock:
            sock.sendall(head.encode())
            sent = 0
            while not self.hurry.is_set() and sent < len(body) - 1:
                sock.sendall(body[sent : sent + 1])
                sent += 1
                self.hurry.wait(0.2)
            self.bytes_trickled = sent
            sock.sendall(body[sent:])
            self.status = read_response(sock.recv)[0]


class SlowExportReader(threading.Thread):
    """Reads the export a kilobyte every 0.2 s through a small receive buffer until `hurry` is set,
    then the rest as fast as it comes."""

    def __init__(self, base: str, hurry: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base, self.hurry = base, hurry
        self.status: int | None = None
        self.lines = 0
        self.bytes_read_slowly = 0

    def run(self) -> None:
        with connect(self.base, receive_buffer=4096) as sock:
            sock.sendall(b"GET /v1/export HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            taken = b""
            while not self.hurry.is_set():
                taken += sock.recv(1024)
                self.hurry.wait(0.2)
            self.bytes_read_slowly = len(taken)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            rest = bytearray(taken)
            while chunk := sock.recv(1 << 20):
                rest += chunk
            self.status, _, body = read_response(io.BytesIO(rest).read)
            self.lines = body.count(b"\n")


class NeverEndingHead(threading.Thread):
    """Sends a request head a byte every 0.5 s, and never its end, until `hurry` is set."""

    def __init__(self, base: str, hurry: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base, self.hurry = base, hurry

    def run(self) -> None:
        with connect(self.base) as sock:
            sock.sendall(b"GET /v1/talks HTTP/1.1\r\nHost: test\r\n")
            for byte in b"X-Padding: " + b"a" * 1000:
                if self.hurry.wait(0.5):
                    return
                sock.sendall(bytes([byte]))


def test_other_requests_answer_within_a_second_while_slow_clients_hold_on(server):
    base, token, export_lines = server
    hurry = threading.Event()
    writers = [SlowWriter(base, token, hurry) for _ in range(SLOW_CLIENTS_OF_EACH_KIND)]
    readers = [SlowExportReader(base, hurry) for _ in range(SLOW_CLIENTS_OF_EACH_KIND)]
    heads = [NeverEndingHead(base, hurry) for _ in range(SLOW_CLIENTS_OF_EACH_KIND)]
    slow_clients = [*writers, *readers, *heads]
    try:
        for client in slow_clients:
            client.start()
        time.sleep(2.0)  # every slow client is connected and holding on
        paths = ["/v1/talks", "/v1/proposals?limit=5", "/v1/parties/russia", "/readyz", "/v1/clauses?q=nato"]
        answers = [get(base, paths[n % len(paths)]) for n in range(READS)]
    finally:
        hurry.set()
        for client in slow_clients:
            client.join(timeout=60)

    assert [status for status, _ in answers] == [200] * READS
    seconds = [elapsed for _, elapsed in answers]
    p99 = statistics.quantiles(seconds, n=100)[98]
    assert p99 < 1.0, f"p99 {p99:.3f} s, slowest {max(seconds):.3f} s"
    # The slow clients were slow all along the reads, and got what a fast client gets afterwards.
    assert all(writer.bytes_trickled >= 10 for writer in writers)
    assert [writer.status for writer in writers] == [201] * SLOW_CLIENTS_OF_EACH_KIND
    assert all(reader.bytes_read_slowly < 1024 * 1024 for reader in readers)
    # Each export is one snapshot, taken when its turn to be produced came: before the slow writes
    # were applied, or (one export produced after another, on a loaded machine) after some of them.
    assert [reader.status for reader in readers] == [200] * SLOW_CLIENTS_OF_EACH_KIND
    assert all(export_lines <= reader.lines <= export_lines + len(writers) for reader in readers)


def post_chunked(base: str, token: str, body: bytes) -> int:
    """POSTs `body` as a chunked request (no Content-Length), in pieces of 64 KB."""
    with connect(base) as sock:
        sock.sendall(
            f"POST /v1/talks HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
        )
        for start in range(0, len(body), 65536):
            piece = body[start : start + 65536]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        return read_response(sock.recv)[0]


def test_a_chunked_body_is_read_whole_and_held_to_the_size_limit(server):
    """Bodies without a length are read whole before the app too: applied when small, 413 past 1 MB."""
    base, token, _ = server
    talk = json.dumps(new_talk(f"chunked-{uuid.uuid4().hex[:8]}")).encode()
    assert post_chunked(base, token, talk) == 201
    too_large = json.dumps(new_talk(f"chunked-{uuid.uuid4().hex[:8]}", summary="x" * (1 << 20))).encode()
    assert post_chunked(base, token, too_large) == 413
