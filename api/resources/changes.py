"""The change feed: every revision of every collection in commit order, as JSON and as Atom.

`GET /v1/changes` pages by position, oldest first. A position is the revision just before it,
named by identity (collection, item id, revision number) and carried in an opaque cursor with
this database's instance id and the revision's `seq` as hints (sql/functions/changes.sql). Commit
order is `revisions.seq` order because every writer takes one lock before drawing its changeset
(`lock_changes`, sql/functions/writes.sql), so a reader walking the feed never skips a change
that commits later. A cursor made here resumes exactly after its revision; one made on another
database with the same history (an import of an export, a mirror) resumes at the start of the
commit that holds that revision here, so nothing is skipped there either (a few changes may come
again). A cursor naming a revision this database does not hold (yet) is a 409 with Retry-After:
a lagging replica catches up, and a client that moves between instances never goes backwards.

The feed has no end. At the head (a page with fewer than `limit` changes) `next_cursor` names the
newest change, and the response says how long to wait before polling again (`Cache-Control:
max-age`, CHANGES_POLL_INTERVAL); polling with `If-None-Match` costs one query of two index
lookups and answers 304 while nothing was committed. A full page never changes, and may be
cached for a day. No request waits for news.

`GET /v1/changes.atom` is the same changes, newest first, as an Atom feed (RFC 4287) for feed readers.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

import psycopg
from flask import Response, current_app, request
from flask.views import MethodView
from psycopg import sql
from werkzeug.exceptions import HTTPException

from api.collections import COLLECTIONS
from api.config import Settings
from api.http.blueprint import ApiBlueprint
from api.http.conditional import etag_matches, make_etag
from api.http.connection import connection
from api.http.errors import PROBLEM_JSON, ApiError
from api.http.openapi import ETAG_HEADER, IF_NONE_MATCH, INSTANCE_ID_HEADER, RETRY_AFTER_HEADER
from api.http.replies import Reply
from api.resources.paging import public_url
from api.resources.reads import is_id
from api.store.executor import read_row
from api.store.sql import q
from schemas.changes import atom_query_schema, change_page_schema, changes_query_schema
from schemas.common import ProblemSchema

NAMES = tuple(COLLECTIONS)
ATOM = "application/atom+xml"
FULL_PAGE_CACHE = "public, max-age=86400"  # a full page never changes (but a migration may rewrite snapshots)
CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{1,400}")
INSTANCE = re.compile(r"[0-9a-f]{16}")
NUMBER = re.compile(r"[1-9][0-9]{0,17}")
INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")
START_TEXT = "c1:start"
# Names every Atom entry id: uuid5 of this and the revision's identity (not its seq), so a revision
# keeps its entry id on a replica, a mirror and after an export is imported elsewhere.
ENTRY_NAMESPACE = uuid.UUID("6c4b0f4e-5d2a-4f43-9a53-0d8f4a1c2b7e")

blp = ApiBlueprint(
    "changes",
    __name__,
    url_prefix="/v1",
    description="Every change to every collection, in the order it was committed: to keep a copy in sync by "
    "polling, or to follow the dataset in a feed reader.",
)


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


START = _encode(START_TEXT)  # the position before every change: the feed's beginning, on every database


@dataclass(frozen=True)
class Position:
    """Right after the revision `revision` of `collection`/`item`, as the database `instance` saw it."""

    instance: str
    collection: str
    item: str
    revision: int
    seq: int


@lru_cache(maxsize=1024)  # polling clients send the same few cursors at the head again and again
def decode_cursor(token: str, parameter: str) -> Position | None:
    """The position a cursor names (None: the beginning); 400 naming `parameter` for anything else."""
    text = None
    if CURSOR_TEXT.fullmatch(token):
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            text = None
    if text == START_TEXT:
        return None
    parts = text.split(":") if text else []
    if (
        len(parts) == 6
        and parts[0] == "c1"
        and INSTANCE.fullmatch(parts[1])
        and parts[2] in COLLECTIONS
        and is_id(parts[3])
        and NUMBER.fullmatch(parts[4])
        and int(parts[4]) < 2**31
        and NUMBER.fullmatch(parts[5])
    ):
        return Position(parts[1], parts[2], parts[3], int(parts[4]), int(parts[5]))
    raise ApiError(
        400,
        f"`{parameter}` is not a cursor of this feed"
        + (" or an RFC 3339 instant." if parameter == "since" else "; start again without it."),
        errors=[
            {
                "parameter": parameter,
                "detail": "Neither a cursor of /v1/changes nor an RFC 3339 instant."
                if parameter == "since"
                else "Not a cursor of /v1/changes.",
            }
        ],
    )


def parse_instant(value: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise ApiError(
            400,
            "`since` is not an RFC 3339 instant with its zone (such as 2026-12-01T00:00:00Z).",
            errors=[{"parameter": "since", "detail": "Not an RFC 3339 date-time with a zone."}],
        )
    return instant


def instance_id(conn: psycopg.Connection, extensions: MutableMapping[str, object]) -> str:
    """This database's history's name (migration 0017); read once per app, like the cursor secret."""
    if "instance_id" not in extensions:
        extensions["instance_id"] = conn.execute(q("instance_id")).fetchone()[0]
    return extensions["instance_id"]  # type: ignore[return-value]


@cache
def _query(name: str, collection: str | None, snapshot: bool = False) -> str:
    """A named query with its collection test and snapshot column filled in, composed once, as text."""
    only = sql.SQL("r.collection = {}").format(sql.Literal(collection)) if collection else sql.SQL("TRUE")
    return sql.SQL(q(name)).format(only=only, snapshot=sql.SQL(", r.snapshot" if snapshot else "")).as_string(None)


def position_params(args: Mapping[str, object], instance: str) -> dict:
    """Where a page starts, as changes_page takes it: from `cursor`, `since` or the beginning."""
    cursor, since = args.get("cursor"), args.get("since")
    if cursor is not None and since is not None:
        raise ApiError(
            400,
            "Give `cursor` or `since`, not both.",
            errors=[{"parameter": "since", "detail": "Not with cursor."}],
        )
    params: dict = {"mode": "start", "same": None, "collection": None, "item": None, "revision": None, "instant": None}
    if isinstance(since, str) and INSTANT.match(since):
        return params | {"mode": "instant", "instant": parse_instant(since)}
    token = cursor if cursor is not None else since
    position = decode_cursor(token, "cursor" if cursor is not None else "since") if token else None  # type: ignore[arg-type]
    if position is None:
        return params
    return params | {
        "mode": "cursor",
        "same": position.instance == instance,
        "collection": position.collection,
        "item": position.item,
        "revision": position.revision,
    }


def next_link(base_url: str, args: Iterable[tuple[str, str]], cursor: str) -> str:
    """The next page's URL: the request's own parameters with `cursor` for `cursor` and `since`."""
    query = [(k, v) for k, v in args if k not in ("cursor", "since")] + [("cursor", cursor)]
    return f'<{base_url}?{urlencode(query)}>; rel="next"'


def _unknown_here(args: Mapping[str, object], poll_interval: int, instance: str) -> ApiError:
    """409, naming this instance: a mirror told another origin's 409 from a replica behind its primary."""
    return ApiError(
        409,
        "This server does not hold the change the cursor names: it may not have caught up yet (try again "
        "shortly), or the cursor comes from a dataset with another history.",
        errors=[{"parameter": "cursor" if args.get("cursor") else "since", "detail": "Unknown here."}],
        headers={"Retry-After": str(poll_interval), "Instance-Id": instance},
    )


