"""Parties: states, alliances and organizations."""

from marshmallow import fields, validate

from schemas.common import (
    Slug,
    SlugList,
    StrictSchema,
    Text,
    list_query_schema,
    page_schema,
    revision,
    source_ids,
    updated_at,
)

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


PartyPageSchema = page_schema(PartySchema, "This page of parties.")
PARTY_SORTS = ("id", "name", "kind", "updated_at")


class PartyQuerySchema(list_query_schema(PartySchema, PARTY_SORTS)):
    kind = fields.String(
        validate=validate.OneOf(PARTY_KINDS),
        metadata={"description": "Only parties of this kind.", "example": "alliance"},
    )
    member_of = Slug("Only members of this party.", "nato")
