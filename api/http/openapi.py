"""flask-smorest, adjusted to this API's contract.

- Errors are RFC 9457 problem+json, documented as such.
- Query and path problems are 400; body problems 422; a body that is not JSON 415.
- Unknown query parameters and body fields are rejected, never ignored.
"""

from __future__ import annotations

import copy
import hashlib
import http
from typing import ClassVar

import flask
from apispec import BasePlugin
from flask import Response
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import RAISE, Schema
from webargs.flaskparser import FlaskParser

from api.http import errors
from api.http.caching import REVALIDATE
from api.http.conditional import etag_matches
from api.http.headers import MAX_FIELD_BYTES, MAX_FIELDS_BYTES
from schemas.common import ProblemSchema

ETAG_HEADER = {
    "description": "Names this representation; send it back in If-None-Match to get 304.",
    "schema": {"type": "string", "example": '"2.42"'},
}
INSTANCE_ID_HEADER = {
    "description": "Names this database's history (migration 0017; a database built by importing an export has "
    "its own): `proposals-api mirror` tells one origin from another by it, whatever its URL.",
    "schema": {"type": "string", "example": "3f9c1a7e5b2d4c60"},
}
LAST_MODIFIED_HEADER = {
    "description": "When this state of the item became true (`updated_at`, as an HTTP date). For information: "
    "conditional requests use the ETag.",
    "schema": {"type": "string", "example": "Mon, 10 Jan 2022 00:00:00 GMT"},
}
LINK_HEADER = {
    "description": 'The next page, as `<url>; rel="next"`; absent on the last page. The URL is path-absolute '
    "(`</v1/talks?limit=2&cursor=…>`, resolved against the URL of the request), or absolute when the server sets "
    "`PUBLIC_BASE_URL`; it never depends on the request's `Host`.",
    "schema": {"type": "string"},
}
CSV_SCHEMA = {
    "type": "string",
    "description": "With `format=csv` or `Accept: text/csv`: a header row, then one row per item (UTF-8, RFC 4180 "
    "quoting). Lists of ids are joined with `;`, nested objects are JSON text, null is an empty cell. A text cell "
    "that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so that a spreadsheet "
    "shows it instead of running it as a formula; numbers are left as they are.",
    "example": "id,title,format\r\ngeneva-strategic-stability-2022-01-10,Geneva talks,bilateral\r\n",
}
RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 0, "example": 1},
}
WWW_AUTHENTICATE_HEADER = {
    "description": "The bearer challenge (RFC 6750 §3), with the reason when a token was sent.",
    "schema": {"type": "string", "example": 'Bearer realm="proposals-api", error="invalid_token"'},
}
RATE_LIMIT_HEADERS = {
    "Retry-After": {
        "description": "Seconds until the window ends and the limit allows requests again.",
        "schema": {"type": "integer", "minimum": 1, "example": 42},
    },
    "RateLimit-Policy": {
        "description": "The limits this request counts against (IETF draft-ietf-httpapi-ratelimit-headers-10): "
        "`q` requests per `w` seconds per token (`token-writes`) or per client address (`address-writes`, "
        "`address-reads`).",
        "schema": {"type": "string", "example": '"address-writes";q=10000;w=60, "token-writes";q=10000;w=60'},
    },
    "RateLimit": {
        "description": "For each policy, `r` requests remaining and `t` seconds until its window ends.",
        "schema": {"type": "string", "example": '"address-writes";r=0;t=42, "token-writes";r=0;t=42'},
    },
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "description": "ETags you hold; 304 Not Modified when one still names the representation (weak comparison).",
    "schema": {"type": "string", "example": '"2.42"'},
}


class Parser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION: ClassVar[dict] = {"query": RAISE, "json": RAISE, "path": RAISE}
    DEFAULT_VALIDATION_STATUS = 400

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.empty_queries: dict[Schema, dict] = {}  # by schema instance (a schema hashes by identity)

    def parse(self, argmap, req=None, *, location=None, **kwargs):
        """An empty query string loads to its schema's defaults, the same every time: loaded once per
        schema, not by webargs on every request (the commonest list and item reads have none)."""
        if location == "query" and isinstance(argmap, Schema) and not flask.request.query_string:
            if argmap not in self.empty_queries:
                self.empty_queries[argmap] = super().parse(argmap, req, location=location, **kwargs)
            return copy.deepcopy(self.empty_queries[argmap])
        return super().parse(argmap, req, location=location, **kwargs)


