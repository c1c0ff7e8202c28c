"""Loading dataset files: the seed data and users' own datasets share this one path.

A dataset file is JSON: `{"format": "proposals-api/dataset@1", "changes": [...]}`. Each
change is a whole record (`record`) or an RFC 7396 merge patch of an existing one (`id`
+ `patch`), with `collection`, `valid_from` and `note`. Changes apply in order, in one
transaction: all of the file or nothing. Records are validated by the same schemas that
document the API. Consecutive changes share one changeset (so an alliance gets one
revision for all the members that join it) until a change touches a record the
changeset already wrote; that change starts a new one, so history stays history. An export's
lines number their commits (`changeset`): a change whose number differs from the last one's starts
a new changeset too, so an import makes the revisions the exported database had.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import ijson
import psycopg
from marshmallow import Schema, ValidationError
from psycopg import sql
from psycopg.types.json import Jsonb

from api.collections import COLLECTIONS
from api.store.records import input_shape, patch_record
from api.store.sql import q

FORMAT = "proposals-api/dataset@1"
AHEAD = 2000  # changes read and checked ahead of the writes
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


@dataclass
class Write:
    """One validated change, ready to write: what the per-record and the bulk path both take."""

    index: int
    collection: str
    item_id: str
    changeset: int
    valid_from: datetime
    note: str | None
    record: dict | None = None  # None for a deletion
    patched: bool = False


class SchemaChecks:
    """The importable collections' schemas, one instance each (making one costs more than many a
    load); one per thread."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}

    def problems(self, collection: str, record: object) -> dict | None:
        """What the collection's schema says is wrong with a record, or None."""
        if collection not in self.schemas:
            self.schemas[collection] = SCHEMAS[collection]()
        try:
            self.schemas[collection].load(record)
        except ValidationError as error:
            return error.messages
        return None


