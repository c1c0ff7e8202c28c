"""Sources: where every fact in the dataset comes from."""

from flask.views import MethodView

from api.collections import SOURCES
from api.http.blueprint import ApiBlueprint, id_parameter
from api.resources import writes
from api.resources.reads import collection_list, item_response
from api.resources.revisions import add_revision_routes
from schemas.sources import SourceItemQuerySchema, SourcePageSchema, SourceQuerySchema, SourceSchema

blp = ApiBlueprint(
    "sources",
    __name__,
    url_prefix="/v1/sources",
    description="Where each fact comes from: publisher, title, date and address when known.",
)
SOURCE_ID = id_parameter("source_id", "Id of the source.", "sputnik-lavrov-security-guarantees")


@blp.route("")
class Sources(MethodView):
    @blp.arguments(SourceQuerySchema(), location="query")
    @blp.list_doc(SourcePageSchema, "listSources")
    def get(self, args: dict):
        """List sources.

        Filter by publisher.
        """
        return collection_list(SOURCES, args)

    @blp.create_doc(SourceSchema, "createSource")
    def post(self):
        """Create a source (needs a write token)."""
        return writes.create(SOURCES)


@blp.route("/<source_id>", parameters=[SOURCE_ID])
class Source(MethodView):
    @blp.arguments(SourceItemQuerySchema(), location="query")
    @blp.item_doc(SourceSchema, "getSource")
    def get(self, args: dict, source_id: str):
        """Get one source, now or as it stood at `as_of`."""
        return item_response(SOURCES, source_id, args)

    @blp.update_doc(SourceSchema, "updateSource")
    def patch(self, source_id: str):
        """Change a source with a JSON Merge Patch (needs a write token and If-Match)."""
        return writes.update(SOURCES, source_id)

    @blp.delete_doc("deleteSource")
    def delete(self, source_id: str):
        """Delete a source no record cites, leaving a tombstone (needs a write token and If-Match)."""
        return writes.delete(SOURCES, source_id)


add_revision_routes(blp, SOURCES, SOURCE_ID)
