"""Statements: what officials said about the proposals and talks."""

from flask.views import MethodView

from api.collections import STATEMENTS
from api.http.blueprint import ApiBlueprint, id_parameter
from api.resources import writes
from api.resources.reads import collection_list, item_response
from api.resources.revisions import add_revision_routes
from schemas.statements import StatementItemQuerySchema, StatementPageSchema, StatementQuerySchema, StatementSchema

blp = ApiBlueprint(
    "statements",
    __name__,
    url_prefix="/v1/statements",
    description="What officials said about the proposals and talks: exact quotes or paraphrases.",
)
STATEMENT_ID = id_parameter("statement_id", "Id of the statement.", "lavrov-reasonable-time")


@blp.route("")
class Statements(MethodView):
    @blp.arguments(StatementQuerySchema(), location="query")
    @blp.list_doc(StatementPageSchema, "listStatements")
    def get(self, args: dict):
        """List statements, or search them with `q`.

        Filter by party, speaker, proposal, talk and a range of dates. With `q`, the statements matching it
        come ranked, best first, each with a highlighted snippet in `search`.
        """
        return collection_list(STATEMENTS, args)

    @blp.create_doc(StatementSchema, "createStatement")
    def post(self):
        """Create a statement (needs a write token)."""
        return writes.create(STATEMENTS)


@blp.route("/<statement_id>", parameters=[STATEMENT_ID])
class Statement(MethodView):
    @blp.arguments(StatementItemQuerySchema(), location="query")
    @blp.item_doc(StatementSchema, "getStatement")
    def get(self, args: dict, statement_id: str):
        """Get one statement, now or as it stood at `as_of`."""
        return item_response(STATEMENTS, statement_id, args)

    @blp.update_doc(StatementSchema, "updateStatement")
    def patch(self, statement_id: str):
        """Change a statement with a JSON Merge Patch (needs a write token and If-Match)."""
        return writes.update(STATEMENTS, statement_id)

    @blp.delete_doc("deleteStatement")
    def delete(self, statement_id: str):
        """Delete a statement, leaving a tombstone (needs a write token and If-Match)."""
        return writes.delete(STATEMENTS, statement_id)


add_revision_routes(blp, STATEMENTS, STATEMENT_ID)
