"""HTTP caching policy beyond each route's own Cache-Control.

Routes answer `public, no-cache` for what changes (collections, items, the export: revalidate
with the ETag) and `immutable` for what never does (a revision, a diff). Behind a shared cache
(nginx, a CDN) `CACHE_SHARED_MAX_AGE` lets that cache serve a changing response for a few
seconds without asking (`s-maxage`), while browsers still revalidate every time (`max-age=0`).
Every API read says it varies by `Accept`, which chooses between JSON and CSV.
"""

from __future__ import annotations

from flask import Flask, Response, request

REVALIDATE = "public, no-cache"


def init_app(app: Flask, shared_max_age: int) -> None:
    shared = f"public, max-age=0, s-maxage={shared_max_age}" if shared_max_age > 0 else None

    @app.after_request
    def cache_policy(response: Response) -> Response:
        if request.method not in ("GET", "HEAD") or not request.path.startswith("/v1/"):
            return response
        response.vary.add("Accept")
        if shared and response.headers.get("Cache-Control") == REVALIDATE:
            response.headers["Cache-Control"] = shared
        return response
