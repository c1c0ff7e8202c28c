"""Statements: what officials said about the proposals and talks."""

from flask.views import MethodView

from api.openapi import ApiBlueprint, id_parameter
from api.resource import item_response, list_response
from schemas.statements import StatementPageSchema, StatementQuerySchema, StatementSchema

blp = ApiBlueprint(
    "statements",
    __name__,
    url_prefix="/v1/statements",
    description="What officials said about the proposals and talks: exact quotes or paraphrases, with sources.",
)
FILTERS = ("party", "speaker", "proposal", "talk")


@blp.route("")
class Statements(MethodView):
    @blp.arguments(StatementQuerySchema, location="query")
    @blp.list_doc(StatementPageSchema)
    def get(self, args: dict):
        """List statements.

        Filter by party, speaker, proposal and talk.
        """
        return list_response("statements", {k: args[k] for k in FILTERS}, args, key_count=1)


@blp.route(
    "/<statement_id>", parameters=[id_parameter("statement_id", "Id of the statement.", "lavrov-reasonable-time")]
)
class Statement(MethodView):
    @blp.item_doc(StatementSchema)
    def get(self, statement_id: str):
        """Get one statement."""
        return item_response("statements", "statement", statement_id)
