"""Creating, changing and deleting items: each write is one transaction.

The item, its revision snapshot, the revisions of items whose representation shows it (a
clause's proposal, a party's groups) and the idempotency record commit together or not
at all. Order of checks: token read (in `api.http.auth.access`, before any view or other hook) →
write limits (429, api/http/ratelimit.py; it wins over a refused token) → token refused (401/403)
→ Accept (406) → query (400) → If-Match present (428) → body
(415/413/400/422) → row lock and If-Match compared (412) → write. Each view asks for the
token again (`require_scope`, answered from the request's verdict), so a route wired past
the guard still refuses. The row lock taken before the comparison makes concurrent writers
on one revision queue up: exactly one of them wins.

Longer than most modules (about 340 lines) because the three writes share every step above,
and idempotent replay with it; split, each part would import most of the others.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import TypeVar

import orjson
import psycopg
from flask import Response, current_app, request
from marshmallow import Schema, ValidationError
from psycopg import sql
from psycopg.types.json import Jsonb

from api.collections import Collection
from api.http.auth import require_scope
from api.http.conditional import json_response, make_etag
from api.http.connection import connection
from api.http.errors import ApiError, field_errors, gone, not_found
from api.http.notes import NoteError, parse_note
from api.resources.paging import public_url
from api.resources.reads import is_id
from api.store.records import input_shape, patch_record
from api.store.sql import q

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
ATTEMPTS = 3
T = TypeVar("T")


def _query(name: str, table: str) -> sql.Composed:
    return sql.SQL(q(name)).format(table=sql.Identifier(table), function=sql.Identifier(f"save_{table}"))


def change_note() -> str | None:
    """The revision's note (api/http/notes.py: ASCII, or RFC 8187 percent-encoded UTF-8); 400 for a value
    that carries none, so that a note is never stored empty or garbled."""
    header = request.headers.get("X-Change-Note")
    if header is None:
        return None
    try:
        return parse_note(header)
    except NoteError as error:
        raise ApiError(
            400, str(error), errors=[{"parameter": "X-Change-Note", "detail": "Not a note in ASCII or RFC 8187 form."}]
        ) from error


def required_if_match() -> list[str]:
    """The entity tags of If-Match; 428 without one. A malformed value matches nothing (412 later)."""
    header = request.headers.get("If-Match")
    if header is None:
        raise ApiError(428, "Send If-Match with the ETag of the revision you are changing (GET it first).")
    return [t.strip() for t in header.split(",") if t.strip()]


def read_json_body(media_types: tuple[str, ...]) -> dict:
    """The request body as a JSON object, or the precise 4xx for why it is not one."""
    if request.mimetype not in media_types:
        raise ApiError(
            415,
            f"Send the body as {' or '.join(media_types)}.",
            headers={"Accept-Patch" if MERGE_PATCH in media_types else "Accept-Post": ", ".join(media_types)},
        )
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise ApiError(415, "Only UTF-8 bodies are accepted.")
    raw = request.get_data(cache=True)
    if raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        raise ApiError(400, "The body starts with a byte order mark; send plain UTF-8 JSON.")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise ApiError(422, "The body must be a JSON object.", errors=[{"pointer": "", "detail": "Not an object."}])
    return body


MAX_DEPTH = 32  # the deepest item (proposal → clauses → excerpts → excerpt) is 4 levels


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> object:
    """Strict UTF-8 JSON. The standard library parser, not orjson, so that a number too large for
    64 bits or a double (2**70, 1e400) still parses and the field's validation answers 422."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error).splitlines()[0][:200]
        raise ApiError(400, f"The body is not valid UTF-8 JSON: {reason}") from error
    _check_shape(body)
    return body


