"""Parties: states, alliances and organizations, with their memberships."""

from api.collections import PARTIES
from api.resources.routes import collection_blueprint

blp = collection_blueprint(
    PARTIES,
    "States, alliances and organizations, with what they belong to and who belongs to them.",
    "nato",
    list_text="""List parties.

    Filter by kind and by membership (`member_of=nato` lists NATO's members); order with `sort`.
    """,
    delete_text="Delete a party nothing refers to, leaving a tombstone (needs a write token and If-Match).",
)
