"""Clauses: the articles of a proposal."""

from marshmallow import fields, validate

from schemas.common import (
    Slug,
    SlugList,
    StrictSchema,
    Text,
    WholeNumber,
    list_query_schema,
    nested_list,
    page_schema,
    revision,
    search_hit,
    search_query,
    source_ids,
    updated_at,
)


class ExcerptSchema(StrictSchema):
    text = Text(
        "Exact words that the cited source quotes from this article.",
        "The Parties shall settle all international disputes in their mutual relations by peaceful means",
        required=True,
    )
    source_id = Slug("The source that quotes these words.", "sputnik-lavrov-security-guarantees", required=True)


class ClauseInProposalSchema(StrictSchema):
    """A clause as written inside its proposal: the proposal gives `proposal_id`."""

    id = Slug("Stable, readable id of the clause.", "us-russia-security-treaty-article-5", required=True)
    proposal_id = Slug("The proposal this clause belongs to.", "us-russia-security-treaty", dump_only=True)
    position = WholeNumber(
        required=True,
        validate=validate.Range(min=0, max=10_000),
        metadata={"description": "Order within the proposal (0 is a preamble, 1 the first article).", "example": 5},
    )
    label = Text("The article's label in the document.", "Article 5", max_length=200, required=True)
    summary = Text(
        "What the article says, in our own words (not treaty text).",
        "No deployments that the other side could see as a threat.",
        required=True,
    )
    topics = fields.List(
        fields.String(validate=[validate.Length(min=1, max=100), validate.Regexp(r"^[a-z0-9]+(-[a-z0-9]+)*$")]),
        required=True,
        validate=validate.Length(max=50),
        metadata={"description": "Subject tags (slugs).", "example": ["military-deployments"]},
    )
    obligated_party_ids = SlugList("Parties the article binds.", ["russia", "united-states"], required=True)
    excerpts = nested_list(
        ExcerptSchema,
        "Exact words of the article as quoted by sources; empty when no source quotes it.",
        required=True,
        validate=validate.Length(max=100),
    )
    source_ids = source_ids()
    revision = revision()
    updated_at = updated_at()


class ClauseSchema(ClauseInProposalSchema):
    proposal_id = Slug("The proposal this clause belongs to.", "us-russia-security-treaty", required=True)
    search = search_hit()


ClausePageSchema = page_schema(ClauseSchema, "This page of clauses.")


class ClauseQuerySchema(list_query_schema(ClauseSchema)):
    q = search_query()
    proposal = Slug("Only clauses of this proposal.", "us-russia-security-treaty")
    topic = Slug("Only clauses with this topic.", "nato-enlargement")
    party = Slug("Only clauses that bind this party.", "united-states")
    quoted = fields.Boolean(
        metadata={
            "description": "true: only clauses a source quotes (with excerpts); false: only the others.",
            "example": True,
        },
    )


ProposalClausesQuerySchema = list_query_schema(ClauseSchema)  # a proposal's clauses: no filters
