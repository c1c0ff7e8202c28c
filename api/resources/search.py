"""One search across every collection: `GET /v1/search?q=`, ranked hits with snippets and URLs.

The entries it reads are kept by Postgres as items change (sql/functions/search_items.sql); a page
is one named query (`search_all`, sql/queries/search.sql), paged like every list, by signed keyset
cursors on (rank, type, id). The fast path (api/http/fastpath.py) answers a one-word search alike.
"""

from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView

from api.collections import COLLECTIONS, SEARCH_TYPES
from api.http.blueprint import ApiBlueprint
from api.resources.paging import public_url
from api.resources.reads import ListQuery, list_response
from schemas.search import HIT_COLUMNS, search_page_schema, search_query_schema

blp = ApiBlueprint(
    "search",
    __name__,
    url_prefix="/v1/search",
    description="One search across " + ", ".join(c.name for c in COLLECTIONS.values() if c.searchable) + ".",
)
SEARCH = ListQuery("search", 3, query="search_all", version_query="search_version")
SearchQuerySchema = search_query_schema(SEARCH_TYPES)
SearchPageSchema = search_page_schema(SEARCH_TYPES)


def search_site(public_base_url: str | None, script_root: str) -> str:
    """What each hit's `url` starts with, as the service writes its links (api/resources/paging.py);
    the fast path passes the same."""
    return public_url(public_base_url, script_root, "/v1/")


def search_filters(q: str, types: list[str] | None, script_root: str) -> dict:
    """The query's parameters besides paging: the text, the types (NULL for all), and `site`."""
    settings = current_app.config["SETTINGS"]
    return {
        "q": q,
        "types": sorted(set(types)) if types else None,
        "site": search_site(settings.public_base_url, script_root),
    }


@blp.route("")
class Search(MethodView):
    @blp.arguments(SearchQuerySchema(), location="query")
    @blp.list_doc(SearchPageSchema, "search")
    def get(self, args: dict):
        """Search every collection at once, best hits first.

        Each hit names its `type`, `id` and `url`, with a `title` and a highlighted `snippet`. Words match
        their other forms and a few synonyms; a topic's words find the clauses tagged with it; `-word`
        excludes without lowering the rank of the rest. Pages by `next_cursor`, like every list.
        """
        filters = search_filters(args["q"], args.get("types"), request.script_root)
        return list_response(SEARCH, filters, args, columns=HIT_COLUMNS)
