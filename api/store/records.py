"""Records as they are written and as they are stored.

A stored representation carries what the server adds (revision, updated_at, members, a clause's
proposal_id and answered_by_ids); a record as a write or a dataset file gives it does not. Writes (api/resources/writes.py),
the importer and the export (api/store/dataset.py, api/resources/export.py) all turn one into the other
here, and a PATCH applies its JSON Merge Patch (RFC 7396) here.
"""

from __future__ import annotations

SERVER_FIELDS = {"revision", "updated_at", "members", "said_earliest", "said_latest", "answered_by_ids"}
# Fields that give the same fact two ways: a statement's day as `said_on` (the older way) or its
# date as `said_when` (EDTF). A patch that sets one replaces the other, which is then derived again.
ALTERNATIVES = (("said_on", "said_when"),)
CLAUSE_SERVER_FIELDS = {"revision", "updated_at", "proposal_id", "answered_by_ids"}


def merge_patch(target: object, patch: object) -> object:
    """RFC 7396 JSON Merge Patch (its section 2 algorithm)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def input_shape(doc: dict) -> dict:
    """A stored representation without the fields the server owns."""
    record = {k: v for k, v in doc.items() if k not in SERVER_FIELDS}
    if "clauses" in record:
        record["clauses"] = [{k: v for k, v in c.items() if k not in CLAUSE_SERVER_FIELDS} for c in record["clauses"]]
    return record


def patch_record(current: dict, patch: object) -> object:
    """The record a PATCH (or a dataset's patch) makes of the stored one: the merge patch, after
    dropping the stored field of an ALTERNATIVES pair whose other field the patch sets."""
    if isinstance(patch, dict):
        current = dict(current)
        for one, other in ALTERNATIVES:
            if one in patch and other not in patch:
                current.pop(other, None)
            elif other in patch and one not in patch:
                current.pop(one, None)
    return merge_patch(current, patch)
