"""Slow clients wait on threads of their own; the app runs WEB_THREADS requests at a time.

granian gives each request one of a worker's blocking threads, and that thread stays with the
request while its body trickles in and while its response goes out: a client that sends or reads
a byte a second holds it all along, and with as many such clients as threads the worker stops.
So each worker has WEB_IO_THREADS more threads than WEB_THREADS (`proposals-api serve` asks
granian for both), and this layer, just inside the request log, decides what a thread may do:

- waiting on the client is free: the request body is read whole before anything else;
- running the app takes a turn, of which there are WEB_THREADS, so the database pool and the
  CPU see no more requests at once than before; a turn ends when the response body is whole in
  memory, before granian sends it;
- a body too large to hold (the export) is produced by a thread of its own into a temporary file
  and read back from it as the client takes it (api/resources/export.py), with no turn held.

The cost is a handover between threads per request (measured in bench/README.md), and a bound:
a worker serves at most WEB_IO_THREADS slow clients at once; beyond that, requests queue for a
thread in granian. docs/deploy.md weighs it.
"""

from __future__ import annotations

import io
import queue
from collections.abc import Callable, Iterable

from flask import Flask

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


class Turns:
    """WSGI middleware: reads the request body, then runs the app in one of `turns` turns."""

    def __init__(self, app: WsgiApp, turns: int, max_body: int) -> None:
        self.app = app
        # The turns as tokens in a queue: taking one and putting it back are single C calls, where
        # a threading.Semaphore runs a Condition and a lock in Python, twice a request.
        self.turns: queue.SimpleQueue[int] = queue.SimpleQueue()
        for turn in range(turns):
            self.turns.put(turn)
        self.max_body = max_body

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        read_body(environ, self.max_body)
        turn = self.turns.get()
        try:
            body = self.app(environ, start_response)
            # A body that is sent as it comes, with no turn held (api/resources/export.py's `Spool`), or whole.
            if isinstance(body, list) or getattr(body, "sends_without_turn", False):
                return body
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        finally:
            self.turns.put(turn)


def read_body(environ: dict, max_body: int) -> None:
    """Replaces `wsgi.input` by the body read whole, when there is one of at most `max_body` bytes.

    A larger declared body is left unread: the app refuses it (413) without waiting for it.
    """
    length = environ.get("CONTENT_LENGTH") or ""
    if not length and "HTTP_TRANSFER_ENCODING" not in environ:
        return  # no body: the usual GET
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if length.isdigit() and 0 < int(length) <= max_body:
        data = environ["wsgi.input"].read(int(length))
    elif chunked and not length:
        # No length to trust: read one byte past the limit, so the app still sees a body too large.
        data = environ["wsgi.input"].read(max_body + 1)
        # From here on the body is one of known length, which the app compares with its limit (413).
        environ["CONTENT_LENGTH"] = str(len(data))
        del environ["HTTP_TRANSFER_ENCODING"]
        environ.pop("wsgi.input_terminated", None)
    else:
        return
    environ["wsgi.input"] = io.BytesIO(data)


def init_app(app: Flask, turns: int) -> None:
    """Installs the turns inside the request log, whose durations then include the wait for the
    body and for a turn: the time a client waited."""
    app.wsgi_app = Turns(app.wsgi_app, turns, app.config["MAX_CONTENT_LENGTH"])
