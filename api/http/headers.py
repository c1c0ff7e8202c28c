"""Headers every response carries: a request id, no MIME sniffing, and an explicit CORS policy;
and the bounds on the header fields a request may send.

The API is public and read-mostly, so any origin may read it; writes still need a bearer
token, which browsers only send when a page's own script adds it.

Header fields are bounded twice. granian refuses a request head larger than its HTTP/1 buffer
(`HEAD_BUFFER_BYTES`) with a bare 431 before Python sees it; inside that, any one field over
`MAX_FIELD_BYTES` or all of them together over `MAX_FIELDS_BYTES` get a 431 problem+json before
anything else looks at them, so no parser (the Accept header's, the rate limiter's
X-Forwarded-For) spends its time on a huge value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from flask import g, request

from api.http.errors import ApiError

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
MAX_FIELD_BYTES = 8 * 1024  # one header field's value (nginx's default line buffer is as large)
MAX_FIELDS_BYTES = 32 * 1024  # every field, names and values, as sent
HEAD_BUFFER_BYTES = 64 * 1024  # granian's HTTP/1 buffer and HTTP/2 header list: past it, granian's own 431


def oversized_fields(environ: Mapping[str, object]) -> str | None:
    """Why the request's header fields are too large, or None. Read from the WSGI environ, so that
    api/http/fastpath.py can ask before Flask is involved; a pass over some twenty keys (about 3 µs)."""
    total = 0
    for key, value in environ.items():
        # "HTTP_" <= key < "HTTP`" is key.startswith("HTTP_") ("`" follows "_"), without a call.
        if "HTTP_" <= key < "HTTP`" or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            size = len(value)  # type: ignore[arg-type]
            if size > MAX_FIELD_BYTES:
                name = key.removeprefix("HTTP_").replace("_", "-").title()
                return f"The {name} header is {size} bytes long; at most {MAX_FIELD_BYTES} are accepted."
            total += len(key) + size + 4  # about as sent: "Name: value\r\n"
    if total > MAX_FIELDS_BYTES:
        return f"The header fields add up to {total} bytes; at most {MAX_FIELDS_BYTES} are accepted."
    return None


def refuse_oversized_fields() -> None:
    detail = oversized_fields(request.environ)
    if detail is not None:
        raise ApiError(431, detail)


def request_id() -> str:
    """The client's X-Request-ID when it is well-formed, else a new one."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.match(given) else new_request_id()
    return g.request_id


def new_request_id() -> str:
    """A random UUID 4 as 32 hex digits, as `uuid.uuid4().hex` writes it, without the UUID object
    (which costs about a microsecond a request in its constructor)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return raw.hex()


def closing_headers(request_id: str) -> list[tuple[str, str]]:
    """The fields every answer ends with, in order: Flask's (api/http/hooks.py) and the fast path's."""
    return [("X-Request-ID", request_id), *TRAILING]


TRAILING = [("X-Content-Type-Options", "nosniff"), ("Server", SERVER), *CORS.items()]
