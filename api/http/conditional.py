"""ETags and 304: what names a representation, and when a client already holds it.

ETags come from revisions, never from hashing a body: an item's is its revision, a list's the
newest revision sequence of its collection, plus the variant (CSV, sparse fields)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask import Response

REVISION_NUMBER = re.compile(r"[0-9]{1,9}")  # fits Postgres integer


# Bump when the JSON shape changes, so old ETags stop matching (2: person ids, response lists, EDTF dates).
REPRESENTATION = "2"


CACHE_CONTROL = "public, no-cache"  # always revalidate; the ETag makes that cheap


def make_etag(version: int | str, variant: str = "") -> str:
    """Names a representation: the version of its data, plus the variant (CSV, sparse fields)."""
    return f'"{REPRESENTATION}.{version}{variant}"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored on both sides."""
    if if_none_match.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in if_none_match.split(","))


def held_revisions(if_none_match: str | None, tag: str = "") -> tuple[bool, list[int]]:
    """What an If-None-Match names, for a query that leaves out a document the client holds:
    whether it is `*`, and the revisions its ETags for this variant name. `etag_matches` still
    decides; this only spares reading a document that would not be sent."""
    if not if_none_match:
        return False, []
    if if_none_match.strip() == "*":
        return True, []
    prefix, suffix = f'"{REPRESENTATION}.', f'{tag}"'
    held = []
    for tag_text in if_none_match.split(","):
        tag_text = tag_text.strip().removeprefix("W/")
        number = tag_text.removeprefix(prefix).removesuffix(suffix)
        if tag_text.startswith(prefix) and tag_text.endswith(suffix) and REVISION_NUMBER.fullmatch(number):
            held.append(int(number))
    return False, held


def json_response(body: bytes, etag: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def not_modified(etag: str) -> Response:
    response = Response(status=304)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response