class Importer:
    """Applies changes on one connection inside the caller's transaction, one at a time."""

    def __init__(self, conn: psycopg.Connection, actor: str):
        self.conn = conn
        self.default_actor = actor
        self.actor: str | None = None
        self.changeset: int | None = None
        self.written: set[tuple[str, str]] = set()
        self.commit: int | None = None  # the change's `changeset` number, when the file gives one
        self.changeset_commit: int | None = None  # the number the current changeset was opened for
        self.schemas = SchemaChecks()
        # Records already checked against their schema (by _checked_ahead), by change index.
        self.checked: dict[int, tuple[object, dict | None]] = {}

    def _changeset_for(self, key: tuple[str, str], actor: str) -> int:
        """The changeset of the change being prepared: a new one when the actor changes, when the
        change's `changeset` number (an export's) differs from the last one's, or when the item was
        already written in the current one (history stays history)."""
        if (
            self.changeset is None
            or key in self.written
            or actor != self.actor
            or (self.commit is not None and self.commit != self.changeset_commit)
        ):
            self._before_new_changeset()
            self.changeset = self.conn.execute(q("new_changeset"), {"actor": actor}).fetchone()[0]
            self.actor = actor
            self.written = set()
            self.changeset_commit = self.commit
        self.written.add(key)
        return self.changeset

    def _before_new_changeset(self) -> None:
        """A hook: the bulk importer writes what it holds before the next changeset begins."""

    def _before_reading(self) -> None:
        """A hook: the bulk importer writes what it holds before a patch reads the stored record."""

    def apply(self, index: int, change: object) -> tuple[str, str]:
        """Validates one change and writes it at once."""
        write = self.prepare(index, change)
        self.write(write)
        return write.collection, write.item_id

    def prepare(self, index: int, change: object) -> Write:
        """Checks one change against the schemas and gives it its changeset; writes nothing."""
        if not isinstance(change, dict):
            raise DatasetError(index, None, None, "a change must be a JSON object")
        unknown = set(change) - {
            "collection",
            "valid_from",
            "note",
            "actor",
            "changeset",
            "record",
            "id",
            "patch",
            "deleted",
        }
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
        commit = change.get("changeset")
        if commit is not None and (type(commit) is not int or not 1 <= commit < 2**63):
            raise DatasetError(
                index, collection, None, "changeset must be a positive integer (an export numbers its commits)"
            )
        self.commit = commit
        if change.get("deleted") is True:
            item_id = change.get("id")
            if not isinstance(item_id, str) or set(change) & {"record", "patch"}:
                raise DatasetError(index, collection, None, "a deletion needs a string `id` and no record or patch")
            changeset = self._changeset_for((collection, item_id), actor)
            return Write(index, collection, item_id, changeset, valid_from, note)
        if "deleted" in change:
            raise DatasetError(index, collection, None, "deleted can only be true")
        record = self._record(index, collection, change)
        item_id = record.get("id") if isinstance(record, dict) else None
        checked = self.checked.pop(index, None)
        problems = (
            checked[1] if checked is not None and checked[0] is record else self.schemas.problems(collection, record)
        )
        if problems is not None:
            raise DatasetError(index, collection, item_id, f"invalid fields {_field_problem(problems)}")
        changeset = self._changeset_for((collection, item_id), actor)
        return Write(index, collection, item_id, changeset, valid_from, note, record, "patch" in change)

    def write(self, write: Write) -> None:
        """Writes one prepared change through its collection's save_<collection> (or delete_item)."""
        if write.record is None:
            self._delete(write)
            return
        query = sql.SQL(q("save_record")).format(function=sql.Identifier(f"save_{write.collection}"))
        try:  # no savepoint: the import is all or nothing, and this except already knows the change
            self.conn.execute(
                query,
                {
                    "record": Jsonb(write.record),
                    "changeset": write.changeset,
                    "valid_from": write.valid_from,
                    "note": write.note,
                },
            )
        except psycopg.errors.IntegrityError as error:
            detail = error.diag.message_detail or error.diag.message_primary
            raise DatasetError(
                write.index, write.collection, write.item_id, f"conflicts with the data: {detail}"
            ) from error

    def _delete(self, write: Write) -> None:
        try:
            self.conn.execute(
                q("delete_item"),
                {
                    "collection": write.collection,
                    "id": write.item_id,
                    "changeset": write.changeset,
                    "valid_from": write.valid_from,
                    "note": write.note,
                },
            )
        except (psycopg.errors.IntegrityError, psycopg.errors.NoDataFound) as error:
            detail = error.diag.message_detail or error.diag.message_primary
            raise DatasetError(write.index, write.collection, write.item_id, f"cannot be deleted: {detail}") from error

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
        self._before_reading()
        query = sql.SQL(q("current_doc")).format(table=sql.Identifier(collection))
        row = self.conn.execute(query, {"id": item_id}).fetchone()
        if row is None or row[1]:
            raise DatasetError(index, collection, item_id, "no such record to patch")
        patched = patch_record(input_shape(row[0]), change["patch"])
        if isinstance(patched, dict) and patched.get("id") != item_id:
            raise DatasetError(index, collection, item_id, "a patch cannot change the id")
        return patched


# What a record of each collection the bulk path takes refers to, by field: (collection, getter).
def _ids(value: object) -> list[str]:
    return [x for x in value if isinstance(x, str)] if isinstance(value, list) else []


def _references(collection: str, record: dict) -> Iterator[tuple[str, str]]:
    """The items a record names that must exist when it is written (people are checked at the end)."""
    for source in _ids(record.get("source_ids")):
        yield "sources", source
    if collection == "proposals":
        if isinstance(record.get("proposer_id"), str):
            yield "parties", record["proposer_id"]
        yield from (("parties", x) for x in _ids(record.get("addressee_ids")))
        yield from (("proposals", x) for x in _ids(record.get("in_response_to")))
        for clause in record.get("clauses") or []:
            yield from (("parties", x) for x in _ids(clause.get("obligated_party_ids")))
            yield from (("sources", x) for x in _ids(clause.get("source_ids")))
            for excerpt in clause.get("excerpts") or []:
                if isinstance(excerpt, dict) and isinstance(excerpt.get("source_id"), str):
                    yield "sources", excerpt["source_id"]
    elif collection == "talks":
        yield from (("parties", x) for x in _ids(record.get("party_ids")))
        yield from (("proposals", x) for x in _ids(record.get("proposal_ids")))
        for delegation in record.get("delegations") or []:
            if isinstance(delegation, dict) and isinstance(delegation.get("party_id"), str):
                yield "parties", delegation["party_id"]


