"""Parties: states, alliances and organizations, with their memberships."""

from flask.views import MethodView

from api.collections import PARTIES
from api.http.blueprint import ApiBlueprint, id_parameter
from api.resources import writes
from api.resources.reads import collection_list, item_response
from api.resources.revisions import add_revision_routes
from schemas.parties import PartyItemQuerySchema, PartyPageSchema, PartyQuerySchema, PartySchema

blp = ApiBlueprint(
    "parties",
    __name__,
    url_prefix="/v1/parties",
    description="States, alliances and organizations, with what they belong to and who belongs to them.",
)
PARTY_ID = id_parameter("party_id", "Id of the party.", "nato")


@blp.route("")
class Parties(MethodView):
    @blp.arguments(PartyQuerySchema(), location="query")
    @blp.list_doc(PartyPageSchema, "listParties")
    def get(self, args: dict):
        """List parties.

        Filter by kind and by membership (`member_of=nato` lists NATO's members); order with `sort`.
        """
        return collection_list(PARTIES, args)

    @blp.create_doc(PartySchema, "createParty")
    def post(self):
        """Create a party (needs a write token)."""
        return writes.create(PARTIES)


@blp.route("/<party_id>", parameters=[PARTY_ID])
class Party(MethodView):
    @blp.arguments(PartyItemQuerySchema(), location="query")
    @blp.item_doc(PartySchema, "getParty")
    def get(self, args: dict, party_id: str):
        """Get one party, now or as it stood at `as_of`."""
        return item_response(PARTIES, party_id, args)

    @blp.update_doc(PartySchema, "updateParty")
    def patch(self, party_id: str):
        """Change a party with a JSON Merge Patch (needs a write token and If-Match)."""
        return writes.update(PARTIES, party_id)

    @blp.delete_doc("deleteParty")
    def delete(self, party_id: str):
        """Delete a party nothing refers to, leaving a tombstone (needs a write token and If-Match)."""
        return writes.delete(PARTIES, party_id)


add_revision_routes(blp, PARTIES, PARTY_ID)
