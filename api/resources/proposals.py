"""Proposals: draft agreements (with their ordered clauses) and the answers to them."""

from flask.views import MethodView

from api.collections import CLAUSES, PROPOSALS
from api.http.blueprint import ApiBlueprint
from api.http.connection import connection
from api.http.errors import not_found
from api.resources.reads import collection_list, is_id
from api.resources.routes import collection_blueprint
from api.store.sql import q
from schemas.clauses import ProposalClausesQuerySchema


def add_clause_routes(blp: ApiBlueprint, item: dict) -> None:
    """A proposal's clauses as a list of their own."""

    @blp.route("/<proposal_id>/clauses", parameters=[item])
    class ProposalClauses(MethodView):
        @blp.arguments(ProposalClausesQuerySchema(), location="query")
        @blp.list_doc(CLAUSES.page_schema, "listProposalClauses")
        @blp.alt_response(404, response="NOT_FOUND")
        def get(self, args: dict, proposal_id: str):
            """List the clauses of one proposal, in document order.

            The same clauses the proposal carries inline, paged with `cursor`, with `fields=` and CSV like every
            list; 404 when the proposal does not exist.
            """
            if (
                not is_id(proposal_id)
                or connection().execute(q("proposal_exists"), {"id": proposal_id}).fetchone() is None
            ):
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


blp = collection_blueprint(
    PROPOSALS,
    "Draft agreements, each with its clauses in order, and the documents answering them.",
    "us-russia-security-treaty",
    list_text="""List proposals.

    Filter by proposer, by a party that proposes or receives them, and by status.
    """,
    create_text="Create a proposal with its clauses (needs a write token).",
    get_text="""Get one proposal with its clauses, now or as it stood at `as_of`.

    The clauses come in document order, each with our summary and the exact words its sources quote.
    """,
    update_text="""Change a proposal with a JSON Merge Patch (needs a write token and If-Match).

    A `clauses` member replaces the whole list: clauses left out are deleted.
    """,
    delete_text="Delete a proposal and its clauses, leaving tombstones (needs a write token and If-Match).",
    more_routes=add_clause_routes,
)