def schema_name(schema: type[Schema] | Schema) -> str:
    """Component names: `Talk` as responses serve it whole (schemas.common.as_served: every field
    present), `TalkFields` as a `fields=` answer (as_sparse: any field may be absent), `TalkInput` as a
    create must send it."""
    cls = schema if isinstance(schema, type) else type(schema)
    if "component" in cls.__dict__:
        return cls.component
    name = cls.__name__.removesuffix("Schema")
    if name in INPUT_NAMES:
        return name + "Input"
    return name


# Schemas whose served form (as_served) differs from what a write sends: a field optional on input.
INPUT_NAMES = {
    "Source",
    "Party",
    "Proposal",
    "Clause",
    "ClauseInProposal",
    "Talk",
    "Delegation",
    "Chair",
    "Statement",
    "Person",
}


class QueryExamplesInDescriptions(BasePlugin):
    """Swagger UI's "Try it out" fills every query parameter with its example, so a first try of a
    list would send every filter at once and find nothing. Optional query parameters therefore
    show their example in their description instead."""

    def operation_helper(self, path: str | None = None, operations: dict | None = None, **kwargs) -> None:
        for operation in (operations or {}).values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") != "query" or parameter.get("required") or "example" not in schema:
                    continue
                example = schema.pop("example")
                shown = ",".join(map(str, example)) if isinstance(example, list) else example
                parameter["description"] = f"{parameter.get('description', '').rstrip()} Example: `{shown}`."


class ProblemApi(Api):
    ERROR_SCHEMA = ProblemSchema
    _served_document: tuple[bytes, str] | None = None

    def _openapi_json(self) -> Response:
        """`/v1/openapi.json`, built once per process (it changes only with a deploy), with an ETag of its
        bytes: a client revalidates it (`no-cache`) and gets 304 while it holds the current one."""
        if self._served_document is None:
            body = flask.json.dumps(self.spec.to_dict(), indent=2, sort_keys=False).encode()
            self._served_document = (body, f'"openapi-{hashlib.sha256(body).hexdigest()[:20]}"')
        body, etag = self._served_document
        if_none_match = flask.request.headers.get("If-None-Match")
        if if_none_match and etag_matches(if_none_match, etag):
            response = Response(status=304)
        else:
            response = Response(body, mimetype="application/json")
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = REVALIDATE
        return response

    def _register_error_handlers(self) -> None:
        errors.init_app(self._app)

    def _register_pagination_header(self) -> None:
        """Not used: lists page with keyset cursors and a Link header, not X-Pagination."""

    def _register_etag_headers(self) -> None:
        """Not used: conditional-request headers are documented per operation."""

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            if status == http.HTTPStatus.NOT_MODIFIED:  # every 304 names what the client still holds
                response["headers"] = {"ETag": ETAG_HEADER}
            if status == http.HTTPStatus.TOO_MANY_REQUESTS:  # a reference ignores alt_response's headers
                response["description"] = "Past a rate limit: try again after `Retry-After` seconds."
                response["headers"] = RATE_LIMIT_HEADERS
            if status == http.HTTPStatus.UNAUTHORIZED:
                response["description"] = (
                    "No valid bearer token: none was sent, or it is malformed, unknown, revoked or expired "
                    '(`WWW-Authenticate` then says `error="invalid_token"`, RFC 6750).'
                )
                response["headers"] = {"WWW-Authenticate": WWW_AUTHENTICATE_HEADER}
            if status == http.HTTPStatus.FORBIDDEN:
                response["description"] = (
                    'The token is valid but its scope is too small, such as a read-only token writing (`error="'
                    'insufficient_scope"`).'
                )
                response["headers"] = {"WWW-Authenticate": WWW_AUTHENTICATE_HEADER}
            if status == http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE:
                response["description"] = (
                    f"A header field is longer than {MAX_FIELD_BYTES // 1024} KiB, or all of them together longer "
                    f"than {MAX_FIELDS_BYTES // 1024} KiB."
                )
            if status == http.HTTPStatus.SERVICE_UNAVAILABLE:
                response["description"] = "The database is unreachable: try again after `Retry-After` seconds."
                response["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
            prepare_response(response, self.spec, errors.PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)
