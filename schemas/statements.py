"""Statements: what officials said about proposals and talks."""

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.common import (
    Date,
    Slug,
    SlugList,
    StrictSchema,
    Text,
    list_query_schema,
    page_schema,
    revision,
    search_hit,
    search_query,
    source_ids,
    updated_at,
)

STATEMENT_KINDS = ("quote", "paraphrase")


class StatementSchema(StrictSchema):
    id = Slug("Stable, readable id of the statement.", "lavrov-reasonable-time", required=True)
    speaker = Text("Who said it, as the source spells the name.", "Sergey Lavrov", max_length=200, required=True)
    speaker_role = Text(
        "The speaker's office at the time.",
        "Foreign Minister of Russia",
        max_length=300,
        required=True,
        allow_none=True,
    )
    party_id = Slug("The party the speaker spoke for.", "russia", required=True, allow_none=True)
    said_on = Date("When it was said, if the source gives the date.", None, required=True, allow_none=True)
    kind = fields.String(
        required=True,
        validate=validate.OneOf(STATEMENT_KINDS),
        metadata={
            "description": "`quote`: the source prints the exact words; `paraphrase`: it reports them.",
            "example": "quote",
        },
    )
    quote = Text(
        "The exact words, as the cited source quotes them; null for a paraphrase.",
        "Participation of high-ranking military personnel of the United States and the countries of the [NATO] alliance is fundamentally important for us",
        required=True,
        allow_none=True,
    )
    summary = Text("What was said, in our own words.", "Lavrov said military officers must take part.", required=True)
    proposal_ids = SlugList("Proposals the statement is about.", ["us-russia-security-treaty"], required=True)
    talk_ids = SlugList("Talks the statement is about.", [], required=True)
    source_ids = source_ids()
    revision = revision()
    updated_at = updated_at()
    search = search_hit()

    @validates_schema
    def _quote_matches_kind(self, data, **kwargs):
        if "kind" in data and "quote" in data and (data["kind"] == "quote") != (data["quote"] is not None):
            raise ValidationError("A quote needs its exact words; a paraphrase has none.", "quote")


StatementPageSchema = page_schema(StatementSchema, "This page of statements.")
STATEMENT_SORTS = ("id", "speaker", "updated_at")


class StatementQuerySchema(list_query_schema(StatementSchema, STATEMENT_SORTS)):
    q = search_query()
    party = Slug("Only statements made for this party.", "russia")
    speaker = Text("Only statements by this speaker (exact name).", "Sergey Lavrov", max_length=200)
    proposal = Slug("Only statements about this proposal.", "us-russia-security-treaty")
    talk = Slug("Only statements about this talk.", "geneva-strategic-stability-2022-01-10")
    since = Date("Only statements made on or after this date.", "2021-12-30")
    until = Date("Only statements made on or before this date.", "2022-01-31")
