-- name: list_statements
SELECT s.doc::text, s.id,
       (SELECT max(seq) FROM revisions WHERE collection = 'statements') AS version
  FROM statements s
 WHERE s.deleted_at IS NULL
   AND (%(party)s::text IS NULL OR s.party_id = %(party)s)
   AND (%(speaker)s::text IS NULL OR s.speaker = %(speaker)s)
   AND (%(proposal)s::text IS NULL
        OR EXISTS (SELECT 1 FROM statement_proposals x WHERE x.statement_id = s.id AND x.proposal_id = %(proposal)s))
   AND (%(talk)s::text IS NULL
        OR EXISTS (SELECT 1 FROM statement_talks x WHERE x.statement_id = s.id AND x.talk_id = %(talk)s))
   AND (%(after_1)s::text IS NULL OR s.id > %(after_1)s)
 ORDER BY s.id
 LIMIT %(limit)s
