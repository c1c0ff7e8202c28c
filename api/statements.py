"""Statements: what officials said about the proposals and talks."""

from flask.views import MethodView

from api import writes
from api.openapi import ApiBlueprint, id_parameter
from api.resource import item_response, list_response
from api.revisions import add_revision_routes
from schemas.statements import StatementItemQuerySchema, StatementPageSchema, StatementQuerySchema, StatementSchema

COLUMNS = [name for name in StatementSchema._declared_fields if name != "search"]
blp = ApiBlueprint(
    "statements",
    __name__,
    url_prefix="/v1/statements",
    description="What officials said about the proposals and talks: exact quotes or paraphrases.",
)
FILTERS = ("q", "party", "speaker", "proposal", "talk", "since", "until", "sort")
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
        filters = {k: args[k] for k in FILTERS}
        if args["q"]:
            return list_response(
                "statements", filters, args, key_count=2, query="search_statements", columns=[*COLUMNS, "search"]
            )
        return list_response("statements", filters, args, key_count=2, columns=COLUMNS, sort_alias="s")

    @blp.create_doc(StatementSchema, "createStatement")
    def post(self):
        """Create a statement (needs a write token)."""
        return writes.create("statements", "statement", StatementSchema)


@blp.route("/<statement_id>", parameters=[STATEMENT_ID])
class Statement(MethodView):
    @blp.arguments(StatementItemQuerySchema(), location="query")
    @blp.item_doc(StatementSchema, "getStatement")
    def get(self, args: dict, statement_id: str):
        """Get one statement, now or as it stood at `as_of`."""
        return item_response("statements", "statement", statement_id, args)

    @blp.update_doc(StatementSchema, "updateStatement")
    def patch(self, statement_id: str):
        """Change a statement with a JSON Merge Patch (needs a write token and If-Match)."""
        return writes.update("statements", "statement", StatementSchema, statement_id)

    @blp.delete_doc("deleteStatement")
    def delete(self, statement_id: str):
        """Delete a statement, leaving a tombstone (needs a write token and If-Match)."""
        return writes.delete("statements", "statement", statement_id)


add_revision_routes(blp, "statements", "statement", StatementSchema, STATEMENT_ID)
