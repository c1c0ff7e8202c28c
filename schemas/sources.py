"""Sources: where a fact comes from."""

import re
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, validate

from schemas.common import (
    Date,
    Slug,
    StrictSchema,
    Text,
    list_query_schema,
    page_schema,
    revision,
    updated_at,
)

HTTP_URL = r"^https?://[^\s\x00\[\]]+$"


def parses_as_url(value: str | None) -> None:
    """What the pattern cannot say: a host, and a port that is a port. (Raw brackets, which only
    an IPv6 literal may use, are refused by the pattern: clients' URL parsers choke on them.)"""
    if value is None or not re.fullmatch(HTTP_URL, value):
        return  # None is allowed; a value off the pattern has its error already
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        raise ValidationError("Not an http(s) URL.") from error
    if not parts.hostname:
        raise ValidationError("Not an http(s) URL: it names no host.")


class SourceSchema(StrictSchema):
    id = Slug("Stable, readable id of the source.", "sputnik-lavrov-security-guarantees", required=True)
    publisher = Text("Who published it.", "Sputnik", max_length=300, required=True)
    title = Text(
        "Its title, when known exactly; null otherwise.", None, max_length=1000, required=True, allow_none=True
    )
    url = fields.String(
        required=True,
        allow_none=True,
        validate=[
            validate.Regexp(HTTP_URL, error="Not an http(s) URL."),
            validate.Length(max=2000),
            parses_as_url,
        ],
        metadata={"description": "Where it can be read, when known.", "example": "https://tass.com/world/1386819"},
    )
    published_on = Date("Publication date, when the source gives it.", None, required=True, allow_none=True)
    description = Text(
        "What the source is and which facts it supports, in our words.",
        "Undated Sputnik news item quoting the Russian foreign minister.",
        required=True,
    )
    revision = revision()
    updated_at = updated_at()


SourcePageSchema = page_schema(SourceSchema, "This page of sources.")
SOURCE_SORTS = ("id", "publisher", "updated_at")


class SourceQuerySchema(list_query_schema(SourceSchema, SOURCE_SORTS)):
    publisher = Text("Only sources from this publisher (exact match).", "Sputnik", max_length=300)
