"""Talks: meetings and calls where proposals are negotiated."""

from flask.views import MethodView

from api.collections import TALKS
from api.http.blueprint import ApiBlueprint, id_parameter
from api.resources import writes
from api.resources.reads import collection_list, item_response
from api.resources.revisions import add_revision_routes
from schemas.talks import TalkItemQuerySchema, TalkPageSchema, TalkQuerySchema, TalkSchema

blp = ApiBlueprint(
    "talks", __name__, url_prefix="/v1/talks", description="Meetings and calls where the proposals are negotiated."
)
TALK_ID = id_parameter("talk_id", "Id of the talk.", "geneva-strategic-stability-2022-01-10")


@blp.route("")
class Talks(MethodView):
    @blp.arguments(TalkQuerySchema(), location="query")
    @blp.list_doc(TalkPageSchema, "listTalks")
    def get(self, args: dict):
        """List talks, earliest first.

        Filter by party, proposal, status and a range of start dates; page with `cursor`.
        """
        return collection_list(TALKS, args)

    @blp.create_doc(TalkSchema, "createTalk")
    def post(self):
        """Create a talk (needs a write token)."""
        return writes.create(TALKS)


@blp.route("/<talk_id>", parameters=[TALK_ID])
class Talk(MethodView):
    @blp.arguments(TalkItemQuerySchema(), location="query")
    @blp.item_doc(TalkSchema, "getTalk")
    def get(self, args: dict, talk_id: str):
        """Get one talk, now or as it stood at `as_of`.

        Its parties, proposals, delegations, chair and sources.
        """
        return item_response(TALKS, talk_id, args)

    @blp.update_doc(TalkSchema, "updateTalk")
    def patch(self, talk_id: str):
        """Change a talk with a JSON Merge Patch (needs a write token and If-Match)."""
        return writes.update(TALKS, talk_id)

    @blp.delete_doc("deleteTalk")
    def delete(self, talk_id: str):
        """Delete a talk, leaving a tombstone (needs a write token and If-Match)."""
        return writes.delete(TALKS, talk_id)


add_revision_routes(blp, TALKS, TALK_ID)
