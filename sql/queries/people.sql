-- name: list_people
-- Sorted by {key} ({dir}), then id; keyset on both. The placeholders are filled from an allowlist.
SELECT p.doc::text, {key}::text, p.id,
       (SELECT seq FROM revisions WHERE collection BETWEEN 'people' AND 'people' ORDER BY collection DESC, seq DESC LIMIT 1) AS version
  FROM people p
 WHERE p.deleted_at IS NULL
   AND (%(party)s::text IS NULL
        OR EXISTS (SELECT 1 FROM person_roles o WHERE o.person_id = p.id AND o.party_id = %(party)s))
   AND (%(after_1)s::text IS NULL OR ({key}, p.id) {cmp} (%(after_1)s::{cast}, %(after_2)s::text))
 ORDER BY {key} {dir}, p.id {dir}
 LIMIT %(limit)s
