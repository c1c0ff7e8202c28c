"""Field types and shared schemas used by every resource. Marshmallow only (but `PageSize`).

A collection's module declares its item and its filters; everything else about it comes from
here: its page (`page_schema`), its list query's paging, `sort`, `fields=` and `format=`
(`list_query_schema`), its item query (`item_query_schema`), and the variants of its item that
responses carry (`as_served`, `as_sparse`). Longer than most modules (about 400 lines) for that
reason: each piece is short, and a collection reads them all from one place.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cache

from flask import current_app, has_app_context
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate
from webargs.fields import DelimitedList

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="Must not contain NUL characters.")


class WholeNumber(fields.Integer):
    """A JSON integer: 5 or 5.0, never "5", 5.5, true, or a number Postgres cannot store."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._deserialize(int(value), attr, data, **kwargs)


class StrictSchema(Schema):
    """Unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = RAISE
        ordered = True


class QuerySchema(StrictSchema):
    """Query parameters: an absent one loads as None, so the document shows no `null` a URL cannot carry."""

    @post_load
    def absent_as_none(self, data: dict, **kwargs) -> dict:
        for name in self.load_fields:
            data.setdefault(name, None)
        return data


class NoQuerySchema(QuerySchema):
    """For operations that take no query parameters: any one given is a 400, not silently ignored."""


def Slug(description: str, example: str, **kwargs) -> fields.String:  # noqa: N802 - a field factory
    return fields.String(
        validate=[validate.Length(min=1, max=100), validate.Regexp(SLUG_PATTERN, error="Not a valid id.")],
        metadata={"description": description, "example": example},
        **kwargs,
    )


def SlugList(description: str, example: list[str], *, min_items: int = 0, **kwargs) -> fields.List:  # noqa: N802
    return fields.List(
        fields.String(
            validate=[validate.Length(min=1, max=100), validate.Regexp(SLUG_PATTERN, error="Not a valid id.")]
        ),
        validate=validate.Length(min=min_items, max=500),
        metadata={"description": description, "example": example},
        **kwargs,
    )


def Text(description: str, example: str | None, *, max_length: int = 10_000, **kwargs) -> fields.String:  # noqa: N802
    return fields.String(
        validate=[validate.Length(min=1, max=max_length), NO_NUL],
        metadata={"description": description, "example": example},
        **kwargs,
    )


def Date(description: str, example: str | None, **kwargs) -> fields.Date:  # noqa: N802
    return fields.Date(metadata={"description": description, "example": example}, **kwargs)


def source_ids() -> fields.List:
    return SlugList(
        "Ids of the sources that support this record; at least one.",
        ["sputnik-lavrov-security-guarantees"],
        required=True,
        min_items=1,
    )


def revision() -> fields.Integer:
    return fields.Integer(
        dump_only=True,
        metadata={"description": "Revision of this item: 1 when created, +1 on every change.", "example": 1},
    )


def updated_at() -> fields.DateTime:
    return fields.DateTime(
        dump_only=True,
        metadata={
            "description": "When the item's latest revision became true (RFC 3339, UTC).",
            "example": "2021-12-30T00:00:00Z",
        },
    )


def example_of(schema: type[Schema]) -> dict:
    """An example object assembled from the examples of the schema's own fields."""
    return {name: field.metadata.get("example") for name, field in schema._declared_fields.items()}


def nested_list(schema: type[Schema], description: str, **kwargs) -> fields.List:
    return fields.List(
        fields.Nested(schema),
        metadata={"description": description, "example": [example_of(schema)]},
        **kwargs,
    )


SOMETIMES_PRESENT = frozenset({"search"})  # only in the results of a search (`q`)
# The media type of a `fields=` answer: JSON (`+json`) under a name of its own, not a parameter of
# application/json, which tools such as schemathesis strip before they look a schema up.
SPARSE_JSON = "application/vnd.proposals.sparse+json"


@cache
def as_served(schema: type[Schema]) -> type[Schema]:
    """The schema of an item as responses carry it whole: every field is present (nullable ones as
    null), so it is `required`, but those in SOMETIMES_PRESENT. Nested items are served whole too.

    Its component is named like the item (`Talk`); the schema as a create sends it is `TalkInput`.
    A schema that would not change (every field already required) is returned as it is."""
    declared = {
        name: served_field(field, name not in SOMETIMES_PRESENT) for name, field in schema._declared_fields.items()
    }
    if all(declared[name] is field for name, field in schema._declared_fields.items()):
        return schema
    name = schema.__name__.removesuffix("Schema")
    return type(f"{name}ServedSchema", (schema,), {**declared, "component": name, "served_from": schema})


