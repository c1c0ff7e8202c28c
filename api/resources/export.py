"""The whole dataset, with its history, as NDJSON: one change per line, in commit order.

The lines are the same changes a dataset file holds, so `proposals-api import` loads an
export into another database, and exporting that database again gives the same bytes.
A server-side cursor streams the rows, so memory stays flat however large the dataset.

The body is not produced while the client reads it: a slow reader would hold a database
connection and one of the worker's turns (api/http/serving.py) for as long as it cared to. A thread
of its own writes the lines to a temporary file at the database's pace, and the body reads them
back from it as the client takes them, holding neither. One export is produced at a time in a
worker, on the one connection its pool keeps beyond WEB_THREADS; the next waits for it.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import closing

import orjson
import psycopg
from flask import Response, current_app, request
from flask.views import MethodView

from api.http.blueprint import ApiBlueprint
from api.http.conditional import etag_matches, make_etag, not_modified
from api.http.connection import connection
from api.http.openapi import INSTANCE_ID_HEADER
from api.resources.changes import instance_id
from api.store.db import give_back, lend
from api.store.records import input_shape
from api.store.sql import q

NDJSON = "application/x-ndjson"
BATCH = 100  # rows per fetch from the server-side cursor: a proposal line can be tens of KB
CHUNK = 64 * 1024  # bytes per write to the spool and per piece of the body
PRODUCING = threading.Lock()  # one export produced at a time in this worker

blp = ApiBlueprint(
    "export",
    __name__,
    url_prefix="/v1/export",
    description="The whole dataset with its history, for copying it elsewhere.",
)


def export_line(
    collection: str,
    item_id: str,
    valid_from: str,
    actor: str,
    note: str | None,
    changeset: int,
    deleted: bool,
    snapshot: str,
) -> bytes:
    """One change. `changeset` numbers the commits in the export's order (1, 2, …): revision numbers
    follow from how changes were grouped into commits, so the import must group them the same way."""
    change: dict = {
        "collection": collection,
        "valid_from": valid_from,
        "actor": actor,
        "note": note,
        "changeset": changeset,
    }
    if deleted:
        change |= {"id": item_id, "deleted": True}
    else:
        change["record"] = input_shape(orjson.loads(snapshot))
    return orjson.dumps(change) + b"\n"


def export_lines(conn: psycopg.Connection) -> Iterator[bytes]:
    """Every change, streamed from a server-side cursor inside one snapshot of the data."""
    with conn.transaction(), conn.cursor(name="export") as cursor:
        cursor.itersize = BATCH
        cursor.execute(q("export_revisions"))
        for row in cursor:
            yield export_line(*row)


class Spool:
    """The export's body: lines a producer thread writes to a temporary file, read back as they come.

    The reader waits for the producer, never the other way round. A client that hangs up stops
    the producer at its next line. A database error cuts the body short (granian then ends the
    response without its last chunk, so the client sees it is incomplete).
    """

    sends_without_turn = True  # see api/http/serving.py

    def __init__(self, extensions: Mapping[str, object], anonymous_read: bool) -> None:
        self.extensions = extensions
        self.anonymous_read = anonymous_read
        self.file = tempfile.TemporaryFile(prefix="proposals-export-")  # noqa: SIM115 (closed by close or the producer)
        self.changed = threading.Condition()
        self.written = 0
        self.finished = False
        self.hung_up = False
        self.error: BaseException | None = None
        self.producer: threading.Thread | None = None

    def __iter__(self) -> Iterator[bytes]:
        self.producer = threading.Thread(target=self._produce, name="export-producer", daemon=True)
        self.producer.start()
        sent = 0
        while True:
            with self.changed:
                while sent == self.written and not self.finished:
                    self.changed.wait()
                written, finished = self.written, self.finished
            while sent < written:
                piece = os.pread(self.file.fileno(), min(CHUNK, written - sent), sent)
                sent += len(piece)
                yield piece
            if finished and sent == self.written:
                break
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        with self.changed:
            self.hung_up = True
            if self.producer is None or self.finished:
                self.file.close()

    def _produce(self) -> None:
        try:
            with PRODUCING:
                pool, conn = lend(self.extensions, self.anonymous_read)
                conn.deadline = None  # type: ignore[attr-defined]  # each wait still ends after the read deadline
                try:
                    self._write_lines(conn)
                finally:
                    give_back(pool, conn)
        except BaseException as error:  # handed to the reader, which raises it after what was written
            self.error = error
        finally:
            with self.changed:
                self.finished = True
                self.changed.notify_all()
                if self.hung_up:
                    self.file.close()

    def _write_lines(self, conn: psycopg.Connection) -> None:
        pending = bytearray()
        with closing(export_lines(conn)) as lines:
            for line in lines:
                if self.hung_up:
                    return
                pending += line
                if len(pending) >= CHUNK:
                    self._append(pending)
                    pending.clear()
        self._append(pending)

    def _append(self, data: bytearray) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.file.fileno(), view) :]
        with self.changed:
            self.written += len(data)
            self.changed.notify_all()


@blp.route("")
class Export(MethodView):
    @blp.response(
        200,
        description="NDJSON: one change per line (`collection`, `valid_from`, `actor`, `note`, "
        "and `record` or `id` with `deleted`), oldest first: the format `proposals-api import` reads.",
        content_type=NDJSON,
        headers={"ETag": {"description": "Names this state of the dataset.", "schema": {"type": "string"}}}
        | {"Instance-Id": INSTANCE_ID_HEADER},
    )
    # The body as a media type of the document: 406 negotiation reads what a route offers from it.
    @blp.doc(
        responses={200: {"content": {NDJSON: {"schema": {"type": "string", "description": "One JSON change a line."}}}}}
    )
    @blp.alt_response(304, response="NOT_MODIFIED")
    @blp.operation("exportDataset")
    @blp.no_query()
    def get(self):
        """Export the whole dataset with its history as NDJSON (streamed).

        Every change of every item in commit order, tombstones included: `proposals-api import` loads it into
        another database, and exporting that database gives the same bytes. The ETag changes with any write.
        """
        conn = connection()
        etag = make_etag(conn.execute(q("export_version")).fetchone()[0], ";export")
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match and etag_matches(if_none_match, etag):
            return not_modified(etag)
        anonymous_read = "Authorization" not in request.headers
        spool = Spool(current_app.extensions, anonymous_read)
        response = Response(spool, mimetype=NDJSON, direct_passthrough=True)
        response.headers["ETag"] = etag
        response.headers["Instance-Id"] = instance_id(conn, current_app.extensions)
        response.headers["Cache-Control"] = "public, no-cache"
        response.headers["Content-Disposition"] = 'inline; filename="proposals-export.ndjson"'
        return response
