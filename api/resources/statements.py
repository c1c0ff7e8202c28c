"""Statements: what officials said about the proposals and talks."""

from api.collections import STATEMENTS
from api.resources.routes import collection_blueprint

blp = collection_blueprint(
    STATEMENTS,
    "What officials said about the proposals and talks: exact quotes or paraphrases.",
    "lavrov-reasonable-time",
    list_text="""List statements, or search them with `q`.

    Filter by party, speaker, proposal, talk and a range of dates. With `q`, the statements matching it
    come ranked, best first, each with a highlighted snippet in `search`.
    """,
)
