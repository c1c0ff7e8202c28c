"""Loading dataset files: the seed data and users' own datasets share this one path.

A dataset file is JSON: `{"format": "proposals-api/dataset@1", "changes": [...]}`. Each
change is a whole record (`record`) or an RFC 7396 merge patch of an existing one (`id`
+ `patch`), with `collection`, `valid_from` and `note`. Changes apply in order, in one
transaction: all of the file or nothing. Records are validated by the same schemas that
document the API. Consecutive changes share one changeset (so an alliance gets one
revision for all the members that join it) until a change touches a record the
changeset already wrote; that change starts a new one, so history stays history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import psycopg
from marshmallow import Schema, ValidationError
from psycopg import sql
from psycopg.types.json import Jsonb

from api.collections import COLLECTIONS
from api.store.records import input_shape, patch_record
from api.store.sql import q

FORMAT = "proposals-api/dataset@1"
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
# The world as the seed article saw it, then what happened afterwards as later revisions.
SEED_FILES = (DATA_DIR / "dataset.json", DATA_DIR / "history.json")
SCHEMAS: dict[str, type[Schema]] = {
    collection.name: collection.schema for collection in COLLECTIONS.values() if collection.importable
}


class DatasetError(Exception):
    """A change that cannot be applied; says which one (the line, in NDJSON) and why."""

    unit = "change"

    def __init__(self, index: int | None, collection: str | None, item_id: str | None, problem: str):
        self.index, self.collection, self.item_id, self.problem = index, collection, item_id, problem
        where = "dataset" if index is None else f"{self.unit} {index + 1}"
        if collection:
            where += f" ({collection}"
            where += f" {item_id})" if item_id else ")"
        super().__init__(f"{where}: {problem}")


def _field_problem(messages: dict) -> str:
    return json.dumps(messages, ensure_ascii=False, sort_keys=True)


def _valid_from(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("valid_from must be an RFC 3339 date-time string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("valid_from needs a time zone (e.g. Z)")
    return parsed


class Importer:
    """Applies changes on one connection inside the caller's transaction."""

    def __init__(self, conn: psycopg.Connection, actor: str):
        self.conn = conn
        self.default_actor = actor
        self.actor: str | None = None
        self.changeset: int | None = None
        self.written: set[tuple[str, str]] = set()

    def _changeset_for(self, key: tuple[str, str], actor: str) -> int:
        if self.changeset is None or key in self.written or actor != self.actor:
            self.changeset = self.conn.execute(q("new_changeset"), {"actor": actor}).fetchone()[0]
            self.actor = actor
            self.written = set()
        self.written.add(key)
        return self.changeset

    def apply(self, index: int, change: object) -> tuple[str, str]:
        if not isinstance(change, dict):
            raise DatasetError(index, None, None, "a change must be a JSON object")
        unknown = set(change) - {"collection", "valid_from", "note", "actor", "record", "id", "patch", "deleted"}
        collection = change.get("collection")
        if unknown:
            raise DatasetError(index, None, None, f"unknown keys {sorted(unknown)}")
        if collection not in SCHEMAS:
            raise DatasetError(index, None, None, f"collection must be one of {sorted(SCHEMAS)}")
        try:
            valid_from = _valid_from(change.get("valid_from"))
        except ValueError as error:
            raise DatasetError(index, collection, None, str(error)) from error
        note = change.get("note")
        if note is not None and (not isinstance(note, str) or len(note) > 2000):
            raise DatasetError(index, collection, None, "note must be a string of at most 2000 characters")
        actor = change.get("actor", self.default_actor)
        if not isinstance(actor, str) or not 1 <= len(actor) <= 200:
            raise DatasetError(index, collection, None, "actor must be a string of 1 to 200 characters")
        if change.get("deleted") is True:
            return self._delete(index, collection, change, valid_from, note, actor)
        if "deleted" in change:
            raise DatasetError(index, collection, None, "deleted can only be true")
        record = self._record(index, collection, change)
        item_id = record.get("id") if isinstance(record, dict) else None
        try:
            SCHEMAS[collection]().load(record)
        except ValidationError as error:
            raise DatasetError(
                index, collection, item_id, f"invalid fields {_field_problem(error.messages)}"
            ) from error
        changeset = self._changeset_for((collection, item_id), actor)
        query = sql.SQL(q("save_record")).format(function=sql.Identifier(f"save_{collection}"))
        try:  # no savepoint: the import is all or nothing, and this except already knows the change
            self.conn.execute(
                query, {"record": Jsonb(record), "changeset": changeset, "valid_from": valid_from, "note": note}
            )
        except psycopg.errors.IntegrityError as error:
            detail = error.diag.message_detail or error.diag.message_primary
            raise DatasetError(index, collection, item_id, f"conflicts with the data: {detail}") from error
        return collection, item_id

    def _delete(
        self, index: int, collection: str, change: dict, valid_from: datetime, note: str | None, actor: str
    ) -> tuple[str, str]:
        item_id = change.get("id")
        if not isinstance(item_id, str) or set(change) & {"record", "patch"}:
            raise DatasetError(index, collection, None, "a deletion needs a string `id` and no record or patch")
        changeset = self._changeset_for((collection, item_id), actor)
        try:
            self.conn.execute(
                q("delete_item"),
                {
                    "collection": collection,
                    "id": item_id,
                    "changeset": changeset,
                    "valid_from": valid_from,
                    "note": note,
                },
            )
        except (psycopg.errors.IntegrityError, psycopg.errors.NoDataFound) as error:
            detail = error.diag.message_detail or error.diag.message_primary
            raise DatasetError(index, collection, item_id, f"cannot be deleted: {detail}") from error
        return collection, item_id

    def _record(self, index: int, collection: str, change: dict) -> dict:
        if ("record" in change) == ("patch" in change):
            raise DatasetError(index, collection, None, "give either `record` or `id` with `patch`")
        if "record" in change:
            if "id" in change:
                raise DatasetError(index, collection, None, "`id` goes inside `record`")
            if not isinstance(change["record"], dict):
                raise DatasetError(index, collection, None, "`record` must be an object")
            return change["record"]
        item_id = change.get("id")
        if not isinstance(item_id, str) or not isinstance(change["patch"], dict):
            raise DatasetError(index, collection, None, "a patch needs a string `id` and an object `patch`")
        query = sql.SQL(q("current_doc")).format(table=sql.Identifier(collection))
        row = self.conn.execute(query, {"id": item_id}).fetchone()
        if row is None or row[1]:
            raise DatasetError(index, collection, item_id, "no such record to patch")
        patched = patch_record(input_shape(row[0]), change["patch"])
        if isinstance(patched, dict) and patched.get("id") != item_id:
            raise DatasetError(index, collection, item_id, "a patch cannot change the id")
        return patched


