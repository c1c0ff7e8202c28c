"""Clauses: the articles of every proposal. A change to one is a change to its proposal too."""

from api.collections import CLAUSES
from api.resources.routes import collection_blueprint

blp = collection_blueprint(
    CLAUSES,
    "The articles of the proposals: our summary, topics, who they bind, and quoted words.",
    "us-russia-security-treaty-article-5",
    list_text="""List clauses in document order, or search them with `q`.

    Filter by proposal, topic, a party the clause binds, and whether a source quotes it. With `q`, the
    clauses matching it come ranked, best first, each with a highlighted snippet in `search`.
    """,
    create_text="Add a clause to a proposal (needs a write token); the proposal gets a new revision.",
    update_text="""Change a clause with a JSON Merge Patch; its proposal gets a new revision too.

    `proposal_id` cannot change: a clause stays in its proposal.
    """,
    delete_text="Delete a clause, leaving a tombstone; its proposal gets a new revision.",
)
