"""The whole dataset, with its history, as NDJSON: one change per line, in commit order.

The lines are the same changes a dataset file holds, so `proposals-api import` loads an
export into another database, and exporting that database again gives the same bytes.
A server-side cursor streams the rows, so memory stays flat however large the dataset.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import psycopg
from flask import Response, request, stream_with_context
from flask.views import MethodView

from api.dataset import input_shape
from api.db import connection, held_connection
from api.openapi import ApiBlueprint
from api.resource import etag_matches, make_etag, not_modified
from api.sql import q

NDJSON = "application/x-ndjson"
BATCH = 100  # rows per fetch from the server-side cursor: a proposal line can be tens of KB

blp = ApiBlueprint(
    "export",
    __name__,
    url_prefix="/v1/export",
    description="The whole dataset with its history, for copying it elsewhere.",
)


def export_line(
    collection: str, item_id: str, valid_from: str, actor: str, note: str | None, deleted: bool, snapshot: str
) -> bytes:
    change: dict = {"collection": collection, "valid_from": valid_from, "actor": actor, "note": note}
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


def _stream() -> Iterator[bytes]:
    with held_connection() as conn:
        yield from export_lines(conn)


@blp.route("")
class Export(MethodView):
    @blp.response(
        200,
        description="NDJSON: one change per line (`collection`, `valid_from`, `actor`, `note`, "
        "and `record` or `id` with `deleted`), oldest first: the format `proposals-api import` reads.",
        content_type=NDJSON,
        headers={"ETag": {"description": "Names this state of the dataset.", "schema": {"type": "string"}}},
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
        response = Response(stream_with_context(_stream()), mimetype=NDJSON)
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = "public, no-cache"
        response.headers["Content-Disposition"] = 'inline; filename="proposals-export.ndjson"'
        return response
