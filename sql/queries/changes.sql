-- The change feed: every revision of every collection in commit order (`revisions.seq`, which
-- writers draw under one lock: sql/functions/writes.sql `lock_changes`). api/resources/changes.py.
-- {only} is `TRUE` or a test of `r.collection` (composed with psycopg.sql), so that a filtered feed
-- reads the (collection, seq) index and an unfiltered one the primary key.

-- name: changes_page
-- One page after a position, with the position resolved and the head read in the same snapshot.
-- `mode` says what names the position: 'start' (before everything), 'cursor' (the revision
-- `collection`/`item`/`revision`: right after it when the cursor was made on this database,
-- `same`; else before the first revision of the commit that holds it here) or 'instant' (before
-- the first change recorded after `instant`; the head when there is none). `after` is NULL when
-- the cursor's revision is not here (yet). Always one row or more: a page with no change is one
-- row whose change columns are NULL. {snapshot} adds each revision's stored snapshot.
WITH head AS MATERIALIZED (
  SELECT coalesce(max(seq), 0) AS seq FROM revisions
), here AS MATERIALIZED (
  SELECT CASE %(mode)s::text
           WHEN 'start' THEN 0::bigint
           WHEN 'cursor' THEN
             (SELECT CASE WHEN %(same)s::boolean THEN r.seq
                          ELSE (SELECT min(o.seq) FROM revisions o WHERE o.changeset_id = r.changeset_id) - 1 END
                FROM revisions r
               WHERE r.collection = %(collection)s::text AND r.item_id = %(item)s::text
                 AND r.revision = %(revision)s::int)
           ELSE coalesce((SELECT min(o.seq) - 1
                            FROM (SELECT c.id FROM changesets c
                                   WHERE c.recorded_at > %(instant)s::timestamptz
                                     AND EXISTS (SELECT 1 FROM revisions x WHERE x.changeset_id = c.id)
                                   ORDER BY c.recorded_at, c.id LIMIT 1) first,
                                 revisions o
                           WHERE o.changeset_id = first.id),
                         (SELECT seq FROM head))
         END AS after
), top AS (
  SELECT change_cursor(%(instance)s, r.collection, r.item_id, r.revision, r.seq) AS cursor
    FROM revisions r WHERE r.seq = (SELECT seq FROM head)
)
SELECT here.after, (SELECT seq FROM head) AS head, (SELECT cursor FROM top) AS head_cursor,
       e.doc, e.cursor
  FROM here
  LEFT JOIN LATERAL (
    SELECT r.seq, row_to_json(d)::text AS doc, d.cursor
      FROM revisions r
      JOIN changesets c ON c.id = r.changeset_id,
           LATERAL (SELECT r.collection, r.item_id AS id, r.revision, rfc3339(r.valid_from) AS valid_from,
                           rfc3339(c.recorded_at) AS recorded_at, c.actor, r.note, r.deleted,
                           r.changeset_id AS changeset,
                           %(site)s::text || r.collection || '/' || r.item_id || '/revisions/' || r.revision AS url,
                           change_cursor(%(instance)s, r.collection, r.item_id, r.revision, r.seq) AS cursor
                           {snapshot}) d
     WHERE r.seq > here.after AND {only}
     ORDER BY r.seq
     LIMIT (SELECT %(limit)s::int)) e ON true  -- a parameter Postgres does not plan for: one generic plan
 ORDER BY e.seq

-- name: changes_recent
-- The newest changes first, for the Atom feed (api/resources/changes.py): what a feed reader shows.
SELECT r.collection, r.item_id, r.revision, r.valid_from, c.recorded_at, c.actor, r.note, r.deleted,
       (SELECT coalesce(max(seq), 0) FROM revisions) AS head,
       coalesce(r.snapshot ->> 'short_title', r.snapshot ->> 'title', r.snapshot ->> 'name',
                r.snapshot ->> 'label', r.snapshot ->> 'speaker', r.item_id) AS name
  FROM revisions r JOIN changesets c ON c.id = r.changeset_id
 WHERE {only}
 ORDER BY r.seq DESC
 LIMIT %(limit)s

-- name: changes_poll
-- What a poll's ETag needs and no more: where a cursor made here points (NULL: not here; 0 for the
-- beginning, `item` NULL) and the head. Two index lookups, so a poll that gets 304 costs about what
-- a conditional GET of one item does.
SELECT CASE WHEN %(item)s::text IS NULL THEN 0::bigint
            ELSE (SELECT seq FROM revisions
                   WHERE collection = %(collection)s::text AND item_id = %(item)s::text
                     AND revision = %(revision)s::int) END,
       (SELECT coalesce(max(seq), 0) FROM revisions)

-- name: changes_head
SELECT coalesce(max(seq), 0) FROM revisions

-- name: instance_id
SELECT value FROM app_settings WHERE name = 'instance_id'
