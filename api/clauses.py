"""Clauses: the articles of every proposal."""

from flask.views import MethodView

from api.openapi import ApiBlueprint, id_parameter
from api.resource import item_response, list_response
from schemas.clauses import ClausePageSchema, ClauseQuerySchema, ClauseSchema

blp = ApiBlueprint(
    "clauses",
    __name__,
    url_prefix="/v1/clauses",
    description="The articles of the proposals: our summary, topics, who they bind, and quoted words.",
)


@blp.route("")
class Clauses(MethodView):
    @blp.arguments(ClauseQuerySchema, location="query")
    @blp.list_doc(ClausePageSchema)
    def get(self, args: dict):
        """List clauses, by proposal and position.

        Filter by proposal.
        """
        return list_response("clauses", {"proposal": args["proposal"]}, args, key_count=3)


@blp.route(
    "/<clause_id>", parameters=[id_parameter("clause_id", "Id of the clause.", "us-russia-security-treaty-article-5")]
)
class Clause(MethodView):
    @blp.item_doc(ClauseSchema)
    def get(self, clause_id: str):
        """Get one clause."""
        return item_response("clauses", "clause", clause_id)