HEAD_KEY = ("changes", "head")  # the feed's newest seq in the version cache (sql/functions/versions.sql)


def unchanged_poll(
    extensions: Mapping[str, object], settings: Settings, args: Mapping[str, object], head: int, if_none_match: str
) -> Reply | None:
    """A poll's 304 with no query, when the version cache knows the head (`head`): the same answer
    `read_changes` gives a poll from the beginning or from a cursor made here whose ETag names the
    head. None when it cannot tell (it leaves the 400s and 409s to the database's path)."""
    instance = extensions.get("instance_id")
    if instance is None:
        return None
    try:
        position = position_params(args, instance)  # type: ignore[arg-type]
    except HTTPException:
        return None
    if not (position["mode"] == "start" or position["same"]):
        return None
    etag = make_etag(f"c{instance}.{head}")
    if not etag_matches(if_none_match, etag):
        return None
    return Reply(304, etag, cache_control=f"public, max-age={settings.changes_poll_interval}", instance_id=instance)


def read_changes(
    conn: psycopg.Connection,
    extensions: MutableMapping[str, object],
    settings: Settings,
    args: Mapping[str, object],
    *,
    if_none_match: str | None,
    script_root: str,
    query: Iterable[tuple[str, str]],
) -> Reply:
    """A page of the feed, or 304: the view and api/http/fastpath.py both call it (no Flask here).

    A poll from a cursor made here, with an If-None-Match, first reads only what the ETag names
    (`changes_poll`: two index lookups); the page itself is one query (`changes_page`)."""
    instance = instance_id(conn, extensions)
    limit = args.get("limit") or settings.default_page_size
    position = position_params(args, instance)
    head_policy = f"public, max-age={settings.changes_poll_interval}"
    if if_none_match and (position["mode"] == "start" or position["same"]):
        after, head = read_row(conn, q("changes_poll"), position)  # type: ignore[misc]
        etag = make_etag(f"c{instance}.{head.decode()}")  # type: ignore[union-attr]
        if after is not None and etag_matches(if_none_match, etag):
            return Reply(304, etag, cache_control=head_policy, instance_id=instance, version=int(head))
    params = position | {
        "instance": instance,
        "site": public_url(settings.public_base_url, script_root, "/v1/"),
        "limit": limit,
    }
    page = _query("changes_page", args.get("collection"), args.get("include") == "snapshot")  # type: ignore[arg-type]
    rows = conn.execute(page, params, prepare=True).fetchall()
    after, head, head_cursor = rows[0][0], rows[0][1], rows[0][2]
    if after is None:
        raise _unknown_here(args, settings.changes_poll_interval, instance)
    docs = [row[3] for row in rows if row[3] is not None]
    full = len(docs) == limit
    next_cursor = rows[-1][4] if full else (head_cursor or START)
    policy = FULL_PAGE_CACHE if full else head_policy
    etag = make_etag(f"c{instance}.{head}")
    if if_none_match and etag_matches(if_none_match, etag):
        return Reply(304, etag, cache_control=policy, instance_id=instance, version=int(head))
    body = '{"items":[' + ",".join(docs) + '],"next_cursor":"' + next_cursor + '"}'
    base_url = public_url(settings.public_base_url, script_root, "/v1/changes")
    link = next_link(base_url, query, next_cursor)
    return Reply(200, etag, body.encode(), link=link, cache_control=policy, instance_id=instance, version=int(head))


