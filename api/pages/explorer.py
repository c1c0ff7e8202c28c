"""The explorer: server-rendered HTML for people who would rather look than read JSON.

The pages read the same stored representations and revision snapshots the API serves, so they
show exactly what the API says. No script, no external asset: a plain Flask blueprint, outside
the OpenAPI document.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import NoReturn

from flask import Blueprint, abort, render_template, request
from werkzeug.exceptions import HTTPException

from api.collections import COLLECTIONS
from api.http.connection import connection
from api.resources.reads import is_id
from api.resources.revisions import keyed_clauses
from api.store.sql import q

explorer = Blueprint("explorer", __name__, url_prefix="/explore", template_folder="templates")


def party_names() -> dict[str, str]:
    """Short names by party id: the pages name parties the way people do, not by slug."""
    return dict(connection().execute(q("explorer_party_names")).fetchall())


def proposal_titles() -> dict[str, str]:
    """Short titles by proposal id, for the links from talks and statements to the proposals."""
    return dict(connection().execute(q("explorer_proposal_titles")).fetchall())


def docs(query: str, item_id: str) -> list[dict]:
    return [row[0] for row in connection().execute(q(query), {"id": item_id})]


@explorer.get("/")
def index() -> str:
    """The drafts, so a reader can pick one."""
    proposals = [row[0] for row in connection().execute(q("explorer_proposals"))]
    return render_template("explorer/index.html", proposals=proposals, parties=party_names())


@explorer.get("/proposals/<proposal_id>")
def proposal(proposal_id: str) -> str:
    """One draft clause by clause, our summary beside the quoted words, then every source it cites."""
    row = connection().execute(q("explorer_proposal"), {"id": proposal_id}).fetchone() if is_id(proposal_id) else None
    if row is None:
        abort(404)
    item = row[0]
    cited = set(item["source_ids"])
    for clause in item["clauses"]:
        cited |= set(clause["source_ids"]) | {excerpt["source_id"] for excerpt in clause["excerpts"]}
    sources = [r[0] for r in connection().execute(q("explorer_sources"), {"ids": sorted(cited)})]
    return render_template(
        "explorer/proposal.html",
        proposal=item,
        sources=sources,
        parties=party_names(),
        linked=linked_clauses(item),
        talks=docs("explorer_proposal_talks", proposal_id),
        statements=docs("explorer_proposal_statements", proposal_id),
        answers=docs("explorer_proposal_answers", proposal_id),
    )


def linked_clauses(item: dict) -> dict[str, dict]:
    """The clauses this proposal's clauses answer or are answered by, by id: a point links to the articles it
    answers, an article to the points that answered it, each named by its document and label."""
    ids = {i for c in item["clauses"] for i in [*c.get("responds_to_ids", []), *c.get("answered_by_ids", [])]}
    if not ids:
        return {}
    rows = connection().execute(q("explorer_linked_clauses"), {"ids": sorted(ids)}).fetchall()
    return {
        row[0]: {"id": row[0], "proposal_id": row[1], "proposal": row[2], "label": row[3], "summary": row[4]}
        for row in rows
    }


@explorer.get("/timeline")
def timeline() -> str:
    """Talks and statements in one list by date: what happened around the drafts, in order."""
    events = connection().execute(q("explorer_timeline")).fetchall()
    return render_template("explorer/timeline.html", events=events, parties=party_names(), proposals=proposal_titles())


@explorer.get("/people")
def people() -> str:
    """Everyone the data names, so a reader can pick one."""
    found = [row[0] for row in connection().execute(q("explorer_people"))]
    return render_template("explorer/people.html", people=found, parties=party_names())


@explorer.get("/people/<person_id>")
def person(person_id: str) -> str:
    """One person: their roles, what they said, and the talks they led a delegation to or chaired."""
    row = connection().execute(q("explorer_person"), {"id": person_id}).fetchone() if is_id(person_id) else None
    if row is None:
        abort(404)
    item = row[0]
    said, talks = docs("explorer_person_statements", person_id), docs("explorer_person_talks", person_id)
    cited = set(item["source_ids"]).union(*(role["source_ids"] for role in item["roles"]))
    sources = [r[0] for r in connection().execute(q("explorer_sources"), {"ids": sorted(cited)})]
    return render_template(
        "explorer/person.html", person=item, statements=said, talks=talks, sources=sources, parties=party_names()
    )


@explorer.get("/<collection>/<item_id>/history")
def history(collection: str, item_id: str) -> str:
    """An item's revisions, and a field-by-field comparison of two of them (`from`, `to`)."""
    if collection not in COLLECTIONS or not is_id(item_id):
        abort(404)
    rows = connection().execute(q("explorer_revisions"), {"collection": collection, "id": item_id}).fetchall()
    if not rows:
        abort(404)
    by_number = {row[0]: row for row in rows}
    newest = rows[-1][0]
    to = _revision_argument("to", newest if newest > 1 else 1)
    start = _revision_argument("from", max(to - 1, 1))
    if to not in by_number or start not in by_number:
        abort(404)
    changes = compare(by_number[start][6], by_number[to][6]) if start != to else []
    return render_template(
        "explorer/history.html",
        collection=collection,
        singular=COLLECTIONS[collection].singular,
        item_id=item_id,
        revisions=rows,
        start=start,
        to=to,
        changes=changes,
        title=_title(by_number[to][6]),
    )


def _revision_argument(name: str, default: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    if not value.isdigit() or len(value) > 9:
        abort(404)
    return int(value)


def _title(snapshot: dict) -> str:
    return str(snapshot.get("title") or snapshot.get("label") or snapshot.get("name") or snapshot.get("id"))


def compare(old: dict, new: dict) -> list[tuple[str, str | None, str | None]]:
    """(field, before, after) for every field that differs; a proposal's clauses one by one."""
    old, new = keyed_clauses(old), keyed_clauses(new)
    changes = []
    for field in list(dict.fromkeys([*old, *new])):
        before, after = old.get(field), new.get(field)
        if field == "clauses" and isinstance(before, dict) and isinstance(after, dict):
            for clause_id in dict.fromkeys([*before, *after]):
                if before.get(clause_id) != after.get(clause_id):
                    changes.append((f"clause {clause_id}", _shown(before.get(clause_id)), _shown(after.get(clause_id))))
        elif before != after:
            changes.append((field, _shown(before), _shown(after)))
    return changes


def _shown(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


@explorer.get("/<path:unknown>")
def unknown_page(unknown: str) -> NoReturn:
    """Routing 404s never reach a blueprint's error handler; this route makes them the explorer's HTML page."""
    abort(404)


@explorer.app_template_filter("day")
def day(value: object) -> str:
    """A revision's instant to the minute, a date as it is, and a missing date said in words."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return str(value) if value else "undated"


@explorer.errorhandler(404)
def not_found(error: HTTPException) -> tuple[str, int]:
    """People get a page with a way back, not the API's problem+json."""
    return render_template("explorer/not_found.html"), 404
