"""flask-smorest, adjusted to this API's contract.

- Errors are RFC 9457 problem+json, documented as such.
- Query and path problems are 400; body problems 422; a body that is not JSON 415.
- Unknown query parameters and body fields are rejected, never ignored.
"""

from __future__ import annotations

import copy
import hashlib
import http
from collections.abc import Callable
from typing import ClassVar

import flask
from apispec import BasePlugin
from flask import Response
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from marshmallow import RAISE, Schema
from webargs.flaskparser import FlaskParser

from api.http import errors, notes
from api.http.caching import REVALIDATE
from api.http.conditional import etag_matches
from api.http.headers import MAX_FIELD_BYTES, MAX_FIELDS_BYTES
from schemas.common import SPARSE_JSON, NoQuerySchema, ProblemSchema, as_served, as_sparse, sparse_page

ETAG_HEADER = {
    "description": "Names this representation; send it back in If-None-Match to get 304.",
    "schema": {"type": "string", "example": '"1.42"'},
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
    "schema": {"type": "string", "example": '"1.42"'},
}


class Parser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION: ClassVar[dict] = {"query": RAISE, "json": RAISE, "path": RAISE}
    DEFAULT_VALIDATION_STATUS = 400

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.empty_queries: dict[int, tuple[Schema, dict]] = {}

    def parse(self, argmap, req=None, *, location=None, **kwargs):
        """An empty query string loads to its schema's defaults, the same every time: loaded once per
        schema, not by webargs on every request (the commonest list and item reads have none)."""
        if location == "query" and isinstance(argmap, Schema) and not flask.request.query_string:
            cached = self.empty_queries.get(id(argmap))
            if cached is None or cached[0] is not argmap:
                cached = self.empty_queries[id(argmap)] = (
                    argmap,
                    super().parse(argmap, req, location=location, **kwargs),
                )
            return copy.deepcopy(cached[1])
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