class LineError(DatasetError):
    unit = "line"


def read_dataset(path: Path) -> tuple[dict, str]:
    """A dataset file: one JSON document, or NDJSON (one change per line, as `export` writes)."""
    raw = path.read_bytes()
    try:
        document = json.loads(raw)
    except json.JSONDecodeError:
        document = None
    except UnicodeDecodeError as error:
        raise DatasetError(None, None, None, f"{path.name} is not UTF-8: {error}") from error
    if document is None:
        changes = []
        for number, line in enumerate(raw.splitlines()):
            try:
                changes.append(json.loads(line))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise LineError(number, None, None, f"not valid JSON: {error}") from error
        document = {"format": FORMAT, "changes": changes, "ndjson": True}
    if (
        not isinstance(document, dict)
        or document.get("format") != FORMAT
        or not isinstance(document.get("changes"), list)
    ):
        raise DatasetError(None, None, None, f'expected {{"format": "{FORMAT}", "changes": [...]}}')
    return document, hashlib.sha256(raw).hexdigest()


def import_dataset(
    conn: psycopg.Connection,
    path: Path,
    *,
    actor: str | None = None,
    progress: Callable[[Iterator], Iterator] | None = None,
) -> int | None:
    """Applies a dataset file once; returns the number of changes, or None if it was already applied."""
    document, digest = read_dataset(path)
    name = path.name
    with conn.transaction():
        if conn.execute(q("dataset_import_digest"), {"name": name}).fetchone() == (digest,):
            return None
        importer = Importer(conn, actor or f"import:{name}")
        conn.execute(q("defer_person_references"))
        changes = enumerate(document["changes"])
        for index, change in progress(changes) if progress else changes:
            try:
                importer.apply(index, change)
            except DatasetError as error:
                if document.get("ndjson"):
                    raise LineError(index, error.collection, error.item_id, error.problem) from error
                raise
        try:
            conn.execute(q("check_person_references"))
        except psycopg.errors.ForeignKeyViolation as error:
            detail = error.diag.message_detail or error.diag.message_primary
            raise DatasetError(None, None, None, f"refers to a person that does not exist: {detail}") from error
        conn.execute(q("record_dataset_import"), {"name": name, "sha256": digest})
    return len(document["changes"])


def seed(conn: psycopg.Connection) -> list[tuple[str, int | None]]:
    """Loads the bundled dataset files that are not loaded yet; none into a mirror (its data is its origin's)."""
    if conn.execute(q("is_mirror")).fetchone()[0]:
        return [(path.name, None) for path in SEED_FILES]
    return [(path.name, import_dataset(conn, path, actor="seed")) for path in SEED_FILES]
