"""A mirror's side of the database: which origin it copies, how far it got, and applying what came.

`proposals-api mirror URL` (api/command/mirror.py) fetches; this module decides what may be
written and writes it. The copy (the origin's export) is imported in one transaction together with
the state that says it is done, and each page of the change feed is applied in one transaction
together with the cursor that covers it: whenever the process stops, the database holds whole
steps only, and the state says where to go on from.

Changes are applied as the origin committed them: each in its revision's order, one origin
changeset one changeset here, since revision numbers follow from that grouping (a party joining
an alliance gives the alliance a revision in that commit). Clause revisions never travel on their
own (their proposal's revision carries the clauses, as in the export). An entry whose revision the
item has reached already is skipped: applying a change here made it too (the alliance's revision,
when the party's is applied), or a page came twice. A revision beyond the next one means this
copy has lost its way, and is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from api.store.dataset import SCHEMAS, DatasetError, Importer, LineError, import_dataset
from api.store.records import input_shape
from api.store.sql import q


class MirrorRefusedError(Exception):
    """This database cannot mirror that origin (another origin's mirror, or data of its own)."""


class MirrorDivergedError(Exception):
    """The origin's changes do not follow from what this database holds."""


@dataclass(frozen=True)
class MirrorState:
    origin_url: str
    origin_id: str
    phase: str  # copying | following
    cursor: str | None  # None: from the feed's beginning
    origin_changeset: str | None
    local_changeset: int | None


def instance_id(conn: psycopg.Connection) -> str:
    """This database's own id, which the export and the change feed send as `Instance-Id`."""
    return conn.execute(q("instance_id")).fetchone()[0]


def take_lock(conn: psycopg.Connection) -> bool:
    """One mirror process per database; False if another holds it (released when `conn` closes)."""
    return conn.execute(q("mirror_lock")).fetchone()[0]


def read_state(conn: psycopg.Connection) -> MirrorState | None:
    row = conn.execute(q("mirror_state")).fetchone()
    return MirrorState(*row) if row else None


def claim(conn: psycopg.Connection, url: str, origin_id: str) -> MirrorState:
    """The state to go on from, after checking this database may hold a mirror of `origin_id`.

    A database mirrors one origin, named by its instance id (its URL may change). A database
    that is not a mirror yet must be empty: data of its own would mix with the origin's.
    """
    with conn.transaction():
        state = read_state(conn)
        if state is not None and state.origin_id != origin_id:
            raise MirrorRefusedError(
                f"this database is a mirror of {state.origin_url} (instance {state.origin_id}), "
                f"but {url} is instance {origin_id}: one database mirrors one origin. "
                "Mirror it into another database (set DATABASE_URL)."
            )
        if origin_id == instance_id(conn):
            raise MirrorRefusedError(f"{url} is this very database (instance {origin_id})")
        if (state is None or state.phase == "copying") and conn.execute(q("holds_data")).fetchone()[0]:
            raise MirrorRefusedError(
                f"this database holds data that did not come from {url}; a mirror starts from an empty "
                "database. Mirror into another one (set DATABASE_URL to an empty database)."
            )
        if state is None or state.phase == "copying":
            conn.execute(q("mirror_begin"), {"url": url, "origin_id": origin_id})
            state = read_state(conn)
    return state  # type: ignore[return-value]


def export_changes(path: Path) -> Iterator[tuple[int, object]]:
    """The changes of an export file, one line at a time (the file may be larger than memory)."""
    with path.open("rb") as lines:
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                yield index, json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise LineError(index, None, None, f"not valid JSON: {error}") from error


def import_copy(
    conn: psycopg.Connection,
    path: Path,
    entries: Iterator[dict],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Imports the origin's export and moves the mirror to `following`, all in one transaction.

    The export is imported as `proposals-api import` would (the bulk path): its lines number the
    origin's commits (`changeset`), so the import groups them as the origin did and makes the same
    revisions. Each line is first paired with the origin's feed entry for it (`entries`: the feed's
    entries from its beginning, clauses left out, in the same commit order): a line the feed does
    not have next is refused, and the feed is then followed from the last paired entry's own
    cursor, so what the origin committed after the export's snapshot comes next. Returns the
    changes imported.
    """
    count = 0
    last: dict | None = None
    for index, change in export_changes(path):
        entry = next(entries, None)
        if entry is None or not _same_change(entry, change):
            raise MirrorDivergedError(
                f"line {index + 1} of the export is not the change feed's next change "
                f"({_named(change)}; the feed has {_named(entry)}): the origin's export and feed disagree"
            )
        last = entry
        count += 1
        if progress and count % 1000 == 0:
            progress(count)
    with conn.transaction():
        if count:
            import_dataset(conn, path)
            conn.execute(q("mirror_forget_file"), {"name": path.name})
            assert last is not None
            held = _local_revision(conn, last["collection"], last["id"])
            if held != last.get("revision"):
                raise MirrorDivergedError(
                    f"{_named(last | {'record': {'id': last['id']}})}: the copy made revision {held}, "
                    f"the origin's feed says {last.get('revision')}"
                )
        conn.execute(q("mirror_follow_from"), {"cursor": last["cursor"] if last else None})
    return count


def _change_id(change: object) -> object:
    if not isinstance(change, dict):
        return None
    record = change.get("record")
    return record.get("id") if isinstance(record, dict) else change.get("id")


def _same_change(entry: dict, change: object) -> bool:
    return (
        isinstance(change, dict)
        and entry.get("collection") == change.get("collection")
        and entry.get("id") == _change_id(change)
        and bool(entry.get("deleted")) == bool(change.get("deleted"))
    )


def _named(change: object) -> str:
    if not isinstance(change, dict):
        return "nothing"
    return f"{change.get('collection')} {change.get('id') or _change_id(change)}"


def _check_people(conn: psycopg.Connection) -> None:
    try:
        conn.execute(q("check_person_references"))
    except psycopg.errors.ForeignKeyViolation as error:
        detail = error.diag.message_detail or error.diag.message_primary
        raise DatasetError(None, None, None, f"refers to a person that does not exist: {detail}") from error


class FeedImporter(Importer):
    """One local changeset per origin changeset, even when the origin's spans two pages."""

    def __init__(self, conn: psycopg.Connection, origin_changeset: str | None, local_changeset: int | None):
        super().__init__(conn, "mirror")
        self.origin_changeset, self.changeset = origin_changeset, local_changeset
        self.arriving: str | None = None  # the origin changeset of the entry being applied

    def _changeset_for(self, key: tuple[str, str], actor: str) -> int:
        if self.changeset is None or self.arriving != self.origin_changeset:
            self.changeset = self.conn.execute(q("new_changeset"), {"actor": actor}).fetchone()[0]
            self.origin_changeset = self.arriving
        return self.changeset


def feed_change(entry: dict) -> dict:
    """A feed entry as the dataset change the export would have written for it."""
    change = {k: entry.get(k) for k in ("collection", "valid_from", "actor", "note")}
    if entry.get("deleted"):
        return change | {"id": entry["id"], "deleted": True}
    snapshot = entry.get("snapshot")
    if isinstance(snapshot, str):
        snapshot = json.loads(snapshot)
    if not isinstance(snapshot, dict):
        raise MirrorDivergedError(f"{entry.get('collection')} {entry.get('id')}: the entry carries no snapshot")
    return change | {"record": input_shape(snapshot)}


def _local_revision(conn: psycopg.Connection, collection: str, item_id: str) -> int:
    query = sql.SQL(q("mirror_item_revision")).format(table=sql.Identifier(collection))
    row = conn.execute(query, {"id": item_id}).fetchone()
    return row[0] if row else 0


def _apply(conn: psycopg.Connection, importer: FeedImporter, index: int, entry: dict, change: dict) -> bool:
    """Applies one change of the origin (`entry` says which revision it made), unless this copy holds
    that revision already; False then. A revision beyond the next one is refused."""
    collection, item_id, revision = entry.get("collection"), entry.get("id"), entry.get("revision")
    if collection not in SCHEMAS or not isinstance(item_id, str) or not isinstance(revision, int):
        raise MirrorDivergedError(f"a feed entry this mirror cannot read: {json.dumps(entry)[:300]}")
    have = _local_revision(conn, collection, item_id)
    if have >= revision:
        return False
    if have != revision - 1:
        raise MirrorDivergedError(
            f"{collection} {item_id} revision {revision} arrived, but this copy has revision {have}: "
            "it no longer follows the origin (was it written to?). Mirror into an empty database."
        )
    importer.arriving = str(entry.get("changeset"))
    importer.apply(index, change)
    return True


def apply_page(
    conn: psycopg.Connection, state: MirrorState, entries: Iterable[dict], next_cursor: str, url: str
) -> tuple[MirrorState, int, int]:
    """Applies one page of the feed and stores `next_cursor` with it, in one transaction.
    Returns the new state and how many entries were applied and skipped."""
    applied = skipped = 0
    with conn.transaction():
        importer = FeedImporter(conn, state.origin_changeset, state.local_changeset)
        conn.execute(q("defer_person_references"))
        for index, entry in enumerate(entries):
            if entry.get("collection") == "clauses":
                continue  # its proposal's revision carries it
            try:
                held = not _apply(conn, importer, index, entry, feed_change(entry))
            except DatasetError as error:
                raise MirrorDivergedError(
                    f"{entry.get('collection')} {entry.get('id')} revision {entry.get('revision')}: {error.problem}"
                ) from error
            skipped += held
            applied += not held
        _check_people(conn)
        params = {
            "cursor": next_cursor,
            "origin_changeset": importer.origin_changeset,
            "local_changeset": importer.changeset,
            "url": url,
        }
        conn.execute(q("mirror_advance"), params)
    new_state = MirrorState(
        url, state.origin_id, "following", next_cursor, importer.origin_changeset, importer.changeset
    )
    return new_state, applied, skipped
