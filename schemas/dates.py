"""Dates the sources only bound: a small, documented subset of EDTF (ISO 8601-2), and its field.

The grammar (docs/researchers.md, "Dates"):

    value     = endpoint | start "/" end       (not ".." on both sides)
    start/end = endpoint | ".."                (an open end: no bound on that side)
    endpoint  = date [ "?" | "~" | "%" ]       (uncertain, approximate, both: EDTF level 1)
    date      = YYYY | YYYY-MM | YYYY-MM-DD    (years 0001 to 9999; a real calendar day)

A value names every day it may be: its earliest and latest possible days (None for an open
end). An interval may not begin after it ends. A qualifier marks what the sources say as
uncertain or approximate; it does not widen the bounds, which EDTF gives no width for.

Why not the `edtf` package on PyPI: it parses all of EDTF (seasons, sets, unspecified digits,
exponential years), of which a statement's date needs none, and it would bound only the Python
side; Postgres derives the same bounds for filters and sorting (sql/functions/writes.sql,
`edtf_bounds`), so each side implements this subset, and tests/test_statement_dates.py holds
both to one table of cases.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import NamedTuple

from marshmallow import ValidationError, fields, validate

ENDPOINT = re.compile(r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2}))?)?(?P<qualifier>[?~%])?")
OPEN = ".."
MAX_LENGTH = 50
# The shape alone, for the OpenAPI document (`pattern`); calendar days and the order of an
# interval's ends are checked by `edtf_bounds`.
_ONE = r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?[?~%]?"
PATTERN = rf"^({_ONE}|({_ONE}|\.\.)/({_ONE}|\.\.))$"


class Bounds(NamedTuple):
    """The earliest and latest day a value may be (None: open on that side); `day` when it fixes one."""

    earliest: date | None
    latest: date | None
    qualified: bool

    @property
    def day(self) -> date | None:
        """The day, when the value names exactly one and carries no qualifier."""
        exact = self.earliest is not None and self.earliest == self.latest
        return self.earliest if exact and not self.qualified else None


def _endpoint(text: str) -> tuple[date, date, bool]:
    match = ENDPOINT.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a date in YYYY, YYYY-MM or YYYY-MM-DD form.")
    year = int(match["year"])
    if year == 0:
        raise ValueError("Year 0000 is not accepted; years run from 0001.")
    month = int(match["month"]) if match["month"] else None
    if month is not None and not 1 <= month <= 12:
        raise ValueError(f"{text!r} has no month {month:02d}.")
    qualified = match["qualifier"] is not None
    if month is None:
        return date(year, 1, 1), date(year, 12, 31), qualified
    last = calendar.monthrange(year, month)[1]
    if match["day"] is None:
        return date(year, month, 1), date(year, month, last), qualified
    day = int(match["day"])
    if not 1 <= day <= last:
        raise ValueError(f"{text!r} is not a day of the calendar.")
    return date(year, month, day), date(year, month, day), qualified


def edtf_bounds(text: str) -> Bounds:
    """The bounds of an EDTF value of the subset above; ValueError, saying why, for anything else."""
    if len(text) > MAX_LENGTH:
        raise ValueError(f"Longer than {MAX_LENGTH} characters.")
    parts = text.split("/")
    if len(parts) == 1:
        if text == OPEN:
            raise ValueError("'..' (an open end) is only for one side of an interval.")
        earliest, latest, qualified = _endpoint(text)
        return Bounds(earliest, latest, qualified)
    if len(parts) != 2:
        raise ValueError("An interval has exactly one '/'.")
    start, end = parts
    if start == OPEN and end == OPEN:
        raise ValueError("An interval needs at least one end: '../..' bounds nothing.")
    earliest = latest = None
    qualified = False
    if start != OPEN:
        earliest, _, qualified = _endpoint(start)
    if end != OPEN:
        _, latest, end_qualified = _endpoint(end)
        qualified = qualified or end_qualified
    if earliest is not None and latest is not None and earliest > latest:
        raise ValueError(f"The interval ends ({end}) before it starts ({start}).")
    return Bounds(earliest, latest, qualified)


class EdtfDate(fields.String):
    """A date as EDTF of the subset above; a malformed one or an interval ending before it starts is a 422."""

    def __init__(self, description: str, example: str | None, **kwargs) -> None:
        super().__init__(
            validate=[validate.Length(min=1, max=MAX_LENGTH), validate.Regexp(PATTERN)],
            metadata={"description": description, "example": example},
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            edtf_bounds(text)
        except ValueError as error:
            raise ValidationError(f"Not a date of the accepted EDTF subset: {error}") from error
        return text
