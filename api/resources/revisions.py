"""Every item's history: its revisions, one revision, and the diff between two.

The routes are the same for every collection, so each resource module adds them to its
blueprint with `add_revision_routes`.
"""

from __future__ import annotations

import jsonpatch
import orjson
from flask import Response, request
from flask.views import MethodView

from api.collections import Collection
from api.http.blueprint import ApiBlueprint
from api.http.conditional import etag_matches, json_response, make_etag, not_modified
from api.http.connection import connection
from api.http.errors import ApiError, not_found
from api.http.openapi import IF_NONE_MATCH
from api.resources.reads import ListQuery, is_id, list_response
from api.store.sql import q
from schemas.revisions import (
    DiffQuerySchema,
    PatchOperationSchema,
    RevisionListQuerySchema,
    revision_page_schema,
    revision_schema,
)

IMMUTABLE = "public, max-age=31536000, immutable"
REVISIONS = ListQuery("revisions", 1, version_query="revisions_version")  # an item's revisions, newest first
JSON_PATCH = "application/json-patch+json"


def keyed_clauses(item: dict) -> dict:
    """The item with `clauses` as an object keyed by clause id, so a diff names clauses, not positions."""
    if isinstance(item.get("clauses"), list):
        return item | {"clauses": {clause["id"]: clause for clause in item["clauses"]}}
    return item


def revision_diff(old: dict, new: dict) -> list[dict]:
    """RFC 6902 operations turning `old` into `new`, both with keyed clauses.

    A clause that changed is one `replace` of the whole clause; added and removed clauses
    are one `add` or `remove` each.
    """
    old, new = keyed_clauses(old), keyed_clauses(new)
    old_clauses, new_clauses = old.pop("clauses", None), new.pop("clauses", None)
    operations = list(jsonpatch.make_patch(old, new))
    if isinstance(old_clauses, dict) and isinstance(new_clauses, dict):
        for clause_id in old_clauses.keys() - new_clauses.keys():
            operations.append({"op": "remove", "path": f"/clauses/{_escape(clause_id)}"})
        for clause_id, clause in new_clauses.items():
            if clause_id not in old_clauses:
                operations.append({"op": "add", "path": f"/clauses/{_escape(clause_id)}", "value": clause})
            elif old_clauses[clause_id] != clause:
                operations.append({"op": "replace", "path": f"/clauses/{_escape(clause_id)}", "value": clause})
    return operations


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _require_item(collection: str, singular: str, item_id: str) -> None:
    if not is_id(item_id):
        raise not_found(singular, item_id)
    if connection().execute(q("item_exists"), {"collection": collection, "id": item_id}).fetchone() is None:
        raise not_found(singular, item_id)


def _revision(collection: str, singular: str, item_id: str, number: int) -> tuple[str, dict]:
    _require_item(collection, singular, item_id)
    if number > 2**31 - 1:
        raise ApiError(404, f"The {singular} {item_id!r} has no revision {number}.")
    row = (
        connection()
        .execute(q("get_revision"), {"collection": collection, "id": item_id, "revision": number})
        .fetchone()
    )
    if row is None:
        raise ApiError(404, f"The {singular} {item_id!r} has no revision {number}.")
    return row


def _held(etag: str) -> bool:
    """Whether the request's If-None-Match names `etag` (weak comparison), once the revisions are known to exist."""
    if_none_match = request.headers.get("If-None-Match")
    return bool(if_none_match) and etag_matches(if_none_match, etag)


def _immutable(response: Response) -> Response:
    """A 200 or 304 of something that never changes: caches may keep it for good (RFC 8246)."""
    response.headers["Cache-Control"] = IMMUTABLE
    return response


def add_revision_routes(blp: ApiBlueprint, declared: Collection, id_parameter: dict) -> None:
    collection, singular, item_schema = declared.name, declared.singular, declared.schema
    revision = revision_schema(item_schema)
    page = revision_page_schema(revision)
    id_name = id_parameter["name"]
    name = singular.capitalize()
    number_parameter = {
        "in": "path",
        "name": "number",
        "required": True,
        "description": "The revision number.",
        "schema": {"type": "integer", "minimum": 1, "example": 1},
    }

    @blp.route(f"/<{id_name}>/revisions", parameters=[id_parameter])
    class Revisions(MethodView):
        @blp.arguments(RevisionListQuerySchema(), location="query")
        @blp.list_doc(page, f"list{name}Revisions")
        @blp.alt_response(404, response="NOT_FOUND")
        def get(self, args: dict, **path: str):
            """List an item's revisions, newest first.

            Deleted items keep their history: the last revision is the tombstone.
            """
            item_id = path[id_name]
            _require_item(collection, singular, item_id)
            return list_response(REVISIONS, {"collection": collection, "id": item_id}, args)

    @blp.route(f"/<{id_name}>/revisions/<int:number>", parameters=[id_parameter, number_parameter])
    class Revision(MethodView):
        @blp.operation(f"get{name}Revision")
        @blp.no_query()
        @blp.header_params(IF_NONE_MATCH)
        @blp.response(
            200, revision, headers={"ETag": {"description": "Names the revision.", "schema": {"type": "string"}}}
        )
        @blp.alt_response(304, response="NOT_MODIFIED")
        @blp.alt_response(404, response="NOT_FOUND")
        def get(self, number: int, **path: str):
            """Get one revision of an item: the item as it stood, and who changed it, when and why.

            A revision never changes, so it may be cached for good; `If-None-Match` with its ETag gets 304.
            """
            body, _ = _revision(collection, singular, path[id_name], number)
            etag = make_etag(number)
            if _held(etag):
                return _immutable(not_modified(etag))
            return _immutable(json_response(body.encode(), etag))

    @blp.route(f"/<{id_name}>/revisions/<int:number>/diff", parameters=[id_parameter, number_parameter])
    class RevisionDiff(MethodView):
        @blp.operation(f"get{name}RevisionDiff")
        @blp.arguments(DiffQuerySchema(), location="query")
        @blp.response(
            200,
            PatchOperationSchema(many=True),
            content_type=JSON_PATCH,
            headers={"ETag": {"description": "Names the pair of revisions.", "schema": {"type": "string"}}},
        )
        @blp.header_params(IF_NONE_MATCH)
        @blp.alt_response(304, response="NOT_MODIFIED")
        @blp.alt_response(404, response="NOT_FOUND")
        @blp.alt_response(400, response="BAD_REQUEST")
        def get(self, args: dict, number: int, **path: str):
            """What changed between two revisions, as an RFC 6902 JSON Patch.

            The patch turns revision `from` (the previous one by default; for revision 1, nothing: an empty
            object) into revision `number`. It applies to
            the item with `clauses` as an object keyed by clause id, so a changed clause is one operation on
            `/clauses/{clause_id}`. Both revisions never change, so neither does the patch: `If-None-Match`
            with its ETag gets 304.
            """
            item_id = path[id_name]
            older = args["from_revision"] if args["from_revision"] is not None else number - 1
            _, new = _revision(collection, singular, item_id, number)
            old = _revision(collection, singular, item_id, older)[1] if older >= 1 else {}
            etag = make_etag(f"{older}-{number}")
            if _held(etag):
                return _immutable(not_modified(etag))
            response = Response(orjson.dumps(revision_diff(old, new)), mimetype=JSON_PATCH)
            response.headers["ETag"] = etag
            return _immutable(response)
