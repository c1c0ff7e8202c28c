"""Proposals: draft agreements (with their ordered clauses) and the answers to them."""

from flask.views import MethodView

from api.collections import CLAUSES, PROPOSALS
from api.http.blueprint import ApiBlueprint, id_parameter
from api.http.connection import connection
from api.http.errors import not_found
from api.resources import writes
from api.resources.reads import collection_list, is_id, item_response
from api.resources.revisions import add_revision_routes
from api.store.sql import q
from schemas.clauses import ClausePageSchema, ProposalClausesQuerySchema
from schemas.proposals import ProposalItemQuerySchema, ProposalPageSchema, ProposalQuerySchema, ProposalSchema

blp = ApiBlueprint(
    "proposals",
    __name__,
    url_prefix="/v1/proposals",
    description="Draft agreements, each with its clauses in order, and the documents answering them.",
)
PROPOSAL_ID = id_parameter("proposal_id", "Id of the proposal.", "us-russia-security-treaty")


@blp.route("")
class Proposals(MethodView):
    @blp.arguments(ProposalQuerySchema(), location="query")
    @blp.list_doc(ProposalPageSchema, "listProposals")
    def get(self, args: dict):
        """List proposals.

        Filter by proposer, by a party that proposes or receives them, and by status.
        """
        return collection_list(PROPOSALS, args)

    @blp.create_doc(ProposalSchema, "createProposal")
    def post(self):
        """Create a proposal with its clauses (needs a write token)."""
        return writes.create(PROPOSALS)


@blp.route("/<proposal_id>", parameters=[PROPOSAL_ID])
class Proposal(MethodView):
    @blp.arguments(ProposalItemQuerySchema(), location="query")
    @blp.item_doc(ProposalSchema, "getProposal")
    def get(self, args: dict, proposal_id: str):
        """Get one proposal with its clauses, now or as it stood at `as_of`.

        The clauses come in document order, each with our summary and the exact words its sources quote.
        """
        return item_response(PROPOSALS, proposal_id, args)

    @blp.update_doc(ProposalSchema, "updateProposal")
    def patch(self, proposal_id: str):
        """Change a proposal with a JSON Merge Patch (needs a write token and If-Match).

        A `clauses` member replaces the whole list: clauses left out are deleted.
        """
        return writes.update(PROPOSALS, proposal_id)

    @blp.delete_doc("deleteProposal")
    def delete(self, proposal_id: str):
        """Delete a proposal and its clauses, leaving tombstones (needs a write token and If-Match)."""
        return writes.delete(PROPOSALS, proposal_id)


@blp.route("/<proposal_id>/clauses", parameters=[PROPOSAL_ID])
class ProposalClauses(MethodView):
    @blp.arguments(ProposalClausesQuerySchema(), location="query")
    @blp.list_doc(ClausePageSchema, "listProposalClauses")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict, proposal_id: str):
        """List the clauses of one proposal, in document order.

        The same clauses the proposal carries inline, paged with `cursor`, with `fields=` and CSV like every
        list; 404 when the proposal does not exist.
        """
        row = connection().execute(q("proposal_exists"), {"id": proposal_id}).fetchone() if is_id(proposal_id) else None
        if row is None:
            raise not_found("proposal", proposal_id)
        filters = {
            "q": None,
            "proposal": proposal_id,
            "topic": None,
            "party": None,
            "quoted": None,
            "responds_to": None,
        }
        return collection_list(CLAUSES, args, filters)


add_revision_routes(blp, PROPOSALS, PROPOSAL_ID)
