"""JSON or CSV, whole or with only some fields: what the client asked for, and the CSV itself."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence

import orjson
from flask import request

from api.http.errors import ApiError


def wants_csv(requested: str | None, csv_allowed: bool) -> bool:
    """`format=` wins; else the Accept header decides between JSON and CSV (406 if neither)."""
    if requested is not None:
        return requested == "csv"
    if not request.accept_mimetypes:
        return False
    offered = ["application/json", "text/csv"] if csv_allowed else ["application/json"]
    best = request.accept_mimetypes.best_match(offered)
    if best is None:
        raise ApiError(406, f"This resource is available as {' or '.join(offered)}.")
    return best == "text/csv"


def variant(only: Sequence[str] | None, csv: bool) -> str:
    tag = ";csv" if csv else ""
    if only:
        tag += ";f=" + hashlib.sha256(",".join(only).encode()).hexdigest()[:10]
    return tag


def project(doc: str, only: Sequence[str] | None) -> dict | str:
    """The representation with only the requested fields, in the order they are stored."""
    if not only:
        return doc
    item = orjson.loads(doc)
    return {k: v for k, v in item.items() if k in only}


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection").
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """Lists of ids joined with ';', nested objects as JSON text, null as an empty cell. A text cell
    that a spreadsheet would run as a formula gets a leading `'`; numbers are left as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)  # a number, its sign included, is no formula
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = ";".join(str(v) for v in value)
    elif isinstance(value, list | dict):
        text = orjson.dumps(value).decode()
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_LEADS) else text


def csv_body(items: list[dict], columns: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow([csv_cell(item.get(column)) for column in columns])
    return out.getvalue().encode()
