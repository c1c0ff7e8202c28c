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


def effective_policy(cache_control: str, shared: str | None) -> str:
    """The Cache-Control an API read goes out with: the shared caches' policy instead of plain
    revalidation (the fast path, api/http/fastpath.py, and `apply_policy` alike)."""
    return shared if shared and cache_control == REVALIDATE else cache_control


def is_api_read() -> bool:
    return request.method in ("GET", "HEAD") and request.path.startswith("/v1/")


def apply_policy(response: Response, shared: str | None) -> None:
    """On API reads, the shared caches' policy instead of plain revalidation (`Vary: Accept` is
    among api/http/replies.py's `after_fields`)."""
    given = response.headers.get("Cache-Control")
    if given is not None and is_api_read():
        policy = effective_policy(given, shared)
        if policy != given:
            response.headers["Cache-Control"] = policy