def changes_response(args: Mapping[str, object]) -> Response:
    return read_changes(
        connection(),
        current_app.extensions,
        current_app.config["SETTINGS"],
        args,
        if_none_match=request.headers.get("If-None-Match"),
        script_root=request.script_root,
        query=request.args.items(multi=True),
    ).response()


def poll_interval() -> int:
    return current_app.config["SETTINGS"].changes_poll_interval


CACHE_CONTROL_HEADER = {
    "description": "How long the answer stays fresh. At the head (fewer than `limit` changes) `max-age` is how "
    "long to wait before polling again (the server's CHANGES_POLL_INTERVAL, 5 s by default); a full page never "
    "changes and says a day.",
    "schema": {"type": "string", "example": "public, max-age=5"},
}
FEED_LINK_HEADER = {
    "description": 'Where to go on from, as `<url>; rel="next"`: the same parameters with `cursor` set to '
    "`next_cursor`. On every page, the head's too, since the feed has no last page. Path-absolute, or "
    "absolute under `PUBLIC_BASE_URL`; never from the request's `Host`.",
    "schema": {"type": "string"},
}
UNCHANGED_HEAD = {
    "description": "Nothing was committed since the page whose ETag was sent: poll again after `max-age`.",
    "headers": {"ETag": ETAG_HEADER, "Cache-Control": CACHE_CONTROL_HEADER, "Instance-Id": INSTANCE_ID_HEADER},
}
UNKNOWN_POSITION = {
    "description": "The cursor is well-formed but names a change this server does not hold: a replica that has "
    "not replayed it yet (retry after `Retry-After` seconds, or on another server), or a cursor from a dataset "
    "with another history (`Instance-Id` differs from the one the cursor was read from).",
    "schema": ProblemSchema,
    "content_type": PROBLEM_JSON,
    "headers": {"Retry-After": RETRY_AFTER_HEADER, "Instance-Id": INSTANCE_ID_HEADER},
}


