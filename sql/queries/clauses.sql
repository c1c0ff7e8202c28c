-- name: list_clauses
-- Clauses in document order: by proposal, then position; keyset on (proposal_id, position, id).
SELECT c.doc::text, c.proposal_id, c.position::text, c.id,
       (SELECT max(seq) FROM revisions WHERE collection = 'clauses') AS version
  FROM clauses c
 WHERE c.deleted_at IS NULL
   AND (%(proposal)s::text IS NULL OR c.proposal_id = %(proposal)s)
   AND (%(after_1)s::text IS NULL
        OR (c.proposal_id, c.position, c.id) > (%(after_1)s::text, %(after_2)s::int, %(after_3)s::text))
 ORDER BY c.proposal_id, c.position, c.id
 LIMIT %(limit)s

-- name: proposal_exists
SELECT deleted_at IS NOT NULL AS deleted FROM proposals WHERE id = %(id)s
