"""JSON logs on stderr: one line per request, and every other record, each with its request id.

Log collectors parse one JSON object per line without a grammar of ours; the request id
ties a client's `X-Request-ID` to the access line and to any error logged on the way.
The access line is written when the response body is finished (the WSGI `close()`, or at once
for a body that is already whole), so a streamed export is timed whole, and it feeds the request
metrics at the same moment.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

import orjson
from flask import Flask, has_request_context, request

from api.http import metrics
from api.http.exchange import Exchange

ACCESS = logging.getLogger("proposals_api.access")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, extra fields, trace."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict = {
            "ts": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # which worker: granian runs several
        }
        if has_request_context():
            from api.http.headers import request_id  # imported late: headers needs a request

            entry["request_id"] = request_id()
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["trace"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.stack_info:
            entry["trace"] = record.stack_info
        return orjson.dumps(entry, default=str).decode()


def configure(level: str) -> None:
    """Sends every log record to stderr as JSON; safe to call again (once per app factory call).

    Handlers that others installed (pytest's capture, for one) stay where they are.
    """
    root = logging.getLogger()
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level.upper())


class WithoutThreadCountAdvice(logging.Filter):
    """Drops granian's warning that a worker may run many Python threads. Ours do on purpose:
    all but WEB_THREADS of them only ever wait on slow clients (api/http/serving.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Configuration allows spawning up to")


class _StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is at each record: test runners swap it for a while."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class RequestLog:
    """WSGI middleware: times each request to the end of its body, then logs it and counts it.

    The outermost layer, so it is the one that puts the request's `Exchange` in the environ.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        exchange = Exchange.of(environ)
        seen: dict = {}

        def start(status: str, headers: list, exc_info=None):
            seen["status"] = int(status.split(" ", 1)[0])
            seen["request_id"] = _request_id(headers)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, start)
        except BaseException:
            _finish(environ, exchange, {"status": 500}, started)
            raise
        if isinstance(body, list):
            # The body is already whole (the fast path's): logged now, and handed on as the list
            # itself, which granian sends in one piece. Any other iterable costs it a channel and
            # a release and retake of the GIL per chunk.
            _finish(environ, exchange, seen, started)
            return body
        return _Closing(body, lambda: _finish(environ, exchange, seen, started))


class _Closing:
    """The response body, with a hook run once when the server closes it."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self.body = body
        self.done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            done, self.done = self.done, None
            if done is not None:
                done()


def _request_id(headers: list[tuple[str, str]]) -> str | None:
    """The first X-Request-ID field's value: a name of another length is passed over without `lower()`."""
    for name, value in headers:
        if len(name) == 12 and (name == "X-Request-ID" or name.lower() == "x-request-id"):
            return value
    return None


def _finish(environ: dict, exchange: Exchange, seen: dict, started: float) -> None:
    seconds = time.perf_counter() - started
    status = seen.get("status", 500)
    method = environ.get("REQUEST_METHOD", "")
    route = exchange.route
    try:
        metrics.record_request(method, route, status, seconds)
    except Exception:  # metrics must never break a response; the failure is logged
        logging.getLogger("proposals_api").exception("could not record request metrics")
    access(
        {
            "method": method,
            "path": environ.get("PATH_INFO", ""),
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "request_id": seen.get("request_id"),
            "remote_addr": environ.get("REMOTE_ADDR"),
        }
    )


def access(fields: dict) -> None:
    """The access line, as `ACCESS.info("request", extra=fields)` writes it.

    When nothing but `configure`'s handler would see the record (no other handler or filter on
    the way, no request context to add), the same JSON line is written to it directly: logging's
    per-record work (finding the caller, a LogRecord, the handler chain) cost more than a cheap
    request itself. Anything else (a test capturing logs, another handler) takes the usual way.
    """
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    handler = _sole_handler()
    if handler is None or has_request_context():
        ACCESS.info("request", extra=fields)
        return
    line = orjson.dumps(access_entry(fields, time.time(), _pid()), default=str).decode()
    try:
        with handler.lock:
            handler.stream.write(line + handler.terminator)
            handler.stream.flush()
    except Exception:  # a broken stream: let logging report it as it would
        ACCESS.info("request", extra=fields)


def access_entry(fields: dict, created: float, pid: int | None) -> dict:
    """What JsonFormatter makes of the access record (outside a request context)."""
    return {
        "ts": timestamp(created),
        "level": "INFO",
        "logger": ACCESS.name,
        "message": "request",
        "pid": pid,
        **fields,
    }


def timestamp(created: float) -> str:
    """`created` as JsonFormatter writes it (UTC, milliseconds, `Z`). The text up to the second is
    made once a second: a datetime and its isoformat cost more than the rest of the access line."""
    seconds = math.floor(created)
    micros = round((created - seconds) * 1e6)  # as datetime.fromtimestamp rounds, then truncated to ms
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    global _second
    second = _second  # read once: another thread may swap it
    if second[0] != seconds:
        second = _second = (seconds, datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{second[1]}.{micros // 1000:03d}Z"


_second: tuple[int | None, str] = (None, "")  # the second last formatted, and its text


def _pid() -> int:
    """This process's id, asked once per process (a system call each time otherwise)."""
    pid = _process[0]
    if pid is None:
        pid = _process[0] = os.getpid()
    return pid


_process: list[int | None] = [None]
os.register_at_fork(after_in_child=lambda: _process.__setitem__(0, None))


def _sole_handler() -> _StderrHandler | None:
    """`configure`'s handler when the access record would reach it and nothing else."""
    logger: logging.Logger | None = ACCESS
    while logger is not None:
        if logger.filters or (logger.handlers and logger.parent is not None) or not logger.propagate:
            return None
        if logger.parent is None:
            break
        logger = logger.parent  # type: ignore[assignment]
    handlers = logging.getLogger().handlers
    if len(handlers) != 1 or not isinstance(handlers[0], _StderrHandler):
        return None
    handler = handlers[0]
    if handler.filters or handler.level > logging.INFO or type(handler.formatter) is not JsonFormatter:
        return None
    return handler


def remember_route() -> None:
    """The URL rule, not the path, for the request log: one metric series per route, whatever the ids in it."""
    Exchange.of(request.environ).route = request.url_rule.rule if request.url_rule is not None else None


def init_app(app: Flask) -> None:
    app.wsgi_app = RequestLog(app.wsgi_app)
