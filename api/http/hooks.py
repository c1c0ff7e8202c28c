"""What Flask does around every view: one function before it and one after, steps in order.

Before the view, each step may refuse the request: header fields too large (431,
api/http/headers.py) first, since it reads only sizes; then which scope the request needs and
its bearer token's verdict (api/http/auth.py), so nothing about a write is looked at before its
token; then the rate limits (429, api/http/ratelimit.py), which count a refused write too; then
the token's refusal (401, 403); then the media types the client accepts (406, api/http/negotiation.py); then a database error the fast
path already met for this request (503, api/http/fastpath.py), so it is not waited for twice.

After the view come the fields every answer carries, from `after_fields` (api/http/replies.py),
the builder the fast path writes them with too (tests/test_fastpath.py compares both byte for
byte): the rate-limit state, `Vary: Accept` on API reads, then the request id, `nosniff`, the
server's name and CORS; and the shared caches' policy on API reads (api/http/caching.py). The
route's rule is kept for the request log and the metrics (api/http/logs.py).
"""

from __future__ import annotations

from flask import Flask, Response, g

from api.config import Settings
from api.http import auth, caching, logs
from api.http.fastpath import raise_database_error
from api.http.headers import refuse_oversized_fields, request_id
from api.http.negotiation import refuse_unacceptable
from api.http.ratelimit import Limiter
from api.http.replies import after_fields


def init_app(app: Flask, settings: Settings, limiter: Limiter) -> None:
    shared_cache = caching.shared_policy(settings.cache_shared_max_age)

    def before_view() -> None:
        refuse_oversized_fields()
        access = auth.access()
        limiter.check(access)
        access.enforce()
        refuse_unacceptable()
        raise_database_error()

    def after_view(response: Response) -> Response:
        logs.remember_route()
        for name, value in after_fields(g.get("rate_limits"), request_id(), caching.is_api_read()):
            if name == "Vary":
                response.vary.add(value)  # joins a Vary the view set
            else:
                response.headers[name] = value
        caching.apply_policy(response, shared_cache)
        return response

    app.before_request(before_view)
    app.after_request(after_view)
