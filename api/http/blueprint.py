"""flask-smorest's Blueprint with this API's kinds of operation documented once.

Every resource has the same kinds of operation (a list, an item, a create, an update with
If-Match, a delete leaving a tombstone): `list_doc`, `item_doc`, `create_doc`, `update_doc` and
`delete_doc` give each its responses, headers, errors, links and default description, so a view
in api/resources/ needs only its route, its arguments and a one-line docstring.
"""

from __future__ import annotations

import copy
import http
from collections.abc import Callable

from flask_smorest import Blueprint
from marshmallow import Schema

from api.http import notes
from api.http.headers import MAX_FIELD_BYTES
from api.http.openapi import (
    CSV_SCHEMA,
    ETAG_HEADER,
    IF_NONE_MATCH,
    LAST_MODIFIED_HEADER,
    LINK_HEADER,
    Parser,
)
from schemas.common import SPARSE_JSON, NoQuerySchema, as_served, as_sparse, sparse_page


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

    def alt_response(self, status_code, response=None, **kwargs) -> Callable:
        """flask-smorest documents a reference as it is and drops the headers and description given with it:
        refused here, so that no header is lost from the document without a word. Describe such a response
        in full (schema, content_type, description, headers) instead of naming a component."""
        if response is not None and kwargs:
            raise TypeError(f"alt_response({status_code}, response={response!r}) ignores {sorted(kwargs)}")
        return super().alt_response(status_code, response, **kwargs)

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
            view = self.alt_response(503, response="SERVICE_UNAVAILABLE")(view)  # Retry-After: the component's
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
            view = self.alt_response(304, response="NOT_MODIFIED")(view)
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
            view = self.alt_response(304, response="NOT_MODIFIED")(view)
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
    "schema": {"type": "string", "pattern": IF_MATCH_PATTERN, "example": '"2.2"'},
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
