-- name: list_sources
SELECT s.doc::text, s.id,
       (SELECT max(seq) FROM revisions WHERE collection = 'sources') AS version
  FROM sources s
 WHERE s.deleted_at IS NULL
   AND (%(publisher)s::text IS NULL OR s.publisher = %(publisher)s)
   AND (%(after_1)s::text IS NULL OR s.id > %(after_1)s)
 ORDER BY s.id
 LIMIT %(limit)s
