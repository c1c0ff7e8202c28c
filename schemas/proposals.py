"""Proposals: draft agreements and the documents that answer them."""

from marshmallow import fields, validate

from schemas.clauses import ClauseInProposalSchema
from schemas.common import (
    Date,
    Slug,
    SlugList,
    StrictSchema,
    Text,
    list_query_schema,
    nested_list,
    page_schema,
    revision,
    source_ids,
    updated_at,
)

DOCUMENT_TYPES = ("treaty", "agreement", "written_response")
PROPOSAL_STATUSES = (
    "draft",
    "delivered",
    "under_negotiation",
    "rejected",
    "withdrawn",
    "superseded",
    "signed",
    "in_force",
)


class ProposalSchema(StrictSchema):
    id = Slug("Stable, readable id of the proposal.", "us-russia-security-treaty", required=True)
    title = Text(
        "Full title of the document.",
        "Treaty between the United States of America and the Russian Federation on Security Guarantees",
        max_length=1000,
        required=True,
    )
    short_title = Text("Short title for lists.", "US-Russia security treaty (draft)", max_length=200, required=True)
    proposer_id = Slug("The party that put the document forward.", "russia", required=True)
    addressee_ids = SlugList("The parties it is addressed to.", ["united-states"], required=True)
    document_type = fields.String(
        required=True,
        validate=validate.OneOf(DOCUMENT_TYPES),
        metadata={"description": "What kind of document it is.", "example": "treaty"},
    )
    status = fields.String(
        required=True,
        validate=validate.OneOf(PROPOSAL_STATUSES),
        metadata={"description": "Where the document stands.", "example": "draft"},
    )
    handed_over_on = Date("When it was handed to the addressees.", "2021-12-15", required=True, allow_none=True)
    published_on = Date("When it was made public; null if it was not.", "2021-12-17", required=True, allow_none=True)
    in_response_to = SlugList("Proposals this document answers.", [], required=True)
    summary = Text(
        "What the document is, in our own words.",
        "Russia's draft of a bilateral treaty with the United States.",
        required=True,
    )
    source_ids = source_ids()
    clauses = nested_list(
        ClauseInProposalSchema, "The document's clauses in order.", required=True, validate=validate.Length(max=1000)
    )
    revision = revision()
    updated_at = updated_at()


ProposalPageSchema = page_schema(ProposalSchema, "This page of proposals.")
PROPOSAL_SORTS = ("id", "title", "updated_at")


class ProposalQuerySchema(list_query_schema(ProposalSchema, PROPOSAL_SORTS)):
    proposer = Slug("Only proposals put forward by this party.", "russia")
    party = Slug("Only proposals this party puts forward or receives.", "united-states")
    status = fields.String(
        validate=validate.OneOf(PROPOSAL_STATUSES),
        metadata={"description": "Only proposals with this status.", "example": "draft"},
    )