class BulkImporter(Importer):
    """Applies a file's changes like Importer, but writes runs of new items set-wise (bulk_import).

    The per-record path is the reference: one changeset per run of changes until an item repeats
    or the actor changes, each item at most once in a run. New sources, parties that join no group,
    proposals (with clauses that answer none) and talks are held, and written together by
    sql/functions/bulk.sql when the run ends, the batch is full, or a change comes that the bulk path
    does not take (a patch, a deletion, an item that exists, any other collection): that one is
    written record by record after what is held, so the order of the writes, and of the revisions,
    is the file's. A batch that Postgres refuses is written again record by record from a
    savepoint, so that the error names the change, and says what, exactly as the per-record path does.
    """

    BULK_COLLECTIONS = ("sources", "parties", "proposals", "talks")
    BATCH_ROWS = 20_000  # records held (a clause counts as one) before they are written

    def __init__(self, conn: psycopg.Connection, actor: str):
        super().__init__(conn, actor)
        self.held: list[Write] = []
        self.held_rows = 0
        self.held_keys: set[tuple[str, str]] = set()
        self.forward: set[tuple[str, str]] = set()  # named by a held record before it was held
        self.stats = {"bulk": 0, "per_record": 0, "replayed": 0}
        self.terms_pending = False  # bulk_import wrote items whose search terms wait (bulk_import_terms)

    def _before_new_changeset(self) -> None:
        self.flush()

    def write(self, write: Write) -> None:
        """Writes one change record by record, once the search terms of what is written in bulk are in."""
        self._write_terms()
        super().write(write)

    def _write_terms(self) -> None:
        if self.terms_pending:
            self.conn.execute("SELECT bulk_import_terms()")
            self.terms_pending = False

    def finish(self) -> None:
        """Writes all that is held, and the search terms."""
        self.flush()
        self._write_terms()

    def _before_reading(self) -> None:
        self.flush()

    def add(self, index: int, change: object) -> None:
        """Validates one change, then holds it for the bulk path or writes it after what is held."""
        try:
            write = self.prepare(index, change)
        except DatasetError:
            self.flush()  # an earlier change's error comes first, as when each is written at once
            raise
        keys = self._bulk_keys(write)
        if keys is None:
            self.flush()
            self.write(write)
            self.stats["per_record"] += 1
            return
        if self.forward & set(keys) or self.held_rows >= self.BATCH_ROWS:
            self.flush()  # a held record named this one before it came: Postgres refuses, in order
        self.held.append(write)
        self.held_keys.update(keys)
        self.held_rows += len(keys)
        self.forward.update(ref for ref in _references(write.collection, write.record) if ref not in self.held_keys)

    def _bulk_keys(self, write: Write) -> list[tuple[str, str]] | None:
        """The items a change writes, if the bulk path can take it; None if not."""
        record = write.record
        if record is None or write.patched or write.collection not in self.BULK_COLLECTIONS:
            return None
        keys = [(write.collection, write.item_id)]
        if write.collection == "parties" and record.get("member_of"):
            return None
        if write.collection == "proposals" and "clauses" in record:
            for clause in record["clauses"]:
                if clause.get("responds_to_ids"):
                    return None
                keys.append(("clauses", clause["id"]))
        return keys

    def flush(self) -> None:
        """Writes what is held: runs of new items in bulk, any that exist record by record, in order."""
        if not self.held:
            return
        held, self.held, self.held_rows, self.held_keys, self.forward = self.held, [], 0, set(), set()
        existing = self._existing(held)
        run: list[Write] = []
        for write in held:
            if self._touches(write, existing):
                self._write_bulk(run)
                run = []
                self.write(write)
                self.stats["per_record"] += 1
            else:
                run.append(write)
        self._write_bulk(run)

    def _existing(self, held: list[Write]) -> set[tuple[str, str]]:
        wanted: dict[str, list[str]] = {}
        for write in held:
            wanted.setdefault(write.collection, []).append(write.item_id)
            if write.collection == "proposals":
                wanted.setdefault("clauses", []).extend(c["id"] for c in write.record.get("clauses") or [])
        found: set[tuple[str, str]] = set()
        for collection, ids in wanted.items():
            query = sql.SQL("SELECT id FROM {} WHERE id = ANY(%s)").format(sql.Identifier(collection))
            found.update((collection, row[0]) for row in self.conn.execute(query, (ids,)))
        return found

    @staticmethod
    def _touches(write: Write, existing: set[tuple[str, str]]) -> bool:
        if (write.collection, write.item_id) in existing:
            return True
        clauses = write.record.get("clauses") or [] if write.collection == "proposals" else []
        return any(("clauses", c["id"]) in existing for c in clauses)

    def _write_bulk(self, run: list[Write]) -> None:
        if not run:
            return
        try:
            with self.conn.transaction():  # a savepoint: a refused batch leaves nothing behind
                self.conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS import_stage (ord int, collection text, id slug,"
                    " valid_from timestamptz, note text, record jsonb) ON COMMIT DROP"
                )
                self.conn.execute("TRUNCATE import_stage")
                with self.conn.cursor().copy(
                    "COPY import_stage (ord, collection, id, valid_from, note, record) FROM STDIN"
                ) as copy:
                    for write in run:
                        copy.write_row(
                            (
                                write.index,
                                write.collection,
                                write.item_id,
                                write.valid_from,
                                write.note,
                                json.dumps(write.record, ensure_ascii=False, separators=(",", ":")),
                            )
                        )
                self.conn.execute("ANALYZE import_stage")
                self.conn.execute("SELECT bulk_import(%s)", (run[0].changeset,))
            self.stats["bulk"] += len(run)
            self.terms_pending = True
        except psycopg.Error:
            for write in run:  # the per-record path names the change Postgres refuses
                self.write(write)
            self.stats["replayed"] += len(run)