@blp.route("/changes")
class Changes(MethodView):
    @blp.arguments(changes_query_schema(NAMES)(), location="query")
    @blp.operation("listChanges")
    @blp.header_params(IF_NONE_MATCH)
    @blp.response(
        200,
        change_page_schema(NAMES),
        headers={
            "ETag": ETAG_HEADER,
            "Link": FEED_LINK_HEADER,
            "Cache-Control": CACHE_CONTROL_HEADER,
            "Instance-Id": INSTANCE_ID_HEADER,
        },
    )
    @blp.alt_response(304, **UNCHANGED_HEAD)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(406, response="NOT_ACCEPTABLE")
    @blp.alt_response(409, **UNKNOWN_POSITION)
    def get(self, args: dict):
        """Follow every change: each revision of every item, in the order it was committed.

        Oldest first, `limit` at a time; `next_cursor` (and the `Link` header) go on from the last change of the
        page. The feed has no end: a page with fewer than `limit` changes reached the newest one, and its
        `next_cursor` is where to poll from, after the `max-age` of its `Cache-Control`; send the page's `ETag`
        in `If-None-Match` to get 304 while nothing new was committed. `since` starts at a cursor or after an
        instant; `collection` keeps one collection's changes; `include=snapshot` adds each revision's item.
        A cursor names a revision, so it stays valid on any server with the same history: one that does not
        hold that revision yet answers 409 with `Retry-After`, never an older position.
        """
        return changes_response(args)


def entry_id(collection: str, item_id: str, revision: int) -> str:
    return f"urn:uuid:{uuid.uuid5(ENTRY_NAMESPACE, f'{collection}/{item_id}/{revision}')}"


def _atom_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def text(value: str) -> str:
    """Character data for XML 1.0: escaped, and the control characters it cannot carry at all (an
    imported note may hold one) shown as U+FFFD, so the feed stays well-formed."""
    return escape(NOT_XML.sub("\ufffd", value))


def atom_entry(row: Sequence, base: str) -> str:
    """One revision as an Atom entry: its summary in words, and links to the item, its history and its diff."""
    collection, item_id, revision, valid_from, recorded_at, actor, note, deleted, _, name = row
    singular = COLLECTIONS[collection].singular
    verb = "deleted" if deleted else "created" if revision == 1 else "revised"
    title = f"{singular.capitalize()} “{name}” {verb} (revision {revision})"
    summary = f"{title} by {actor}, valid from {_atom_time(valid_from)}" + (f": {note}" if note else ".")
    item = f"{base}/v1/{collection}/{item_id}"
    links = [
        ("alternate", "text/html", f"{base}/explore/{collection}/{item_id}/history?to={revision}"),
        ("alternate", "application/json", f"{item}/revisions/{revision}"),
        ("related", "application/json", item),
        ("related", "application/json-patch+json", f"{item}/revisions/{revision}/diff"),
    ]
    link_lines = "".join(
        f"<link rel={quoteattr(rel)} type={quoteattr(kind)} href={quoteattr(href)}/>" for rel, kind, href in links
    )
    return (
        f"<entry><id>{entry_id(collection, item_id, revision)}</id><title>{text(title)}</title>"
        f"<updated>{_atom_time(recorded_at)}</updated><author><name>{text(actor)}</name></author>"
        f"{link_lines}<category term={quoteattr(collection)}/>"
        f'<summary type="text">{text(summary)}</summary></entry>'
    )


