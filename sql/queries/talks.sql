-- name: list_talks
-- Talks by date, then id; keyset on (starts_on, id).
SELECT t.doc::text, t.starts_on::text, t.id,
       (SELECT max(seq) FROM revisions WHERE collection = 'talks') AS version
  FROM talks t
 WHERE t.deleted_at IS NULL
   AND (%(party)s::text IS NULL
        OR EXISTS (SELECT 1 FROM talk_parties x WHERE x.talk_id = t.id AND x.party_id = %(party)s))
   AND (%(proposal)s::text IS NULL
        OR EXISTS (SELECT 1 FROM talk_proposals x WHERE x.talk_id = t.id AND x.proposal_id = %(proposal)s))
   AND (%(status)s::text IS NULL OR t.status = %(status)s)
   AND (%(since)s::date IS NULL OR t.starts_on >= %(since)s)
   AND (%(until)s::date IS NULL OR t.starts_on <= %(until)s)
   AND (%(after_1)s::date IS NULL OR (t.starts_on, t.id) > (%(after_1)s::date, %(after_2)s::text))
 ORDER BY t.starts_on, t.id
 LIMIT %(limit)s
