"""Every error becomes an RFC 9457 problem+json response; nothing else reaches a client.

Database failures are mapped by kind (SQLSTATE class) in one place: an unreachable
database, or one that does not answer within the request's deadline, is 503 with
Retry-After, a client's impossible value 400, anything else 500 with no detail. The trace
goes to the log, never to the client.
"""

from __future__ import annotations

import http
import logging

import orjson
import psycopg
from flask import Flask, Response, current_app, request
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from api.http import metrics
from api.http.connection import SAFE_METHODS
from api.store.db import DeadlinePassed

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 1
log = logging.getLogger("proposals_api")


class ApiError(HTTPException):
    """An HTTP error with a problem detail and optional field errors and headers."""

    def __init__(self, status: int, detail: str, *, errors: list[dict] | None = None, headers: dict | None = None):
        super().__init__(description=detail)
        self.code = status
        self.errors = errors
        self.extra_headers = headers or {}


def problem(
    status: int,
    detail: str | None = None,
    *,
    errors: list[dict] | None = None,
    headers: dict | None = None,
    title: str | None = None,
) -> Response:
    body: dict = {
        "type": "about:blank",
        "title": title or http.HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    if errors:
        body["errors"] = errors
    response = Response(orjson.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def field_errors(messages: dict, location: str) -> list[dict]:
    """Flattens marshmallow's nested messages into [{pointer|parameter, detail}]."""
    out: list[dict] = []

    def walk(node, path: list[str]) -> None:
        if isinstance(node, dict):
            for key, sub in node.items():
                walk(sub, [*path, str(key)])
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            for message in node:
                out.append(_locate(path, location) | {"detail": message})
        elif isinstance(node, list):
            for sub in node:
                walk(sub, path)
        else:
            out.append(_locate(path, location) | {"detail": str(node)})

    walk(messages, [])
    return out


def _locate(path: list[str], location: str) -> dict:
    if location == "json":
        escaped = [p.replace("~", "~0").replace("/", "~1") for p in path if p != "_schema"]
        return {"pointer": "/" + "/".join(escaped)}
    return {"parameter": path[0] if path else ""}


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {}
    if error.response is None:
        # Keep the headers werkzeug would send (Allow on 405, WWW-Authenticate on 401).
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(getattr(error, "extra_headers", {}))
    errors = getattr(error, "errors", None)
    data = getattr(error, "data", None)  # webargs puts validation messages here
    if data and "messages" in data:
        location, messages = next(iter(data["messages"].items()))
        errors = field_errors(messages, location)
        headers.update(data.get("headers") or {})
    detail = error.description if isinstance(error, ApiError) or not data else "The request has invalid fields."
    if status >= 500 and not isinstance(error, ApiError):
        detail = None
    return problem(status, detail, errors=errors, headers=headers)


def handle_database_error(error: Exception) -> Response:
    """Maps a psycopg failure to its answer, counts it by kind, and logs it (never to the client).

    An unreachable database (no connection within `pool_timeout`, a refused connection, a
    backend killed mid-request: SQLSTATE class 08 and 57P0x are OperationalErrors) is 503
    with Retry-After, logged as a warning without a trace: it says nothing about our code.
    """
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(error, psycopg.errors.TransactionRollback):
        _count("conflict")
        log.warning("write conflicted with concurrent writes: %s", error.__class__.__name__)
        return problem(503, "The write conflicted with concurrent writes; try again.", headers=retry)
    if isinstance(error, DeadlinePassed):  # an OperationalError too: test it first
        _count("deadline")
        log.warning("database deadline passed: %s", _first_line(error))
        return problem(503, _deadline_detail(), headers=retry)
    if isinstance(error, psycopg.errors.QueryCanceled):  # an OperationalError too: test it first
        _count("timeout")
        log.warning("query canceled: %s", _first_line(error))
        return problem(503, "The query took too long; try again shortly.", headers=retry)
    if isinstance(error, PoolTimeout | psycopg.OperationalError):
        _count("unavailable")
        log.warning("database unavailable: %s: %s", error.__class__.__name__, _first_line(error))
        return problem(503, "The database is unavailable; try again shortly.", headers=retry)
    if isinstance(error, psycopg.DataError):
        _count("data")
        return problem(400, "A value in the request is out of range or malformed.")
    _count("other")
    log.exception("database error")
    return problem(500)


def _deadline_detail() -> str:
    """What a client may do after a deadline passed: a write's COMMIT may have reached a database
    that then stopped answering, so its outcome is unknown, but retrying it is safe."""
    settings = current_app.config["SETTINGS"]
    if request.method in SAFE_METHODS:
        return f"The database did not answer within {settings.database_read_deadline:g} s; try again shortly."
    return (
        f"The database did not answer within {settings.database_write_deadline:g} s: the write may or may not "
        "have been applied. A retry cannot apply it twice: a create sent again with the same Idempotency-Key "
        "gets the first answer, and a change or delete sent again with the same If-Match is refused "
        "(412 or 410) if the first was applied."
    )


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]


def _count(kind: str) -> None:
    metrics.DB_ERRORS.labels(kind).inc()


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error")
    return problem(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(PoolTimeout, handle_database_error)
    app.register_error_handler(psycopg.Error, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected)


def not_found(singular: str, item_id: str) -> ApiError:
    shown = item_id if len(item_id) <= 100 else item_id[:100] + "…"
    return ApiError(404, f"No {singular} with id {shown!r}.")


def gone(singular: str, item_id: str) -> ApiError:
    return ApiError(410, f"The {singular} {item_id!r} was deleted; its revisions stay readable.")
