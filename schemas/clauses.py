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
    responds_to_ids = SlugList(
        "For a point of a written response or reply: the clauses (draft articles, or points of the document it "
        "answers) that this point answers. Which article a point answers is our reading of its subject, not the "
        "document's own words. Each must be an existing clause; empty for a draft's own articles.",
        ["us-russia-security-treaty-article-4"],
        load_default=list,
    )
    answered_by_ids = SlugList(
        "The clauses that list this one in their `responds_to_ids`, in document order: how it was answered. Kept "
        "current by the server; a change to it is a revision of this clause.",
        ["us-written-response-2022-01-26-open-door"],
        dump_only=True,
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
    responds_to = Slug(
        "Only the clauses that answer this clause (the points of responses that list it in `responds_to_ids`).",
        "us-russia-security-treaty-article-4",
    )
    quoted = fields.Boolean(
        metadata={
            "description": "true: only clauses a source quotes (with excerpts); false: only the others.",
            "example": True,
        },
    )


ProposalClausesQuerySchema = list_query_schema(ClauseSchema)  # a proposal's clauses: no filters