class LineError(DatasetError):
    unit = "line"


class DatasetFile:
    """A dataset file read as a stream: one JSON document, or NDJSON (one change per line, as
    `export` writes it). Memory stays bounded whatever its size: a first pass hashes it and checks
    its shape (and, for NDJSON, that every line is JSON, so that a bad line is reported before any
    change is written, as when the whole file was parsed first); `changes()` then reads it again,
    a change at a time."""

    CHUNK = 1 << 20

    def __init__(self, path: Path):
        self.path = path
        self.ndjson = False
        self.count = 0
        self.sha256 = self._scan()

    def _chunks(self) -> Iterator[bytes]:
        with open(self.path, "rb") as file:
            while chunk := file.read(self.CHUNK):
                yield chunk

    def _scan(self) -> str:
        digest = hashlib.sha256()
        decoder = codecs.getincrementaldecoder("utf-8")()
        for chunk in self._chunks():
            digest.update(chunk)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                raise DatasetError(None, None, None, f"{self.path.name} is not UTF-8: {error}") from error
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise DatasetError(None, None, None, f"{self.path.name} is not UTF-8: {error}") from error
        shape = self._document_shape()
        if shape is None:  # not one JSON value: NDJSON
            self.ndjson = True
            with open(self.path, "rb") as file:
                for number, line in enumerate(file):
                    try:
                        json.loads(line)
                    except (UnicodeDecodeError, json.JSONDecodeError) as error:
                        raise LineError(number, None, None, f"not valid JSON: {error}") from error
                    self.count += 1
        elif shape != (True, FORMAT, True):
            raise DatasetError(None, None, None, f'expected {{"format": "{FORMAT}", "changes": [...]}}')
        return digest.hexdigest()

    def _document_shape(self) -> tuple[bool, object, bool] | None:
        """(an object?, its `format`, `changes` an array?) of the file as one JSON value, counting
        the changes; None when the file is not one JSON value."""
        is_object, format_value, changes_is_array = False, None, False
        key, count = None, 0
        try:
            with open(self.path, "rb") as file:
                for prefix, event, value in ijson.parse(file):
                    if prefix == "" and event == "start_map":
                        is_object = True
                    elif prefix == "" and event == "map_key":
                        key = value
                        if key == "changes":
                            changes_is_array, count = False, 0
                    elif prefix == key == "format" and event != "end_map" and event != "end_array":
                        format_value = value if event == "string" else None
                    elif prefix == key == "changes" and event == "start_array":
                        changes_is_array = True
                    elif prefix == "changes.item" and event in (
                        "start_map",
                        "start_array",
                        "string",
                        "number",
                        "boolean",
                        "null",
                    ):
                        count += 1
        except ijson.JSONError:
            return None
        self.count = count
        return is_object, format_value, changes_is_array

    def changes(self) -> Iterator[object]:
        """The changes, in order, one at a time."""
        with open(self.path, "rb") as file:
            if self.ndjson:
                for line in file:
                    yield json.loads(line)
            else:
                yield from ijson.items(file, "changes.item", use_float=True)