INPUT_NAMES = {"Source", "Party", "Proposal", "Clause", "ClauseInProposal", "Talk", "Statement"}


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


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = Parser()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_header_params_doc)
        self._prepare_doc_cbks.append(self._prepare_default_description)

    @staticmethod
    def _prepare_header_params_doc(doc: dict, doc_info: dict, **kwargs) -> dict:
        """Appends header parameters after the query parameters (a plain doc() would replace them)."""
        doc.setdefault("parameters", []).extend(doc_info.get("header_params", []))
        return doc

    @staticmethod
    def _prepare_default_description(doc: dict, doc_info: dict, **kwargs) -> dict:
        """What every operation of a kind shares; a docstring with a description of its own wins."""
        if "default_description" in doc_info:
            doc["description"] = doc_info["default_description"]
        return doc

    @staticmethod
    def described(text: str) -> Callable:
        def decorate(view: Callable) -> Callable:
            view._apidoc = {**getattr(view, "_apidoc", {}), "default_description": text}
            return view

        return decorate

    @staticmethod
    def header_params(*params: dict) -> Callable:
        def decorate(view: Callable) -> Callable:
            view._apidoc = dict(getattr(view, "_apidoc", {}))
            view._apidoc["header_params"] = [*view._apidoc.get("header_params", []), *params]
            return view

        return decorate

    def operation(self, operation_id: str, security: list[dict] | None = None) -> Callable:
        """Names the operation, says who may call it (anyone, unless `security` asks for a token) and
        documents the answers every operation may give: 429 past a rate limit (api/http/ratelimit.py), 431 for
        header fields too large (api/http/headers.py) and 503 with Retry-After while the database is away."""

        def decorate(view: Callable) -> Callable:
            view = self.alt_response(429, response="TOO_MANY_REQUESTS")(view)  # its headers: _register_responses
            view = self.alt_response(431, response="REQUEST_HEADER_FIELDS_TOO_LARGE")(view)
            view = self.alt_response(503, response="SERVICE_UNAVAILABLE", headers={"Retry-After": RETRY_AFTER_HEADER})(
                view
            )
            return self.doc(operationId=operation_id, security=security or ANONYMOUS)(view)

        return decorate

    def no_query(self) -> Callable:
        """Rejects any query parameter with 400 (the view receives nothing)."""

        def decorate(view: Callable) -> Callable:
            view = self.alt_response(400, response="BAD_REQUEST")(view)
            return self.arguments(NoQuerySchema(), location="query", as_kwargs=True)(view)

        return decorate

    def list_doc(self, page_schema: type, operation_id: str) -> Callable:
        """Documents a list GET: the page, its ETag and Link headers, 304 and 400."""

        def decorate(view: Callable) -> Callable:
            view = self.operation(operation_id)(view)
            view = self.header_params(IF_NONE_MATCH)(view)
            view = self.alt_response(304, response="NOT_MODIFIED", headers={"ETag": ETAG_HEADER})(view)
            view = self.alt_response(400, response="BAD_REQUEST")(view)
            view = self.alt_response(406, response="NOT_ACCEPTABLE")(view)
            others = {"text/csv": {"schema": CSV_SCHEMA}}
            if sparse_page(page_schema) is not None:
                others = {SPARSE_JSON: {"schema": sparse_page(page_schema)}, **others}
            view = self.doc(responses={200: {"content": others}})(view)
            return self.response(200, page_schema, headers={"ETag": ETAG_HEADER, "Link": LINK_HEADER})(view)

        return decorate

    def create_doc(self, schema: type, operation_id: str) -> Callable:
        """Documents a POST: the body, the token, 201 with Location, and every refusal."""

        def decorate(view: Callable) -> Callable:
            view = self.described(CREATE_DESCRIPTION.format(item=item_name(schema)))(view)
            view = self.no_query()(view)
            view = self.operation(operation_id, BEARER)(view)
            view = self.header_params(IDEMPOTENCY_KEY, CHANGE_NOTE)(view)
            view = self.doc(
                requestBody={"required": True, "content": {"application/json": {"schema": schema}}},
                responses={201: {"links": item_links(schema)}},
            )(view)
            view = write_errors(view, self, 400, 401, 403, 409, 413, 415, 422)
            return self.response(201, as_served(schema), headers={"ETag": ETAG_HEADER, "Location": LOCATION_HEADER})(
                view
            )

        return decorate

    def update_doc(self, schema: type, operation_id: str, fixed: tuple[str, ...] = ("id",)) -> Callable:
        """Documents a PATCH (JSON Merge Patch) with If-Match."""

        def decorate(view: Callable) -> Callable:
            view = self.described(UPDATE_DESCRIPTION.format(item=item_name(schema)))(view)
            view = self.no_query()(view)
            view = self.operation(operation_id, BEARER)(view)
            body = {"schema": patch_schema(schema, fixed)}
            view = self.header_params(IF_MATCH, CHANGE_NOTE)(view)
            view = self.doc(
                requestBody={
                    "required": True,
                    "content": {"application/merge-patch+json": body, "application/json": body},
                },
                responses={200: {"links": item_links(schema)}},
            )(view)
            view = write_errors(view, self, 400, 401, 403, 404, 409, 410, 412, 413, 415, 422, 428)
            return self.response(200, as_served(schema), headers={"ETag": ETAG_HEADER})(view)

        return decorate

    def delete_doc(self, operation_id: str) -> Callable:
        """Documents a DELETE with If-Match: 204, and the tombstone answers 410 afterwards."""

        def decorate(view: Callable) -> Callable:
            view = self.described(DELETE_DESCRIPTION)(view)
            view = self.no_query()(view)
            view = self.operation(operation_id, BEARER)(view)
            view = self.header_params(IF_MATCH, CHANGE_NOTE)(view)
            view = write_errors(view, self, 400, 401, 403, 404, 409, 410, 412, 428)
            return self.response(204, description="Deleted: the item now answers 410; its revisions stay readable.")(
                view
            )

        return decorate

    def item_doc(self, schema: type, operation_id: str) -> Callable:
        """Documents an item GET: the item and its ETag, 304, 404 and 410."""

        def decorate(view: Callable) -> Callable:
            view = self.described(ITEM_DESCRIPTION.format(item=item_name(schema)))(view)
            view = self.operation(operation_id)(view)
            view = self.header_params(IF_NONE_MATCH)(view)
            view = self.alt_response(304, response="NOT_MODIFIED", headers={"ETag": ETAG_HEADER})(view)
            view = self.alt_response(404, response="NOT_FOUND")(view)
            view = self.alt_response(410, response="GONE")(view)
            view = self.alt_response(400, response="BAD_REQUEST")(view)
            view = self.alt_response(406, response="NOT_ACCEPTABLE")(view)
            headers = {"ETag": ETAG_HEADER, "Last-Modified": LAST_MODIFIED_HEADER}
            view = self.doc(responses={200: {"content": {SPARSE_JSON: {"schema": as_sparse(schema)}}}})(view)
            return self.response(200, as_served(schema), headers=headers)(view)

        return decorate


def item_name(schema: type[Schema]) -> str:
    return schema.__name__.removesuffix("Schema").lower()


