"""406 Not Acceptable for an Accept header that no representation of the route satisfies.

What each operation can answer with is read from the OpenAPI document itself (the media types of
its 2xx responses), so the document and this check cannot disagree. Routes outside the document
(the docs and explorer pages) are left alone.

Parsing an Accept header costs time in proportion to its media ranges and parameters (about
12 µs a range here): one with more than `MAX_MEDIA_RANGES` or `MAX_ACCEPT_PARAMETERS` is a 400
before it is parsed. Browsers send fewer than ten.
"""

from __future__ import annotations

import re

from apispec import APISpec
from flask import Flask, current_app, request

from api.http.errors import ApiError

RULE_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
MAX_MEDIA_RANGES = 32
MAX_ACCEPT_PARAMETERS = 64


def media_types_by_operation(spec: APISpec) -> dict[tuple[str, str], list[str]]:
    produced: dict[tuple[str, str], list[str]] = {}
    for path, item in spec.to_dict()["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            types = {
                media_type
                for status, response in operation["responses"].items()
                if status.startswith("2")
                for media_type in response.get("content", {})
            }
            produced[(path, method.upper())] = sorted(types) or ["application/json"]
    return produced


def refuse_unbounded_accept() -> None:
    """400 for an Accept header too long a list to be worth parsing."""
    header = request.headers.get("Accept", "")
    if header.count(",") >= MAX_MEDIA_RANGES or header.count(";") > MAX_ACCEPT_PARAMETERS:
        raise ApiError(
            400,
            f"The Accept header lists more than {MAX_MEDIA_RANGES} media ranges or {MAX_ACCEPT_PARAMETERS} parameters.",
            errors=[{"parameter": "Accept", "detail": "Too many media ranges or parameters."}],
        )


def refuse_unacceptable() -> None:
    refuse_unbounded_accept()
    accept = request.accept_mimetypes
    if not accept or request.url_rule is None:
        return  # no Accept header: any representation will do
    path = RULE_PARAMETER.sub(r"{\1}", request.url_rule.rule)
    method = "GET" if request.method == "HEAD" else request.method
    offered = current_app.extensions["produces"].get((path, method))
    if offered is not None and accept.best_match(offered) is None:
        raise ApiError(406, f"This resource is available as {' or '.join(offered)}.")


def init_app(app: Flask, spec: APISpec) -> None:
    app.extensions["produces"] = media_types_by_operation(spec)
