"""The routes every collection has, built from its declaration in api/collections.py.

`collection_blueprint` makes a collection's blueprint at `/v1/<name>` with a list and a create, an
item's get, patch and delete at `/v1/<name>/<singular>_id`, and the item's history
(api/resources/revisions.py). Its schemas, filters and writable fields come from the `Collection`;
a resource module gives only what is its own: the blueprint's description, an example id, and the
texts of its operations, each like a docstring (a summary line, then a description after a blank
line). Most collections keep the default texts but the list's; routes of its own (a proposal's
clauses) come from a function like add_revision_routes, passed as `more_routes`.
"""

from __future__ import annotations

from collections.abc import Callable

from flask.views import MethodView

from api.collections import Collection
from api.http.blueprint import ApiBlueprint, id_parameter
from api.resources import writes
from api.resources.reads import collection_list, item_response
from api.resources.revisions import add_revision_routes
from schemas.common import item_query_schema

CREATE = "Create a {singular} (needs a write token)."
GET = "Get one {singular}, now or as it stood at `as_of`."
UPDATE = "Change a {singular} with a JSON Merge Patch (needs a write token and If-Match)."
DELETE = "Delete a {singular}, leaving a tombstone (needs a write token and If-Match)."


def collection_blueprint(
    declared: Collection,
    description: str,
    example_id: str,
    *,
    list_text: str,
    create_text: str = CREATE,
    get_text: str = GET,
    update_text: str = UPDATE,
    delete_text: str = DELETE,
    more_routes: Callable[[ApiBlueprint, dict], None] | None = None,
) -> ApiBlueprint:
    """The collection's blueprint with its standard routes; `{singular}` in a text names its item.
    `more_routes(blp, item_parameter)` adds routes of its own before the history's."""
    blp = ApiBlueprint(declared.name, __name__, url_prefix=f"/v1/{declared.name}", description=description)
    item = id_parameter(f"{declared.singular}_id", f"Id of the {declared.singular}.", example_id)
    many, one = declared.name.capitalize(), declared.singular.capitalize()  # in operation ids: listTalks, getTalk

    def texted(text: str) -> Callable[[Callable], Callable]:
        """Gives the view its docstring: flask-smorest reads the operation's summary and description there."""

        def decorate(view: Callable) -> Callable:
            view.__doc__ = text.format(singular=declared.singular)
            return view

        return decorate

    @blp.route("")
    class Items(MethodView):
        @blp.arguments(declared.query_schema(), location="query")
        @blp.list_doc(declared.page_schema, f"list{many}")
        @texted(list_text)
        def get(self, args: dict):
            return collection_list(declared, args)

        @blp.create_doc(declared.schema, f"create{one}")
        @texted(create_text)
        def post(self):
            return writes.create(declared)

    @blp.route(f"/<{item['name']}>", parameters=[item])
    class Item(MethodView):
        @blp.arguments(item_query_schema(declared.schema)(), location="query")
        @blp.item_doc(declared.schema, f"get{one}")
        @texted(get_text)
        def get(self, args: dict, **path: str):
            return item_response(declared, path[item["name"]], args)

        @blp.update_doc(declared.schema, f"update{one}", fixed=declared.fixed)
        @texted(update_text)
        def patch(self, **path: str):
            return writes.update(declared, path[item["name"]])

        @blp.delete_doc(f"delete{one}")
        @texted(delete_text)
        def delete(self, **path: str):
            return writes.delete(declared, path[item["name"]])

    if more_routes is not None:
        more_routes(blp, item)
    add_revision_routes(blp, declared, item)
    return blp