def item_links(schema: type[Schema]) -> dict:
    """OpenAPI links from a write's answer to what a client does next with the item: read it, change
    it or delete it with the ETag just received, or read its history."""
    name = schema.__name__.removesuffix("Schema")
    by_id = {f"{item_name(schema)}_id": "$response.body#/id"}
    with_etag = {**by_id, "header.If-Match": "$response.header.ETag"}
    return {
        f"Get{name}": {"operationId": f"get{name}", "parameters": by_id},
        f"Update{name}": {"operationId": f"update{name}", "parameters": with_etag},
        f"Delete{name}": {"operationId": f"delete{name}", "parameters": with_etag},
        f"List{name}Revisions": {"operationId": f"list{name}Revisions", "parameters": by_id},
    }


CREATE_DESCRIPTION = (
    "Send the whole {item} as JSON. The answer is 201 with the {item} as served, its `ETag` and its `Location`. "
    "With an `Idempotency-Key`, a retry gets the first answer back and creates nothing. Needs a bearer token with "
    "the `write` scope: 401 without a valid one (none, unknown, revoked or expired), 403 with a read-only token."
)
UPDATE_DESCRIPTION = (
    "Send only the fields to change (RFC 7396 JSON Merge Patch); `null` clears an optional field. Send the {item}'s "
    "current `ETag` in `If-Match`: 428 without it, 412 when the {item} has changed since. The change is a new "
    "revision, whose note is `X-Change-Note`. Needs a bearer token with the `write` scope."
)
DELETE_DESCRIPTION = (
    "Afterwards the item answers 410 Gone and its revisions stay readable: the tombstone is its last revision. "
    "409 while live records still refer to it. Needs a bearer token with the `write` scope and `If-Match`."
)
ITEM_DESCRIPTION = (
    "`fields=` returns only the named fields and `as_of=` the revision valid at that instant. An id never seen is "
    "404, a deleted {item} 410; `If-None-Match` with the current ETag gets 304."
)

IF_MATCH_PATTERN = r'^\s*(\*|"[^"]*"(\s*,\s*"[^"]*")*)\s*$'
IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "description": "The ETag of the revision you are changing; 412 if the item has changed since. Without it: 428.",
    "schema": {"type": "string", "pattern": IF_MATCH_PATTERN, "example": '"1.2"'},
}
CHANGE_NOTE = {
    "in": "header",
    "name": "X-Change-Note",
    "required": False,
    "description": f"Why you make this change; stored with the revision as its `note`: 1 to {notes.MAX_NOTE} "
    "characters without control characters. Printable ASCII is taken as it is; any other text is sent as "
    "percent-encoded UTF-8 in RFC 8187 form, `UTF-8''` then the bytes (`UTF-8''Ryabkov%20%E2%80%94%20note`). "
    "A value that starts with `UTF-8'…'` is always read as encoded; an empty value, raw bytes beyond ASCII "
    f"(which servers pass on empty or garbled) and a malformed encoding are 400. The header is at most "
    f"{MAX_FIELD_BYTES} bytes (431).",
    "schema": {
        "type": "string",
        "maxLength": MAX_FIELD_BYTES,
        "pattern": notes.PATTERN,
        "example": "The talks took place.",
    },
}
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Any unique string (1-200 visible ASCII characters). Retrying with the same key and body returns "
    "the first response and creates nothing; the same key with another body is 422. A key is remembered for "
    "24 hours (the server's `IDEMPOTENCY_TTL`); after that it is new again.",
    "schema": {"type": "string", "pattern": "^[!-~]{1,200}$", "example": "6f1d2c3e-talk-create"},
}
LOCATION_HEADER = {
    "description": "The URL of the new item: its path (`/v1/talks/{id}`), or an absolute URL when the server sets "
    "`PUBLIC_BASE_URL`; never built from the request's `Host`.",
    "schema": {"type": "string"},
}
BEARER = [{"bearerAuth": []}]
ANONYMOUS: list[dict] = []  # reads need no token


def write_errors(view: Callable, blp: Blueprint, *codes: int) -> Callable:
    for code in codes:
        view = blp.alt_response(code, response=http.HTTPStatus(code).name)(view)
    return view


def patch_schema(schema: type[Schema], fixed: tuple[str, ...]) -> type[Schema]:
    """The fields a JSON Merge Patch may carry: the writable ones, none required."""
    declared = {}
    for name, field in schema._declared_fields.items():
        if field.dump_only or name in fixed:
            continue
        optional = copy.copy(field)
        optional.required = False
        declared[name] = optional
    return type(schema.__name__.removesuffix("Schema") + "PatchSchema", (Schema,), declared)


def id_parameter(name: str, description: str, example: str) -> dict:
    return {
        "in": "path",
        "name": name,
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$", "maxLength": 100, "example": example},
    }
