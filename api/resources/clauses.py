"""Clauses: the articles of every proposal. A change to one is a change to its proposal too."""

from flask.views import MethodView

from api.collections import CLAUSES
from api.http.blueprint import ApiBlueprint, id_parameter
from api.resources import writes
from api.resources.reads import collection_list, item_response
from api.resources.revisions import add_revision_routes
from schemas.clauses import ClauseItemQuerySchema, ClausePageSchema, ClauseQuerySchema, ClauseSchema

blp = ApiBlueprint(
    "clauses",
    __name__,
    url_prefix="/v1/clauses",
    description="The articles of the proposals: our summary, topics, who they bind, and quoted words.",
)
CLAUSE_ID = id_parameter("clause_id", "Id of the clause.", "us-russia-security-treaty-article-5")


@blp.route("")
class Clauses(MethodView):
    @blp.arguments(ClauseQuerySchema(), location="query")
    @blp.list_doc(ClausePageSchema, "listClauses")
    def get(self, args: dict):
        """List clauses in document order, or search them with `q`.

        Filter by proposal, topic, a party the clause binds, and whether a source quotes it. With `q`, the
        clauses matching it come ranked, best first, each with a highlighted snippet in `search`.
        """
        return collection_list(CLAUSES, args)

    @blp.create_doc(ClauseSchema, "createClause")
    def post(self):
        """Add a clause to a proposal (needs a write token); the proposal gets a new revision."""
        return writes.create(CLAUSES)


@blp.route("/<clause_id>", parameters=[CLAUSE_ID])
class Clause(MethodView):
    @blp.arguments(ClauseItemQuerySchema(), location="query")
    @blp.item_doc(ClauseSchema, "getClause")
    def get(self, args: dict, clause_id: str):
        """Get one clause, now or as it stood at `as_of`."""
        return item_response(CLAUSES, clause_id, args)

    @blp.update_doc(ClauseSchema, "updateClause", fixed=("id", "proposal_id"))
    def patch(self, clause_id: str):
        """Change a clause with a JSON Merge Patch; its proposal gets a new revision too.

        `proposal_id` cannot change: a clause stays in its proposal.
        """
        return writes.update(CLAUSES, clause_id, fixed=("id", "proposal_id"))

    @blp.delete_doc("deleteClause")
    def delete(self, clause_id: str):
        """Delete a clause, leaving a tombstone; its proposal gets a new revision."""
        return writes.delete(CLAUSES, clause_id)


add_revision_routes(blp, CLAUSES, CLAUSE_ID)
