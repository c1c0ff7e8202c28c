"""People: the officials who speak, lead delegations and chair meetings."""

from api.collections import PEOPLE
from api.resources.routes import collection_blueprint

blp = collection_blueprint(
    PEOPLE,
    "The officials who speak, lead delegations and chair meetings: names, roles over time, sources.",
    "wendy-sherman",
    list_text="""List people, by id.

    Filter by the party a person held an office for; page with `cursor`.
    """,
    get_text="""Get one person, now or as they stood at `as_of`.

    Their names, roles with parties and dates, and sources.
    """,
)
