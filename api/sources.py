"""Sources: where every fact in the dataset comes from."""

from flask.views import MethodView

from api.openapi import ApiBlueprint, id_parameter
from api.resource import item_response, list_response
from schemas.sources import SourcePageSchema, SourceQuerySchema, SourceSchema

blp = ApiBlueprint(
    "sources",
    __name__,
    url_prefix="/v1/sources",
    description="Where each fact comes from: publisher, title, date and address when known.",
)


@blp.route("")
class Sources(MethodView):
    @blp.arguments(SourceQuerySchema, location="query")
    @blp.list_doc(SourcePageSchema)
    def get(self, args: dict):
        """List sources.

        Filter by publisher.
        """
        return list_response("sources", {"publisher": args["publisher"]}, args, key_count=1)


@blp.route(
    "/<source_id>", parameters=[id_parameter("source_id", "Id of the source.", "sputnik-lavrov-security-guarantees")]
)
class Source(MethodView):
    @blp.item_doc(SourceSchema)
    def get(self, source_id: str):
        """Get one source."""
        return item_response("sources", "source", source_id)
