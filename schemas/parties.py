"""Parties: states, alliances and organizations."""

from marshmallow import fields, validate

from schemas.common import (
    ListQuerySchema,
    Slug,
    SlugList,
    StrictSchema,
    Text,
    fields_param,
    format_param,
    next_cursor,
    page_of,
    revision,
    sort_param,
    source_ids,
    updated_at,
)
from schemas.revisions import AsOfQuerySchema

PARTY_KINDS = ("state", "alliance", "organization")


class PartySchema(StrictSchema):
    id = Slug("Stable, readable id of the party.", "russia", required=True)
    name = Text("Full name.", "Russian Federation", max_length=300, required=True)
    short_name = Text("Short name for tables and labels.", "Russia", max_length=100, required=True)
    kind = fields.String(
        required=True,
        validate=validate.OneOf(PARTY_KINDS),
        metadata={"description": "What sort of party it is.", "example": "state"},
    )
    member_of = SlugList("Ids of the alliances and organizations this party belongs to.", ["nato"], required=True)
    members = SlugList("Ids of this party's members (derived from their `member_of`).", [], dump_only=True)
    source_ids = source_ids()
    revision = revision()
    updated_at = updated_at()


class PartyPageSchema(StrictSchema):
    items = page_of(PartySchema, "This page of parties.")
    next_cursor = next_cursor()


PARTY_SORTS = ("id", "name", "kind", "updated_at")


class PartyQuerySchema(ListQuerySchema):
    sort = sort_param(PARTY_SORTS, "id")
    only = fields_param(PartySchema)
    representation = format_param()
    kind = fields.String(
        validate=validate.OneOf(PARTY_KINDS),
        metadata={"description": "Only parties of this kind.", "example": "alliance"},
    )
    member_of = Slug("Only members of this party.", "nato")


class PartyItemQuerySchema(AsOfQuerySchema):
    only = fields_param(PartySchema)