def _check_shape(body: object) -> None:
    """400 for nesting deeper than any item has, or a lone surrogate escape (no UTF-8 can carry it)."""
    stack = [(body, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ApiError(400, f"The body is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(node, dict):
            stack.extend((key, depth + 1) for key in node)
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError as error:
                raise ApiError(400, "The body has a lone surrogate escape, which is not a character.") from error


def validated(schema: type[Schema], record: dict) -> dict:
    try:
        schema().load(record)
    except ValidationError as error:
        raise ApiError(422, "The item has invalid fields.", errors=field_errors(error.messages, "json")) from error
    return record


def _database_conflict(error: psycopg.errors.IntegrityError) -> ApiError:
    detail = error.diag.message_detail or error.diag.message_primary or "conflicts with stored data"
    if error.diag.constraint_name == "clause_responses_responds_to_id_fkey":
        # A point must answer clauses that exist: a fault of the body, like a failed field validation.
        return ApiError(
            422,
            f"The item responds to a clause that does not exist: {detail}",
            errors=[{"pointer": "/responds_to_ids", "detail": detail}],
        )
    if isinstance(error, psycopg.errors.ForeignKeyViolation) and "is not present" in detail:
        return ApiError(409, f"The item refers to something that does not exist: {detail}")
    if isinstance(error, psycopg.errors.CheckViolation):
        return ApiError(422, "The item breaks a rule of the data model.")
    return ApiError(409, f"The change conflicts with stored data: {detail}")


def _save(conn: psycopg.Connection, collection: str, record: dict, actor: str, note: str | None) -> None:
    changeset, now = conn.execute(q("new_changeset_now"), {"actor": actor}).fetchone()
    conn.execute(
        _query("save_record", collection),
        {"record": Jsonb(record), "changeset": changeset, "valid_from": now, "note": note},
    )


def _locked_item(conn: psycopg.Connection, collection: str, singular: str, item_id: str, if_match: list[str]) -> dict:
    if collection == "clauses":
        conn.execute(q("lock_proposal_of_clause"), {"id": item_id})  # the proposal first, always
    row = conn.execute(_query("item_for_update", collection), {"id": item_id}).fetchone()
    if row is None:
        raise not_found(singular, item_id)
    doc, revision, deleted = row
    if deleted:
        raise gone(singular, item_id)
    current = make_etag(revision)
    if "*" not in if_match and current not in if_match:
        raise ApiError(
            412, f"The {singular} has changed: it is at {current} now. GET it, then retry.", headers={"ETag": current}
        )
    return doc


def in_transaction(conn: psycopg.Connection, work: Callable[[], T]) -> T:
    """Runs `work` in one transaction; again, up to three times, if Postgres rolls it back for a
    conflict with a concurrent one (deadlock, serialization failure). Integrity errors become 409/422.

    The change feed's lock comes first (`lock_changes`, sql/functions/writes.sql): writes commit one
    at a time, in the order of their revisions in `GET /v1/changes`. First, because `work` locks rows
    before it draws its changeset; taken after them, it could deadlock with a writer that holds it."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with conn.transaction():
                conn.execute(q("lock_changes"), prepare=True)
                return work()
        except psycopg.errors.TransactionRollback:
            if attempt == ATTEMPTS:
                raise
        except psycopg.errors.IntegrityError as error:
            raise _database_conflict(error) from error
    raise AssertionError("unreachable")


def create(declared: Collection) -> Response:
    collection, singular, schema = declared.name, declared.singular, declared.schema
    actor = require_scope("write")
    note = change_note()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            400,
            "Idempotency-Key must be 1 to 200 visible ASCII characters.",
            errors=[{"parameter": "Idempotency-Key", "detail": "Not a valid key."}],
        )
    body = read_json_body((JSON,))
    record = validated(schema, body)
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS) + request.path.encode()).hexdigest()
    conn = connection()
    ttl = current_app.config["SETTINGS"].idempotency_ttl
    forget_expired_responses(conn, ttl)
    item_id = record["id"]
    location = f"/v1/{collection}/{item_id}"

    def work() -> Response:
        if key is not None:
            conn.execute(q("lock_key"), {"key": f"idempotency:{actor}:{key}"})
            conn.execute(q("forget_expired_response"), {"actor": actor, "key": key, "ttl": ttl})
            seen = conn.execute(q("idempotent_response"), {"actor": actor, "key": key, "ttl": ttl}).fetchone()
            if seen is not None:
                return _replay(seen, digest)
        if collection == "clauses":
            conn.execute(q("lock_proposal"), {"id": record["proposal_id"]})  # the proposal first, always
        conn.execute(q("lock_key"), {"key": f"{collection}:{item_id}"})
        existing = conn.execute(_query("item_revision", collection), {"id": item_id}).fetchone()
        if existing is not None:
            what = "was deleted, and its id cannot be reused" if existing[1] else "already exists"
            raise ApiError(
                409,
                f"The {singular} {item_id!r} {what}.",
                errors=[{"pointer": "/id", "detail": f"Taken by a {singular} that {what}."}],
            )
        _save(conn, collection, record, actor, note)
        doc, etag = _current_of(conn, collection, item_id)
        if key is not None:
            conn.execute(
                q("remember_response"),
                {
                    "actor": actor,
                    "key": key,
                    "request_sha256": digest,
                    "status": 201,
                    "location": location,
                    "etag": etag,
                    "body": doc.decode(),
                },
            )
        return json_response(doc, etag, status=201, headers={"Location": _public(location)})

    return in_transaction(conn, work)


def _public(path: str) -> str:
    """The new item's URL as `Location` gives it (the path is what an idempotency record keeps)."""
    return public_url(current_app.config["SETTINGS"].public_base_url, request.script_root, path)


SWEEP_INTERVAL = 60.0  # seconds between two clean-ups of expired idempotency records, per worker


def forget_expired_responses(conn: psycopg.Connection, ttl: int) -> None:
    """Deletes idempotency records older than `ttl` seconds about once a minute in each worker, on a
    create (which is when the table grows); an expired record is never replayed anyway."""
    now = time.monotonic()
    if now >= current_app.extensions.get("idempotency_next_sweep", 0.0):
        current_app.extensions["idempotency_next_sweep"] = now + SWEEP_INTERVAL
        conn.execute(q("forget_expired_responses"), {"ttl": ttl})


def _replay(seen: tuple, digest: str) -> Response:
    request_sha256, status, location, etag, body = seen
    if request_sha256 != digest:
        raise ApiError(
            422,
            "This Idempotency-Key was already used with a different request body.",
            errors=[{"parameter": "Idempotency-Key", "detail": "Reused with another body."}],
        )
    headers = {"Location": _public(location)} if location else {}
    return json_response(body.encode(), etag, status=status, headers=headers | {"Idempotent-Replayed": "true"})


def _current_of(conn: psycopg.Connection, collection: str, item_id: str) -> tuple[bytes, str]:
    doc, revision, *_ = conn.execute(_query("item_doc", collection), {"id": item_id}).fetchone()
    return doc.encode(), make_etag(revision)


def update(declared: Collection, item_id: str) -> Response:
    """PATCH as JSON Merge Patch (RFC 7396) of the item's writable fields (not its `fixed` ones)."""
    collection, singular, schema = declared.name, declared.singular, declared.schema
    actor = require_scope("write")
    if not is_id(item_id):
        raise not_found(singular, item_id)
    note = change_note()
    if_match = required_if_match()
    patch = read_json_body((MERGE_PATCH, JSON))
    try:
        schema().load(patch, partial=True)  # fields as such: checked before anything is locked
    except ValidationError as error:
        raise ApiError(422, "The patch has invalid fields.", errors=field_errors(error.messages, "json")) from error
    conn = connection()

    def work() -> Response:
        doc = _locked_item(conn, collection, singular, item_id, if_match)
        current = input_shape(doc)
        record = patch_record(current, patch)
        # In a merge patch null removes a member; members that are always present become null.
        record |= {name: None for name in current.keys() - record.keys() if schema._declared_fields[name].allow_none}
        for name in declared.fixed:
            if record.get(name) != current.get(name):
                raise ApiError(
                    422, f"{name} cannot be changed.", errors=[{"pointer": f"/{name}", "detail": "Cannot be changed."}]
                )
        validated(schema, record)
        _save(conn, collection, record, actor, note)
        body, etag = _current_of(conn, collection, item_id)
        return json_response(body, etag)

    return in_transaction(conn, work)


def delete(declared: Collection, item_id: str) -> Response:
    """Leaves a tombstone: the item answers 410 afterwards, its revisions stay readable."""
    collection, singular = declared.name, declared.singular
    actor = require_scope("write")
    if not is_id(item_id):
        raise not_found(singular, item_id)
    note = change_note()
    if_match = required_if_match()
    conn = connection()

    def work() -> Response:
        _locked_item(conn, collection, singular, item_id, if_match)
        changeset, now = conn.execute(q("new_changeset_now"), {"actor": actor}).fetchone()
        conn.execute(
            q("delete_item"),
            {"collection": collection, "id": item_id, "changeset": changeset, "valid_from": now, "note": note},
        )
        return Response(status=204)

    return in_transaction(conn, work)