def served_field(field: fields.Field, required: bool) -> fields.Field:
    """The field as a whole item carries it: required, and with nested items served whole."""
    inner = field.inner if isinstance(field, fields.List) else field
    nested = inner.nested if isinstance(inner, fields.Nested) and isinstance(inner.nested, type) else None
    served_nested = as_served(nested) if nested is not None and required else nested
    if field.required == required and served_nested is nested:
        return field
    field = copy.copy(field)
    field.required = required
    if served_nested is not nested and isinstance(field, fields.List):
        field.inner = copy.copy(field.inner)
        field.inner.nested = served_nested
    elif served_nested is not nested:
        field.nested = served_nested
    return field


@cache
def as_sparse(schema: type[Schema]) -> type[Schema]:
    """The item as a `fields=` answer carries it: only the fields asked for, so none is required.

    It is served with its own media type (SPARSE_JSON) rather than as an alternative (`oneOf`) of the
    whole item: a generated client then types `application/json` as the whole item, with `talk.id` a
    string, and a sparse answer still matches the document."""
    served = as_served(schema)
    declared = {}
    for name, field in served._declared_fields.items():
        field = copy.copy(field)
        field.required = False
        declared[name] = field
    name = schema.__name__.removesuffix("Schema")
    return type(f"{name}FieldsSchema", (served,), {**declared, "component": f"{name}Fields"})


def page_of_items(name: str, items: type[Schema], description: str, example: list) -> type[Schema]:
    """`<name>PageSchema`: what every list answers, a page of `items` and the cursor to the next."""
    declared = {
        "items": fields.List(
            fields.Nested(items), required=True, metadata={"description": description, "example": example}
        ),
        "next_cursor": next_cursor(),
    }
    return type(f"{name}PageSchema", (StrictSchema,), declared)


def page_schema(schema: type[Schema], description: str) -> type[Schema]:
    """A page of a collection's whole items, as a list without `fields=` answers it (`TalkPageSchema`)."""
    return page_of_items(schema.__name__.removesuffix("Schema"), as_served(schema), description, [example_of(schema)])


@cache
def sparse_page(whole: type[Schema]) -> type[Schema] | None:
    """A page of sparse items for a page of whole ones, or None when its items take no `fields=`."""
    items = whole._declared_fields["items"].inner.nested
    base = getattr(items, "served_from", None)
    if base is None:
        return None
    name = base.__name__.removesuffix("Schema")
    return page_of_items(f"{name}Fields", as_sparse(base), "This page, each item with only the fields asked for.", [])


class SearchHitSchema(Schema):
    rank = fields.Float(
        required=True,
        metadata={"description": "Relevance to `q` (Postgres ts_rank); higher is better.", "example": 0.0759},
    )
    snippet = fields.String(
        required=True,
        metadata={
            "description": "The best matching passages as HTML: the stored text with `&`, `<`, `>`, `\"` and `'` "
            "escaped as character references, and each match between `<mark>` and `</mark>`, the only tags in it.",
            "example": "Article 5 … The Parties shall refrain from <mark>deploying</mark> their armed forces",
        },
    )


def search_hit() -> fields.Nested:
    return fields.Nested(
        SearchHitSchema,
        dump_only=True,
        metadata={
            "description": "Present only in results of a search (`q`): rank and snippet.",
            "example": {"rank": 0.0759, "snippet": "refrain from <mark>deploying</mark>"},
        },
    )


def search_query() -> fields.String:
    return fields.String(
        validate=[validate.Length(min=1, max=500), NO_NUL],
        metadata={
            "description": 'Full-text search, web-search syntax: words, "exact phrase", or, -word. '
            "Results come ranked, best first, each with a highlighted snippet.",
            "example": "deployment",
        },
    )


class ProblemFieldErrorSchema(Schema):
    pointer = fields.String(
        metadata={"description": "JSON Pointer to the offending member of the request body.", "example": "/title"}
    )
    parameter = fields.String(
        metadata={"description": "Name of the offending query parameter or header.", "example": "limit"}
    )
    detail = fields.String(
        required=True, metadata={"description": "What is wrong with it.", "example": "Not a valid integer."}
    )


class ProblemSchema(Schema):
    """RFC 9457 problem details, the body of every error response."""

    type = fields.String(
        required=True,
        metadata={
            "description": "URI naming the kind of problem; about:blank for plain HTTP statuses.",
            "example": "about:blank",
        },
    )
    title = fields.String(
        required=True, metadata={"description": "Short summary of the kind of problem.", "example": "Not Found"}
    )
    status = fields.Integer(required=True, metadata={"description": "The HTTP status code.", "example": 404})
    detail = fields.String(
        metadata={"description": "What went wrong with this request.", "example": "No talk with id 'geneva-2030'."}
    )
    instance = fields.String(
        metadata={"description": "The path of the request that failed.", "example": "/v1/talks/geneva-2030"}
    )
    errors = fields.List(
        fields.Nested(ProblemFieldErrorSchema),
        metadata={
            "description": "Field errors of a request that failed validation.",
            "example": [{"parameter": "limit", "detail": "Not a valid integer."}],
        },
    )


