"""The change feed: its query, one change, and a page of changes (api/resources/changes.py)."""

from __future__ import annotations

from functools import cache

from marshmallow import Schema, fields, validate

from schemas.common import NO_NUL, ListQuerySchema, PageSize, QuerySchema, StrictSchema

CURSOR_EXAMPLE = "YzE6M2Y5YzJiMWE0ZDVlNmY3MDpwcm9wb3NhbHM6dXMtcnVzc2lhLXNlY3VyaXR5LXRyZWF0eTozOjEyMw"
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"


def collection_param(names: tuple[str, ...]) -> fields.String:
    return fields.String(
        validate=validate.OneOf(names),
        metadata={
            "description": f"Only changes to this collection's items. One of: {', '.join(names)}.",
            "example": "proposals",
        },
    )


@cache
def changes_query_schema(names: tuple[str, ...]) -> type[Schema]:
    """`limit`, `cursor`, `since`, `collection` and `include`."""
    declared = {
        "cursor": fields.String(
            validate=[validate.Length(min=1, max=400), validate.Regexp(CURSOR_PATTERN, error="Not a cursor.")],
            metadata={
                "description": "Where to go on from: a `next_cursor` (or an entry's `cursor`) from an earlier page. It "
                "names a revision, so it stays valid for good, on this server and on any other holding the same "
                "history (a replica, a restored or imported copy, a mirror). Without `cursor` and `since`, the "
                "feed starts at its beginning.",
                "example": CURSOR_EXAMPLE,
            },
        ),
        "since": fields.String(
            validate=[validate.Length(min=1, max=400), NO_NUL],
            metadata={
                "description": "Start after this position instead: a cursor, or an RFC 3339 instant with its zone "
                "(`2026-12-01T00:00:00Z`: the changes recorded after it, then everything that follows them). Not "
                "with `cursor`; the `Link` and `next_cursor` of the page go on with `cursor`.",
                "example": "2022-01-01T00:00:00Z",
            },
        ),
        "collection": collection_param(names),
        "include": fields.String(
            validate=validate.OneOf(["snapshot"]),
            metadata={
                "description": "`snapshot`: each change carries the item as that revision stored it.",
                "example": "snapshot",
            },
        ),
    }
    return type("ChangesQuerySchema", (ListQuerySchema,), declared)


@cache
def atom_query_schema(names: tuple[str, ...]) -> type[Schema]:
    declared = {
        "limit": fields.Integer(
            validate=PageSize(),
            metadata={
                "description": "How many of the newest changes: 1 to the server's `MAX_PAGE_SIZE`; its "
                "`DEFAULT_PAGE_SIZE` when omitted.",
                "example": 20,
            },
        ),
        "collection": collection_param(names),
    }
    return type("ChangesAtomQuerySchema", (QuerySchema,), declared)


@cache
def change_schema(names: tuple[str, ...]) -> type[Schema]:
    """One entry of the feed: one revision of one item, and where to go on from right after it."""
    declared = {
        "collection": fields.String(
            required=True,
            validate=validate.OneOf(names),
            metadata={"description": "The item's collection.", "example": "proposals"},
        ),
        "id": fields.String(
            required=True, metadata={"description": "The item's id.", "example": "us-russia-security-treaty"}
        ),
        "revision": fields.Integer(
            required=True, metadata={"description": "The revision this change made.", "example": 3}
        ),
        "valid_from": fields.DateTime(
            required=True,
            metadata={
                "description": "When the revision became true (the source's date for imported history).",
                "example": "2022-01-26T00:00:00Z",
            },
        ),
        "recorded_at": fields.DateTime(
            required=True,
            metadata={
                "description": "When this database committed it; rises in feed order.",
                "example": "2026-12-01T04:30:00.123456Z",
            },
        ),
        "actor": fields.String(
            required=True,
            metadata={
                "description": "Who made the change: a token's name, or the import that loaded it.",
                "example": "seed",
            },
        ),
        "note": fields.String(
            required=True,
            allow_none=True,
            metadata={"description": "Why (the write's `X-Change-Note`).", "example": None},
        ),
        "deleted": fields.Boolean(
            required=True,
            metadata={"description": "True when the change deleted the item (a tombstone revision).", "example": False},
        ),
        "changeset": fields.Integer(
            required=True,
            metadata={
                "description": "The commit it belongs to, as this database numbers it: changes with one "
                "`changeset` were committed together.",
                "example": 41,
            },
        ),
        "url": fields.String(
            required=True,
            metadata={
                "description": "The revision (`GET` it for the item as it stood), like the service's other "
                "links: a path, or under PUBLIC_BASE_URL when it is set.",
                "example": "/v1/proposals/us-russia-security-treaty/revisions/3",
            },
        ),
        "cursor": fields.String(
            required=True,
            metadata={
                "description": "The position right after this change: pass it as `cursor` to go on from here.",
                "example": CURSOR_EXAMPLE,
            },
        ),
        "snapshot": fields.Dict(
            metadata={
                "description": "With `include=snapshot`: the item as this revision stored it (what "
                "`url` answers as `item`).",
                "example": {"id": "us-russia-security-treaty"},
            },
        ),
    }
    return type("ChangeSchema", (StrictSchema,), declared)


@cache
def change_page_schema(names: tuple[str, ...]) -> type[Schema]:
    declared = {
        "items": fields.List(
            fields.Nested(change_schema(names)),
            required=True,
            metadata={
                "description": "Changes in commit order, oldest first. Fewer than `limit` means this page "
                "reached the newest change (the head).",
                "example": [],
            },
        ),
        "next_cursor": fields.String(
            required=True,
            metadata={
                "description": "Where the next request goes on from (pass it as `cursor`); never null, since "
                "the feed has no end: at the head it names the newest change, and polling it later "
                "returns what was committed since. The `Link` header carries the same URL as "
                'rel="next".',
                "example": CURSOR_EXAMPLE,
            },
        ),
    }
    return type("ChangePageSchema", (StrictSchema,), declared)
