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
from schemas.dates import EdtfDate, edtf_bounds

STATEMENT_KINDS = ("quote", "paraphrase")


class StatementSchema(StrictSchema):
    id = Slug("Stable, readable id of the statement.", "lavrov-reasonable-time", required=True)
    speaker = Text("Who said it, as the source spells the name.", "Sergey Lavrov", max_length=200, required=True)
    speaker_id = Slug(
        "The speaker as a person (`/v1/people/{id}`); null when the person is not in the data.",
        "sergey-lavrov",
        allow_none=True,
    )
    speaker_role = Text(
        "The speaker's office at the time.",
        "Foreign Minister of Russia",
        max_length=300,
        required=True,
        allow_none=True,
    )
    party_id = Slug("The party the speaker spoke for.", "russia", required=True, allow_none=True)
    said_on = Date(
        "The day it was said (UTC), when `said_when` fixes exactly one; otherwise null. Kept for clients of "
        "before `said_when`: a write may give the day here instead of in `said_when`.",
        None,
        allow_none=True,
    )
    said_when = EdtfDate(
        "When it was said, as EDTF (ISO 8601-2), in days of UTC: a day (`2021-12-30`), a month (`2021-12`), a year, "
        "or an interval the sources bound it by (`2021-12-30/2021-12-31`), open on one side with `..` "
        "(`../2021-12-31`); an end may carry `?` (uncertain), `~` (approximate) or `%` (both). Null only when no "
        "source bounds it. An interval may not end before it starts.",
        "2021-12-30/2021-12-31",
        allow_none=True,
    )
    said_earliest = Date(
        "The earliest day `said_when` allows (a qualifier does not widen it); null when it is open at the start "
        "or the statement is undated.",
        "2021-12-30",
        dump_only=True,
        allow_none=True,
    )
    said_latest = Date(
        "The latest day `said_when` allows; null when it is open at the end or the statement is undated.",
        "2021-12-31",
        dump_only=True,
        allow_none=True,
    )
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

    @validates_schema
    def _said_on_matches_said_when(self, data, **kwargs):
        said_on, said_when = data.get("said_on"), data.get("said_when")
        if said_on is None or said_when is None:
            return
        if edtf_bounds(said_when).day != said_on:
            raise ValidationError(
                "said_on is the day said_when fixes; give said_when alone, or said_on as that day.", "said_on"
            )


StatementPageSchema = page_schema(StatementSchema, "This page of statements.")
STATEMENT_SORTS = ("id", "speaker", "updated_at", "said_when")


class StatementQuerySchema(list_query_schema(StatementSchema, STATEMENT_SORTS)):
    q = search_query()
    party = Slug("Only statements made for this party.", "russia")
    speaker = Text("Only statements by this speaker (exact name).", "Sergey Lavrov", max_length=200)
    person = Slug("Only statements by this person (their id).", "sergey-lavrov")
    proposal = Slug("Only statements about this proposal.", "us-russia-security-treaty")
    talk = Slug("Only statements about this talk.", "geneva-strategic-stability-2022-01-10")
    since = Date(
        "Only statements that may have been made on or after this day: their `said_latest` is on or after it (or "
        "open). Undated statements are left out.",
        "2021-12-30",
    )
    until = Date(
        "Only statements that may have been made on or before this day: their `said_earliest` is on or before it "
        "(or open). Undated statements are left out.",
        "2022-01-31",
    )