def choices_param(
    names: Sequence[str], data_key: str, description: str, example: list[str], kind: type[DelimitedList] = DelimitedList
) -> DelimitedList:
    """A comma-separated list of some of `names` (each at most once), its choices listed in its description."""
    return kind(
        fields.String(validate=validate.OneOf(names)),
        data_key=data_key,
        validate=validate.Length(min=1, max=len(names)),
        metadata={"description": f"{description} One of: {', '.join(names)}.", "example": example},
    )


def fields_param(schema: type[Schema]) -> DelimitedList:
    names = list(schema._declared_fields)
    return choices_param(
        names, "fields", "Only these fields, comma-separated (a sparse representation).", ["id", names[1]]
    )


def sort_param(names: tuple[str, ...], default: str) -> fields.String:
    choices = [*names, *(f"-{name}" for name in names)]
    return fields.String(
        load_default=default,
        validate=validate.OneOf(choices),
        metadata={
            "description": f"Order by one of: {', '.join(names)}; a leading `-` reverses it. Ties go by id. "
            f"Default: `{default}`.",
            "example": f"-{names[0]}",
        },
    )


def format_param() -> fields.String:
    return fields.String(
        data_key="format",
        validate=validate.OneOf(["json", "csv"]),
        metadata={
            "description": "`csv` for CSV (same as `Accept: text/csv`); JSON by default. In CSV, lists of ids "
            "are joined with `;`, nested objects are JSON text, null is an empty cell.",
            "example": "csv",
        },
    )


DEFAULT_PAGE_SIZE = 50  # api/config.py's defaults; the OpenAPI document states these
MAX_PAGE_SIZE = 200


class PageSize(validate.Validator):
    """`limit` from 1 to the running server's MAX_PAGE_SIZE.

    The OpenAPI document is generated once, so it states the default maximum (`min` and `max`, which
    apispec writes as `minimum` and `maximum`); the check itself reads the setting of the app that
    serves the request. The one place a schema looks at Flask: a setting is not the schema's to own.
    """

    def __init__(self) -> None:
        self.min, self.max = 1, MAX_PAGE_SIZE

    def __call__(self, value: int) -> int:
        maximum = current_app.config["SETTINGS"].max_page_size if has_app_context() else self.max
        if not self.min <= value <= maximum:
            raise ValidationError(f"Must be greater than or equal to {self.min} and less than or equal to {maximum}.")
        return value


class AsOfQuerySchema(QuerySchema):
    as_of = fields.AwareDateTime(
        format="iso",
        metadata={
            "description": "Show the item as it stood at this instant (RFC 3339 with a zone): its newest revision "
            "valid by then. 404 if the item did not exist yet.",
            "example": "2022-01-01T00:00:00Z",
        },
    )


@cache
def item_query_schema(schema: type[Schema]) -> type[Schema]:
    """The query one item of a collection takes: `as_of` and `fields=` (`TalkItemQuerySchema`)."""
    name = schema.__name__.removesuffix("Schema")
    return type(f"{name}ItemQuerySchema", (AsOfQuerySchema,), {"only": fields_param(schema)})


class ListQuerySchema(QuerySchema):
    """Paging parameters every list accepts."""

    limit = fields.Integer(  # not strict: query values are strings; int() still refuses "1.5"
        validate=PageSize(),
        metadata={
            "description": f"Items per page: 1 to the server's `MAX_PAGE_SIZE` ({MAX_PAGE_SIZE} by default); its "
            f"`DEFAULT_PAGE_SIZE` ({DEFAULT_PAGE_SIZE} by default) when omitted.",
            "example": DEFAULT_PAGE_SIZE,
        },
    )
    cursor = fields.String(
        validate=validate.Length(min=1, max=1000),
        metadata={
            "description": "Opaque cursor from a previous page's `next_cursor`; valid only with the same filters.",
            "example": "eyJrIjpbIjIwMjItMDEtMTAiXX0.signature",
        },
    )


def next_cursor() -> fields.String:
    return fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "Cursor for the next page (pass it as `cursor`), or null on the last page. "
            'The `Link` header carries the same page as rel="next".',
            "example": None,
        },
    )


@cache
def list_query_schema(schema: type[Schema], sorts: tuple[str, ...] = (), default_sort: str = "id") -> type[Schema]:
    """The query every list of `schema`'s items takes, in this order: `limit`, `cursor`, `sort` (when
    the list has `sorts`), `fields=` and `format=`. A collection's own filters follow, in a subclass.
    Remembered, so that two lists of one kind (clauses, a proposal's clauses) share one class."""
    declared: dict[str, fields.Field] = {"sort": sort_param(sorts, default_sort)} if sorts else {}
    declared |= {"only": fields_param(schema), "representation": format_param()}
    name = schema.__name__.removesuffix("Schema")
    return type(f"{name}ListQuerySchema", (ListQuerySchema,), declared)
