"""Talks: meetings and calls where proposals are negotiated."""

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.common import (
    Date,
    Slug,
    SlugList,
    StrictSchema,
    Text,
    example_of,
    list_query_schema,
    nested_list,
    page_schema,
    revision,
    source_ids,
    updated_at,
)

TALK_FORMATS = ("bilateral", "council", "multilateral", "phone_call")
TALK_STATUSES = ("scheduled", "held", "cancelled", "postponed")


class DelegationSchema(StrictSchema):
    party_id = Slug("The party the delegation represents.", "united-states", required=True)
    head = Text("Who led it, as the source spells the name.", "Wendy Sherman", max_length=200, required=True)
    head_id = Slug(
        "Who led it, as a person (`/v1/people/{id}`); null when the person is not in the data.",
        "wendy-sherman",
        allow_none=True,
    )
    head_role = Text(
        "The leader's office.", "Deputy Secretary of State", max_length=300, required=True, allow_none=True
    )


class ChairSchema(StrictSchema):
    name = Text(
        "Who chaired the meeting, as the source spells the name.", "Jens Stoltenberg", max_length=200, required=True
    )
    person_id = Slug(
        "The chair as a person (`/v1/people/{id}`); null when the person is not in the data.",
        "jens-stoltenberg",
        allow_none=True,
    )
    role = Text("The chair's office.", "NATO Secretary General", max_length=300, required=True, allow_none=True)


class TalkSchema(StrictSchema):
    id = Slug("Stable, readable id of the talk.", "geneva-strategic-stability-2022-01-10", required=True)
    title = Text(
        "What the meeting is called.", "Russia-US security guarantee talks in Geneva", max_length=500, required=True
    )
    format = fields.String(
        required=True,
        validate=validate.OneOf(TALK_FORMATS),
        metadata={"description": "How the parties meet.", "example": "bilateral"},
    )
    starts_on = Date("First day.", "2022-01-10", required=True)
    ends_on = Date("Last day, when known.", "2022-01-10", required=True, allow_none=True)
    location = Text(
        "Where it takes place; null for calls or when unknown.",
        "Geneva",
        max_length=300,
        required=True,
        allow_none=True,
    )
    status = fields.String(
        required=True,
        validate=validate.OneOf(TALK_STATUSES),
        metadata={"description": "Whether it is still to come, took place, or was called off.", "example": "scheduled"},
    )
    party_ids = SlugList("Parties taking part.", ["russia", "united-states"], required=True)
    proposal_ids = SlugList("Proposals on the table.", ["us-russia-security-treaty"], required=True)
    delegations = nested_list(
        DelegationSchema,
        "Who led each party's delegation, when known.",
        required=True,
        validate=validate.Length(max=100),
    )
    chair = fields.Nested(
        ChairSchema,
        required=True,
        allow_none=True,
        metadata={"description": "Who chaired it, when it had a chair.", "example": example_of(ChairSchema)},
    )
    summary = Text(
        "What the talk is about, in our own words.",
        "A bilateral Russia-US meeting set for 10 January 2022.",
        required=True,
    )
    source_ids = source_ids()
    revision = revision()
    updated_at = updated_at()

    @validates_schema
    def _ends_after_start(self, data, **kwargs):
        if data.get("ends_on") and data.get("starts_on") and data["ends_on"] < data["starts_on"]:
            raise ValidationError("Must not be before starts_on.", "ends_on")


TalkPageSchema = page_schema(TalkSchema, "This page of talks, by date.")
TALK_SORTS = ("starts_on", "title", "updated_at", "id")


class TalkQuerySchema(list_query_schema(TalkSchema, TALK_SORTS, "starts_on")):
    party = Slug("Only talks this party takes part in.", "nato")
    proposal = Slug("Only talks where this proposal is on the table.", "us-russia-security-treaty")
    person = Slug("Only talks this person led a delegation to or chaired (their id).", "wendy-sherman")
    status = fields.String(
        validate=validate.OneOf(TALK_STATUSES),
        metadata={"description": "Only talks with this status.", "example": "held"},
    )
    since = Date("Only talks starting on or after this date.", "2022-01-01")
    until = Date("Only talks starting on or before this date.", "2022-01-31")
