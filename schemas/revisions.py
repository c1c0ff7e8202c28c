"""Revisions: every item's history, and the queries that read it."""

from marshmallow import Schema, fields, validate

from schemas.common import ListQuerySchema, QuerySchema, StrictSchema, as_served, example_of, page_of_items


class RevisionMetaSchema(StrictSchema):
    revision = fields.Integer(required=True, metadata={"description": "The revision number: 1, 2, …", "example": 2})
    valid_from = fields.DateTime(
        required=True,
        metadata={
            "description": "When this revision became true: the date its source gives for imported history, "
            "the commit time for an edit through the API. `as_of` selects by it.",
            "example": "2022-01-10T00:00:00Z",
        },
    )
    recorded_at = fields.DateTime(
        required=True,
        metadata={"description": "When this database stored the revision.", "example": "2026-11-28T17:00:00Z"},
    )
    actor = fields.String(
        required=True,
        metadata={
            "description": "Who made the change: a token's name, or the import that loaded it.",
            "example": "seed",
        },
    )
    note = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Why the change was made (the `X-Change-Note` header of the write).", "example": None},
    )
    deleted = fields.Boolean(
        required=True,
        metadata={"description": "True for the tombstone revision that deleted the item.", "example": False},
    )


def revision_schema(item_schema: type[Schema]) -> type[Schema]:
    """A revision of one collection's items: its metadata and the item as it stood."""
    name = item_schema.__name__.removesuffix("Schema")
    return type(
        f"{name}RevisionSchema",
        (RevisionMetaSchema,),
        {
            "item": fields.Nested(
                as_served(item_schema),
                required=True,
                metadata={"description": "The item as it stood at this revision.", "example": example_of(item_schema)},
            )
        },
    )


def revision_page_schema(revision: type[Schema]) -> type[Schema]:
    name = revision.__name__.removesuffix("Schema")
    return page_of_items(name, revision, "This page of revisions, newest first.", [])


class RevisionListQuerySchema(ListQuerySchema):
    pass


class DiffQuerySchema(QuerySchema):
    from_revision = fields.Integer(
        data_key="from",
        validate=validate.Range(min=1, max=2_000_000_000),
        metadata={"description": "The revision to compare with; the one before when omitted.", "example": 1},
    )


class PatchOperationSchema(Schema):
    op = fields.String(
        required=True,
        validate=validate.OneOf(["add", "remove", "replace", "move", "copy", "test"]),
        metadata={"description": "The RFC 6902 operation.", "example": "replace"},
    )
    path = fields.String(
        required=True, metadata={"description": "JSON Pointer to the changed member.", "example": "/status"}
    )
    value = fields.Raw(metadata={"description": "The new value (add, replace, test).", "example": "held"})
    from_ = fields.String(
        data_key="from", metadata={"description": "The source pointer (move, copy).", "example": "/summary"}
    )
