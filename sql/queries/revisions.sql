-- name: list_revisions
-- An item's revisions, newest first; keyset on revision.
SELECT row_to_json(d)::text, d.revision::text,
       (SELECT max(seq) FROM revisions WHERE collection = %(collection)s AND item_id = %(id)s) AS version
  FROM (SELECT r.revision, rfc3339(r.valid_from) AS valid_from, rfc3339(c.recorded_at) AS recorded_at,
               c.actor, r.note, r.deleted, r.snapshot AS item
          FROM revisions r JOIN changesets c ON c.id = r.changeset_id
         WHERE r.collection = %(collection)s AND r.item_id = %(id)s
           AND (%(after_1)s::int IS NULL OR r.revision < %(after_1)s::int)
         ORDER BY r.revision DESC
         LIMIT %(limit)s) d
 ORDER BY d.revision DESC

-- name: revisions_version
SELECT coalesce(max(seq), 0) FROM revisions WHERE collection = %(collection)s AND item_id = %(id)s

-- name: get_revision
SELECT row_to_json(d)::text, d.item FROM (
  SELECT r.revision, rfc3339(r.valid_from) AS valid_from, rfc3339(c.recorded_at) AS recorded_at,
         c.actor, r.note, r.deleted, r.snapshot AS item
    FROM revisions r JOIN changesets c ON c.id = r.changeset_id
   WHERE r.collection = %(collection)s AND r.item_id = %(id)s AND r.revision = %(revision)s) d

-- name: revision_as_of
-- The item as it stood at an instant: its newest revision already valid then.
SELECT r.snapshot::text, r.revision, r.deleted, r.valid_from
  FROM revisions r
 WHERE r.collection = %(collection)s AND r.item_id = %(id)s AND r.valid_from <= %(as_of)s
 ORDER BY r.revision DESC
 LIMIT 1

-- name: item_exists
SELECT 1 FROM revisions WHERE collection = %(collection)s AND item_id = %(id)s LIMIT 1