class _Counted:
    """An iterator that knows its length (`click.progressbar` reads it), without a list."""

    def __init__(self, items: Iterator, length: int):
        self.items, self.length = items, length

    def __iter__(self) -> Iterator:
        return self.items

    def __next__(self):
        return next(self.items)

    def __length_hint__(self) -> int:
        return self.length

    def __len__(self) -> int:
        return self.length


def _checked_ahead(changes: Iterator[object], checked: dict) -> Iterator[tuple[int, object]]:
    """The changes with their index, while a thread reads the file and checks the records against
    their schemas ahead of them (into `checked`): that Python work then overlaps Postgres's, as
    the connection leaves the interpreter free while it waits. At most AHEAD changes are held."""
    ahead: queue.Queue = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()
    done = object()

    def hand(item: object) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        schemas = SchemaChecks()
        try:
            for index, change in enumerate(changes):
                record = change.get("record") if isinstance(change, dict) else None
                collection = change.get("collection") if isinstance(change, dict) else None
                if isinstance(record, dict) and collection in SCHEMAS:
                    checked[index] = (record, schemas.problems(collection, record))
                if not hand((index, change)):
                    return
            hand(done)
        except BaseException as error:  # handed to the reading thread, raised there
            hand(error)

    thread = threading.Thread(target=work, name="import-check", daemon=True)
    thread.start()
    try:
        while (item := ahead.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def read_dataset(path: Path) -> tuple[dict, str]:
    """A whole dataset file in memory, as `{"format", "changes"}` and its SHA-256 (small files, tests)."""
    dataset = DatasetFile(path)
    document = {"format": FORMAT, "changes": list(dataset.changes())}
    if dataset.ndjson:
        document["ndjson"] = True
    return document, dataset.sha256


def import_dataset(
    conn: psycopg.Connection,
    path: Path,
    *,
    actor: str | None = None,
    progress: Callable[[Iterator], Iterator] | None = None,
    bulk: bool = True,
    stats: dict[str, int] | None = None,
) -> int | None:
    """Applies a dataset file once; returns the number of changes, or None if it was already applied.

    `bulk=False` writes every change record by record (the reference the bulk path is tested against);
    `stats`, if given, gets how many changes went which way (bulk, per_record, replayed)."""
    dataset = DatasetFile(path)
    name = path.name
    with conn.transaction():
        if conn.execute(q("dataset_import_digest"), {"name": name}).fetchone() == (dataset.sha256,):
            return None
        importer = BulkImporter(conn, actor or f"import:{name}")
        conn.execute(q("defer_person_references"))
        stream = _checked_ahead(dataset.changes(), importer.checked) if bulk else enumerate(dataset.changes())
        changes = _Counted(stream, dataset.count)
        try:
            for index, change in progress(changes) if progress else changes:
                if bulk:
                    importer.add(index, change)
                else:
                    importer.apply(index, change)
            importer.finish()
        except DatasetError as error:
            if stats is not None:
                stats.update(importer.stats)
            if dataset.ndjson and error.index is not None:
                raise LineError(error.index, error.collection, error.item_id, error.problem) from error
            raise
        try:
            conn.execute(q("check_person_references"))
        except psycopg.errors.ForeignKeyViolation as error:
            detail = error.diag.message_detail or error.diag.message_primary
            raise DatasetError(None, None, None, f"refers to a person that does not exist: {detail}") from error
        conn.execute(q("record_dataset_import"), {"name": name, "sha256": dataset.sha256})
    if stats is not None:
        stats.update(importer.stats)
    return dataset.count


def seed(conn: psycopg.Connection) -> list[tuple[str, int | None]]:
    """Loads the bundled dataset files that are not loaded yet; none into a mirror (its data is its origin's)."""
    if conn.execute(q("is_mirror")).fetchone()[0]:
        return [(path.name, None) for path in SEED_FILES]
    return [(path.name, import_dataset(conn, path, actor="seed")) for path in SEED_FILES]
