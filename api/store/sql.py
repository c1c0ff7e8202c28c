"""Named SQL queries from `sql/queries/*.sql`, loaded once.

A file holds blocks that start with `-- name: <query_name>`; the block's text up to the
next such line is the query. Python code asks for queries by name and never builds SQL.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@cache
def queries() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((SQL_DIR / "queries").glob("*.sql")):
        for name, body in parse_queries(path.read_text()).items():
            if name in found:
                raise RuntimeError(f"query {name!r} is defined twice ({path.name})")
            found[name] = body
    return found


def q(name: str) -> str:
    """The text of the named query."""
    return queries()[name]
