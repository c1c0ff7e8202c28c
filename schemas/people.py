"""People: the officials who speak, lead delegations and chair meetings."""

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.common import (
    Date,
    Slug,
    StrictSchema,
    Text,
    list_query_schema,
    nested_list,
    page_schema,
    revision,
    source_ids,
    updated_at,
)


class RoleSchema(StrictSchema):
    title = Text("The office, as the sources name it.", "Deputy Secretary of State", max_length=300, required=True)
    party_id = Slug(
        "The party the office acts for; null when none in the data.", "united-states", required=True, allow_none=True
    )
    since = Date(
        "When the person took the office, when a source gives it.", "2021-04-14", required=True, allow_none=True
    )
    until = Date("When the person left it, when a source gives it.", None, required=True, allow_none=True)
    source_ids = source_ids()

    @validates_schema
    def _until_after_since(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise ValidationError("Must not be before since.", "until")


class PersonSchema(StrictSchema):
    id = Slug("Stable, readable id of the person.", "wendy-sherman", required=True)
    name = Text("The name as the sources spell it most.", "Wendy Sherman", max_length=200, required=True)
    other_names = fields.List(
        fields.String(validate=[validate.Length(min=1, max=200), validate.Regexp(r"^[^\x00]*$")]),
        required=True,
        validate=validate.Length(max=50),
        metadata={"description": "Other spellings of the name that sources use.", "example": ["Yury Ushakov"]},
    )
    roles = nested_list(
        RoleSchema,
        "The person's offices, as the sources give them (dates only where a source does).",
        required=True,
        validate=validate.Length(max=100),
    )
    source_ids = source_ids()
    revision = revision()
    updated_at = updated_at()


PersonPageSchema = page_schema(PersonSchema, "This page of people.")
PERSON_SORTS = ("id", "name", "updated_at")


class PersonQuerySchema(list_query_schema(PersonSchema, PERSON_SORTS)):
    party = Slug("Only people who held an office for this party.", "russia")
