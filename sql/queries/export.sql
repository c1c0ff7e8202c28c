-- name: export_revisions
-- Every revision in commit order, as the lines of a dataset file. Clause revisions travel
-- inside their proposal's revision (a clause change is a proposal change too).
SELECT r.collection, r.item_id, rfc3339(r.valid_from), c.actor, r.note, r.deleted, r.snapshot::text
  FROM revisions r JOIN changesets c ON c.id = r.changeset_id
 WHERE r.collection <> 'clauses'
 ORDER BY r.seq

-- name: export_version
SELECT coalesce(max(seq), 0) FROM revisions
