"""Talks: meetings and calls where proposals are negotiated."""

from flask.views import MethodView

from api.openapi import ApiBlueprint, id_parameter
from api.resource import item_response, list_response
from schemas.talks import TalkPageSchema, TalkQuerySchema, TalkSchema

blp = ApiBlueprint(
    "talks", __name__, url_prefix="/v1/talks", description="Meetings and calls where the proposals are negotiated."
)
FILTERS = ("party", "proposal", "status", "since", "until")


@blp.route("")
class Talks(MethodView):
    @blp.arguments(TalkQuerySchema, location="query")
    @blp.list_doc(TalkPageSchema)
    def get(self, args: dict):
        """List talks, earliest first.

        Filter by party, proposal, status and a range of start dates; page with `cursor`.
        """
        return list_response("talks", {k: args[k] for k in FILTERS}, args, key_count=2)


@blp.route(
    "/<talk_id>", parameters=[id_parameter("talk_id", "Id of the talk.", "geneva-strategic-stability-2022-01-10")]
)
class Talk(MethodView):
    @blp.item_doc(TalkSchema)
    def get(self, talk_id: str):
        """Get one talk.

        Its parties, proposals, delegations, chair and sources.
        """
        return item_response("talks", "talk", talk_id)
