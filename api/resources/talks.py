"""Talks: meetings and calls where proposals are negotiated."""

from api.collections import TALKS
from api.resources.routes import collection_blueprint

blp = collection_blueprint(
    TALKS,
    "Meetings and calls where the proposals are negotiated.",
    "geneva-strategic-stability-2022-01-10",
    list_text="""List talks, earliest first.

    Filter by party, proposal, status and a range of start dates; page with `cursor`.
    """,
    get_text="""Get one talk, now or as it stood at `as_of`.

    Its parties, proposals, delegations, chair and sources.
    """,
)
