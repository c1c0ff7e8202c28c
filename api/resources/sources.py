"""Sources: where every fact in the dataset comes from."""

from api.collections import SOURCES
from api.resources.routes import collection_blueprint

blp = collection_blueprint(
    SOURCES,
    "Where each fact comes from: publisher, title, date and address when known.",
    "sputnik-lavrov-security-guarantees",
    list_text="""List sources.

    Filter by publisher.
    """,
    delete_text="Delete a source no record cites, leaving a tombstone (needs a write token and If-Match).",
)