def atom_response(args: Mapping[str, object]) -> Response:
    settings = current_app.config["SETTINGS"]
    conn = connection()
    instance = instance_id(conn, current_app.extensions)
    limit = args.get("limit") or settings.default_page_size
    rows = conn.cursor().execute(_query("changes_recent", args.get("collection")), {"limit": limit}, prepare=True)
    rows = rows.fetchall()
    head = rows[0][8] if rows else conn.execute(q("changes_head")).fetchone()[0]
    etag = make_etag(f"a{instance}.{head}")
    cache_control = f"public, max-age={poll_interval()}"
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and etag_matches(if_none_match, etag):
        return Response(status=304, headers={"ETag": etag, "Cache-Control": cache_control})
    base = public_url(settings.public_base_url, request.script_root, "")
    self_query = urlencode([(k, v) for k, v in request.args.items(multi=True)])
    self_href = f"{base}{request.path}" + (f"?{self_query}" if self_query else "")
    updated = _atom_time(rows[0][4]) if rows else "1970-01-01T00:00:00Z"
    scope = f" ({args['collection']})" if args.get("collection") else ""
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>{entry_id('feed', args.get('collection') or 'all', 0)}</id>"
        f"<title>{escape(f'Proposals API: every change{scope}')}</title>"
        f"<updated>{updated}</updated><author><name>Proposals API</name></author>"
        f'<link rel="self" type="{ATOM}" href={quoteattr(self_href)}/>'
        f'<link rel="alternate" type="application/json" href={quoteattr(base + "/v1/changes")}/>'
        + "".join(atom_entry(row, base) for row in rows)
        + "</feed>\n"
    )
    response = Response(body, mimetype=ATOM)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = cache_control
    return response


ATOM_SCHEMA = {
    "type": "string",
    "description": "An Atom feed (RFC 4287), newest change first: one entry per revision, its `id` a `urn:uuid:` "
    "named by the revision (collection, item id, number), with a summary in words and links to its history page in "
    "the explorer and the revision as JSON (alternate, text/html and application/json), the item (related) and the "
    "JSON diff (related, application/json-patch+json). Links are paths "
    "(relative references, resolved against the feed's own URL) or absolute under PUBLIC_BASE_URL.",
    "example": '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">…</feed>',
}


@blp.route("/changes.atom")
class ChangesAtom(MethodView):
    @blp.arguments(atom_query_schema(NAMES)(), location="query")
    @blp.operation("getChangesAtom")
    @blp.header_params(IF_NONE_MATCH)
    @blp.response(
        200,
        content_type=ATOM,
        description="The newest changes as an Atom feed.",
        headers={"ETag": ETAG_HEADER, "Cache-Control": CACHE_CONTROL_HEADER},
    )
    @blp.doc(responses={200: {"content": {ATOM: {"schema": ATOM_SCHEMA}}}})
    @blp.alt_response(
        304,
        description="Nothing was committed since the feed whose ETag was sent.",
        headers={"ETag": ETAG_HEADER, "Cache-Control": CACHE_CONTROL_HEADER},
    )
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(406, response="NOT_ACCEPTABLE")
    def get(self, args: dict):
        """Follow every change in a feed reader: the newest changes as an Atom feed.

        The same changes as `/v1/changes`, newest first, `limit` of them (`collection` keeps one collection's):
        what a researcher subscribes to. Each entry says in words what changed, who changed it and why, and links
        to the revision, the item, its history page in the explorer and the JSON diff. Poll it like the feed's
        head: `If-None-Match` gets 304 while nothing new was committed.
        """
        return atom_response(args)
