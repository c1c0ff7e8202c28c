"""One search across every collection: its query and its hits."""

from __future__ import annotations

from functools import cache

from marshmallow import Schema, ValidationError, fields, validate
from webargs.fields import DelimitedList

from schemas.common import ListQuerySchema, StrictSchema, choices_param, format_param, page_of_items


class WantedTerm(validate.Regexp):
    """At least one term the search does not exclude: after any `-term`s, a term that does not start
    with `-` (whitespace as Postgres' parser sees it), and no NUL. One pattern, so the OpenAPI document
    states the whole rule (it keeps one pattern a field), written so that no string makes it backtrack
    much; a NUL gets its own message. Which words a kept term holds is Postgres' to say: stop words or
    punctuation alone find nothing (200, no hits)."""

    def __init__(self) -> None:
        super().__init__(
            r"^(?=[^\x00]*$)[ \t\n\r\f\v]*(-[^ \t\n\r\f\v]*[ \t\n\r\f\v]+)*[^ \t\n\r\f\v-]",
            error="Give at least one word to search for; -word only excludes.",
        )

    def __call__(self, value: str) -> str:
        if "\x00" in value:
            raise ValidationError("Must not contain NUL characters.")
        return super().__call__(value)


HIT_COLUMNS = ("type", "id", "url", "title", "snippet", "rank")


def search_text() -> fields.String:
    return fields.String(
        required=True,
        validate=[validate.Length(min=1, max=500), WantedTerm()],
        metadata={
            "description": 'What to look for, in web-search syntax: words, "exact phrase", `or`, and `-word` to '
            "exclude. Words match their other forms (expansion, expanding) and a few synonyms (expansion and "
            "enlargement; intermediate-range and INF). At least one word must not be excluded.",
            "example": "enlargement -ukraine",
        },
    )


def hit_text(description: str, example: str) -> fields.String:
    """A field every hit has (no length rule: a hit is read, never written)."""
    return fields.String(required=True, metadata={"description": description, "example": example})


@cache
def search_hit_schema(types: tuple[str, ...]) -> type[Schema]:
    """One hit: what it is, where it lives, and why it matched."""
    declared = {
        "type": fields.String(
            required=True,
            validate=validate.OneOf(types),
            metadata={"description": "The kind of item: its collection's singular.", "example": "clause"},
        ),
        "id": hit_text("The item's id in its collection.", "us-russia-security-treaty-article-4"),
        "url": hit_text(
            "The item's address, like the service's other links: under PUBLIC_BASE_URL when it is set, else a path.",
            "/v1/clauses/us-russia-security-treaty-article-4",
        ),
        "title": hit_text(
            "The item's name or title; a clause's label with its proposal's short title.",
            "Article 4, US-Russia security treaty (draft)",
        ),
        "snippet": hit_text(
            "The best matching passages as HTML: the stored text with `&`, `<`, `>`, `\"` and `'` escaped as character "
            "references, and each match between `<mark>` and `</mark>`, the only tags in it. An item found by its "
            "topics or a synonym it does not show starts at its opening words.",
            "Article 4 … Binds the United States to stop NATO from <mark>expanding</mark> further east",
        ),
        "rank": fields.Float(
            required=True,
            metadata={
                "description": "Relevance (Postgres ts_rank of the words searched for, excluded ones aside); higher "
                "is better.",
                "example": 0.0759,
            },
        ),
    }
    return type("SearchResultSchema", (StrictSchema,), declared)


@cache
def search_page_schema(types: tuple[str, ...]) -> type[Schema]:
    return page_of_items(
        "Search",
        search_hit_schema(types),
        "This page of hits, best first (then by type and id).",
        [
            {
                "type": "clause",
                "id": "us-russia-security-treaty-article-4",
                "url": "/v1/clauses/us-russia-security-treaty-article-4",
                "title": "Article 4, US-Russia security treaty (draft)",
                "snippet": "Article 4 … Binds the United States to stop NATO from <mark>expanding</mark> further east",
                "rank": 0.0759,
            }
        ],
    )


class TypeList(DelimitedList):
    """Comma-separated, as documented, or the parameter repeated (`type=talk&type=party`): both mean
    the same, where a plain DelimitedList would read the first and drop the others unsaid."""

    is_multiple = True

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list):
            value = self.delimiter.join(value)
        return super()._deserialize(value, attr, data, **kwargs)


@cache
def search_query_schema(types: tuple[str, ...]) -> type[Schema]:
    """`q`, `type`, paging and `format=`."""
    declared = {
        "q": search_text(),
        "types": choices_param(
            types,
            "type",
            "Only hits of these types, comma-separated (or the parameter repeated).",
            ["clause", "statement"],
            kind=TypeList,
        ),
        "representation": format_param(),
    }
    return type("SearchQuerySchema", (ListQuerySchema,), declared)
