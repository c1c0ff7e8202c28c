"""HTTP caching policy beyond each route's own Cache-Control.

Routes answer `public, no-cache` for what changes (collections, items, the export: revalidate
with the ETag) and `immutable` for what never does (a revision, a diff). Behind a shared cache
(nginx, a CDN) `CACHE_SHARED_MAX_AGE` lets that cache serve a changing response for a few
seconds without asking (`s-maxage`), while browsers still revalidate every time (`max-age=0`).
Every API read says it varies by `Accept`, which chooses between JSON and CSV.
"""

from __future__ import annotations

from flask import Response, request

REVALIDATE = "public, no-cache"


def shared_policy(shared_max_age: int) -> str | None:
    """The Cache-Control that replaces `public, no-cache` for shared caches, or None to keep it."""
    return f"public, max-age=0, s-maxage={shared_max_age}" if shared_max_age > 0 else None


def apply_policy(response: Response, shared: str | None) -> None:
    """On API reads: `Vary: Accept`, and the shared caches' policy instead of plain revalidation."""
    if request.method not in ("GET", "HEAD") or not request.path.startswith("/v1/"):
        return
    response.vary.add("Accept")
    if shared and response.headers.get("Cache-Control") == REVALIDATE:
        response.headers["Cache-Control"] = shared
