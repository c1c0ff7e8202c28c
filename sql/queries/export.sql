-- name: export_revisions
-- Every revision in commit order, as the lines of a dataset file. Clause revisions travel
-- inside their proposal's revision (a clause change is a proposal change too). Each line numbers
-- its commit in the export's own order (1, 2, …), so that an import groups the lines into the same
-- commits (and so makes the same revisions) whatever this database's changeset ids are.
SELECT collection, item_id, rfc3339(valid_from), actor, note,
       sum(starts) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING)::bigint, deleted, snapshot::text
  FROM (SELECT r.seq, r.collection, r.item_id, r.valid_from, c.actor, r.note, r.deleted, r.snapshot,
               (r.changeset_id IS DISTINCT FROM lag(r.changeset_id) OVER (ORDER BY r.seq))::int AS starts
          FROM revisions r JOIN changesets c ON c.id = r.changeset_id
         WHERE r.collection <> 'clauses') AS lines
 ORDER BY seq

-- name: export_version
SELECT coalesce(max(seq), 0) FROM revisions
