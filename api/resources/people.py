"""People: the officials who speak, lead delegations and chair meetings."""

from flask.views import MethodView

from api.collections import PEOPLE
from api.http.blueprint import ApiBlueprint, id_parameter
from api.resources import writes
from api.resources.reads import collection_list, item_response
from api.resources.revisions import add_revision_routes
from schemas.people import PersonItemQuerySchema, PersonPageSchema, PersonQuerySchema, PersonSchema

blp = ApiBlueprint(
    "people",
    __name__,
    url_prefix="/v1/people",
    description="The officials who speak, lead delegations and chair meetings: names, roles over time, sources.",
)
PERSON_ID = id_parameter("person_id", "Id of the person.", "wendy-sherman")


@blp.route("")
class People(MethodView):
    @blp.arguments(PersonQuerySchema(), location="query")
    @blp.list_doc(PersonPageSchema, "listPeople")
    def get(self, args: dict):
        """List people, by id.

        Filter by the party a person held an office for; page with `cursor`.
        """
        return collection_list(PEOPLE, args)

    @blp.create_doc(PersonSchema, "createPerson")
    def post(self):
        """Create a person (needs a write token)."""
        return writes.create(PEOPLE)


@blp.route("/<person_id>", parameters=[PERSON_ID])
class Person(MethodView):
    @blp.arguments(PersonItemQuerySchema(), location="query")
    @blp.item_doc(PersonSchema, "getPerson")
    def get(self, args: dict, person_id: str):
        """Get one person, now or as they stood at `as_of`.

        Their names, roles with parties and dates, and sources.
        """
        return item_response(PEOPLE, person_id, args)

    @blp.update_doc(PersonSchema, "updatePerson")
    def patch(self, person_id: str):
        """Change a person with a JSON Merge Patch (needs a write token and If-Match)."""
        return writes.update(PEOPLE, person_id)

    @blp.delete_doc("deletePerson")
    def delete(self, person_id: str):
        """Delete a person, leaving a tombstone (needs a write token and If-Match)."""
        return writes.delete(PEOPLE, person_id)


add_revision_routes(blp, PEOPLE, PERSON_ID)
