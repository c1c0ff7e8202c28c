"""Parties: states, alliances and organizations, with their memberships."""

from flask.views import MethodView

from api.openapi import ApiBlueprint, id_parameter
from api.resource import item_response, list_response
from schemas.parties import PartyPageSchema, PartyQuerySchema, PartySchema

blp = ApiBlueprint(
    "parties",
    __name__,
    url_prefix="/v1/parties",
    description="States, alliances and organizations, with what they belong to and who belongs to them.",
)


@blp.route("")
class Parties(MethodView):
    @blp.arguments(PartyQuerySchema, location="query")
    @blp.list_doc(PartyPageSchema)
    def get(self, args: dict):
        """List parties.

        Filter by kind and by membership (`member_of=nato` lists NATO's members).
        """
        return list_response("parties", {"kind": args["kind"], "member_of": args["member_of"]}, args, key_count=1)


@blp.route("/<party_id>", parameters=[id_parameter("party_id", "Id of the party.", "nato")])
class Party(MethodView):
    @blp.item_doc(PartySchema)
    def get(self, party_id: str):
        """Get one party."""
        return item_response("parties", "party", party_id)
