"""Headers every response carries: a request id, no MIME sniffing, and an explicit CORS policy.

The API is public and read-mostly, so any origin may read it; writes still need a bearer
token, which browsers only send when a page's own script adds it.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

# granian cannot drop its own `server: granian` header, but keeps one the app sets: name no engine or version.
SERVER = "proposals-api"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, "
    "X-Change-Note, X-Request-ID",
    "Access-Control-Expose-Headers": "ETag, Last-Modified, Link, Location, Retry-After, X-Request-ID, "
    "Idempotent-Replayed, RateLimit, RateLimit-Policy",
    "Access-Control-Max-Age": "600",
}


def request_id() -> str:
    """The client's X-Request-ID when it is well-formed, else a new one."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
    return g.request_id


def add_headers(response: Response) -> Response:
    response.headers["X-Request-ID"] = request_id()
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Server"] = SERVER
    for name, value in CORS.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_headers)
