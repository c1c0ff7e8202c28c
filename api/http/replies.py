"""A read's answer (a 200 or a 304) and the header fields every answer carries, built by one set
of functions for both paths: Flask's (the views, then `after_view` in api/http/hooks.py) and the
fast path's (api/http/fastpath.py), which writes the same fields in the same order without Flask.

`reply_fields` gives what the read itself says (content type and length, ETag, cache policy,
Last-Modified, Link); `after_fields` what the after-view hook adds to any answer (the rate-limit
state, `Vary: Accept` on API reads, then the request id, `nosniff`, the server's name and CORS).
tests/test_fastpath.py holds both paths' answers equal byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Response
from werkzeug.http import http_date

from api.http import ratelimit
from api.http.caching import REVALIDATE
from api.http.headers import closing_headers

CSV_CONTENT_TYPE = "text/csv; charset=utf-8; header=present"


@dataclass(frozen=True)
class Reply:
    """A 200 or a 304, worked out without Flask: the views and api/http/fastpath.py both send it.

    Every other outcome (404, 410, a bad cursor, a database error) is raised, so it is
    answered by the error handlers as before.
    """

    status: int
    etag: str
    body: bytes = b""
    mimetype: str = "application/json"
    last_modified: datetime | None = None  # informational: when this state became true
    link: str | None = None
    last_modified_http: str | None = None  # the same as an HTTP date already (from the database)
    version: int | None = None  # an item's revision, for the version cache (api/store/versions.py)
    cache_control: str | None = None  # a policy of the read's own (the change feed's), else the path's default
    instance_id: str | None = None  # the change feed's Instance-Id, which `proposals-api mirror` checks

    def response(self) -> Response:
        """As a Flask response, for the views; the after-view hook adds `after_fields`."""
        if self.status == 304:
            return Response(status=304, headers=reply_fields(self, REVALIDATE))
        return Response(self.body, status=200, headers=reply_fields(self, REVALIDATE))


def reply_fields(reply: Reply, cache_control: str) -> list[tuple[str, str]]:
    """The read's own fields, in order. Conditional requests use the ETag only: Last-Modified is
    informational, since imported history can make it go backwards."""
    cache_control = reply.cache_control or cache_control
    if reply.status != 200:
        fields = [("ETag", reply.etag), ("Cache-Control", cache_control)]
        return [*fields, ("Instance-Id", reply.instance_id)] if reply.instance_id else fields
    content_type = CSV_CONTENT_TYPE if reply.mimetype == "text/csv" else reply.mimetype
    fields = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(reply.body))),
        ("ETag", reply.etag),
        ("Cache-Control", cache_control),
    ]
    if reply.last_modified_http is not None:
        fields.append(("Last-Modified", reply.last_modified_http))
    elif reply.last_modified is not None:
        fields.append(("Last-Modified", http_date(reply.last_modified)))
    if reply.link:
        fields.append(("Link", reply.link))
    if reply.instance_id:
        fields.append(("Instance-Id", reply.instance_id))
    return fields


def after_fields(counts: list[ratelimit.Count] | None, request_id: str, api_read: bool) -> list[tuple[str, str]]:
    """What follows on every answer, in order: the rate-limit state, `Vary: Accept` on an API read
    (JSON or CSV by Accept), then the closing fields (api/http/headers.py)."""
    fields = ratelimit.rate_limit_headers(counts)  # a new list each time: extended here
    if api_read:
        fields.append(VARY_ACCEPT)
    fields += closing_headers(request_id)
    return fields


VARY_ACCEPT = ("Vary", "Accept")
