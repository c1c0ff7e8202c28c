"""Every collection, declared once: what the views, the fast path, the explorer and the importer
know about it derives from here.

A collection's name is its URL segment, its table and its `revisions.collection`; its singular
names its path parameter (`talk_id`), its operations (`getTalk`) and its problems ("No talk with id
…"). Its schema is the full representation, which validates writes and imports; its query schema
loads a list's query, its page schema documents a list's answer. A list reads `list_<name>` (or the
search query with `q`), ordered by a keyset of `key_count` values; `sort_alias` is the table alias
its `sort` orders by. `filters` are the query arguments the list query takes, by name; `fixed` the
fields a PATCH may not change.

To add a collection: a schema module in `schemas/`, its SQL (a migration for its tables and the
`revisions.collection` check; `doc_<name>` and `save_<name>` in sql/functions/; named queries in
`sql/queries/`), a declaration below, its resource module (one `collection_blueprint` call, like
api/resources/people.py, listed in api/__init__.py's RESOURCES) and its tests. docs/architecture.md,
"Adding a collection", has the details (people was added that way).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from marshmallow import Schema

from api.resources.reads import ListQuery
from schemas.clauses import ClausePageSchema, ClauseQuerySchema, ClauseSchema
from schemas.parties import PartyPageSchema, PartyQuerySchema, PartySchema
from schemas.people import PersonPageSchema, PersonQuerySchema, PersonSchema
from schemas.proposals import ProposalPageSchema, ProposalQuerySchema, ProposalSchema
from schemas.sources import SourcePageSchema, SourceQuerySchema, SourceSchema
from schemas.statements import StatementPageSchema, StatementQuerySchema, StatementSchema
from schemas.talks import TalkPageSchema, TalkQuerySchema, TalkSchema


@dataclass(frozen=True)
class Collection:
    name: str
    singular: str
    schema: type[Schema]
    query_schema: type[Schema]
    page_schema: type[Schema]
    filters: tuple[str, ...]
    key_count: int
    sort_alias: str | None = None
    search_query: str | None = None  # the ranked search with `q`, keyed by rank and id
    # The fast path (api/http/fastpath.py) answers its plain list pages; a one-word search, when the
    # collection has one, through this query (the same page, planned once: a plan Postgres keeps).
    fast_list: bool = False
    fast_search_query: str | None = None
    importable: bool = True  # False: its records travel inside another's (a proposal's clauses)
    fixed: tuple[str, ...] = ("id",)  # fields a PATCH may not change
    # In `GET /v1/search` (api/resources/search.py), as its singular; its SQL side is a trigger and a backfill in
    # sql/functions/search_items.sql and a branch of search_document there.
    searchable: bool = False

    # Derived once per declaration, not on every request that reads them.
    @cached_property
    def columns(self) -> list[str]:
        """The CSV columns of a list: every field but the search hit's."""
        return [name for name in self.schema._declared_fields if name != "search"]

    @cached_property
    def listing(self) -> ListQuery:
        return ListQuery(self.name, self.key_count, sort_alias=self.sort_alias)

    @cached_property
    def search(self) -> ListQuery | None:
        return ListQuery(self.name, 2, query=self.search_query) if self.search_query else None

    def list_filters(self, args: Mapping[str, object]) -> dict:
        return {name: args[name] for name in self.filters}


SOURCES = Collection(
    "sources",
    "source",
    SourceSchema,
    SourceQuerySchema,
    SourcePageSchema,
    ("publisher", "sort"),
    key_count=2,
    sort_alias="s",
    searchable=True,
)
PARTIES = Collection(
    "parties",
    "party",
    PartySchema,
    PartyQuerySchema,
    PartyPageSchema,
    ("kind", "member_of", "sort"),
    key_count=2,
    sort_alias="p",
    searchable=True,
)
PROPOSALS = Collection(
    "proposals",
    "proposal",
    ProposalSchema,
    ProposalQuerySchema,
    ProposalPageSchema,
    ("proposer", "party", "status", "sort"),
    key_count=2,
    sort_alias="p",
    fast_list=True,
    searchable=True,
)
CLAUSES = Collection(
    "clauses",
    "clause",
    ClauseSchema,
    ClauseQuerySchema,
    ClausePageSchema,
    ("q", "proposal", "topic", "party", "quoted", "responds_to"),
    key_count=3,
    search_query="search_clauses",
    fast_list=True,
    fast_search_query="search_clauses_by_term",
    importable=False,
    fixed=("id", "proposal_id"),  # a clause stays in its proposal
    searchable=True,
)
PEOPLE = Collection(
    "people",
    "person",
    PersonSchema,
    PersonQuerySchema,
    PersonPageSchema,
    ("party", "sort"),
    key_count=2,
    sort_alias="p",
    searchable=True,
)
TALKS = Collection(
    "talks",
    "talk",
    TalkSchema,
    TalkQuerySchema,
    TalkPageSchema,
    ("party", "proposal", "person", "status", "since", "until", "sort"),
    key_count=2,
    sort_alias="t",
    fast_list=True,
    searchable=True,
)
STATEMENTS = Collection(
    "statements",
    "statement",
    StatementSchema,
    StatementQuerySchema,
    StatementPageSchema,
    ("q", "party", "speaker", "person", "proposal", "talk", "since", "until", "sort"),
    key_count=2,
    sort_alias="s",
    search_query="search_statements",
    searchable=True,
)

# In the order a dataset file may refer to them: sources first, statements last.
COLLECTIONS: dict[str, Collection] = {
    collection.name: collection for collection in (SOURCES, PARTIES, PROPOSALS, CLAUSES, PEOPLE, TALKS, STATEMENTS)
}

# What `GET /v1/search` finds, as its hits name them (`type`), in order.
SEARCH_TYPES: tuple[str, ...] = tuple(sorted(c.singular for c in COLLECTIONS.values() if c.searchable))
