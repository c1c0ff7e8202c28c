-- name: list_sources
-- Sorted by {key} ({dir}), then id; keyset on both. The placeholders are filled from an allowlist.
SELECT s.doc::text, {key}::text, s.id,
       (SELECT seq FROM revisions WHERE collection BETWEEN 'sources' AND 'sources' ORDER BY collection DESC, seq DESC LIMIT 1) AS version
  FROM sources s
 WHERE s.deleted_at IS NULL
   AND (%(publisher)s::text IS NULL OR s.publisher = %(publisher)s)
   AND (%(after_1)s::text IS NULL OR ({key}, s.id) {cmp} (%(after_1)s::{cast}, %(after_2)s::text))
 ORDER BY {key} {dir}, s.id {dir}
 LIMIT %(limit)s
