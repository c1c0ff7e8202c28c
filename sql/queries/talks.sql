-- name: list_talks
-- Sorted by {key} ({dir}), then id; keyset on both. The placeholders are filled from an allowlist.
SELECT t.doc::text, {key}::text, t.id,
       (SELECT seq FROM revisions WHERE collection BETWEEN 'talks' AND 'talks' ORDER BY collection DESC, seq DESC LIMIT 1) AS version
  FROM talks t
 WHERE t.deleted_at IS NULL
   AND (%(party)s::text IS NULL
        OR EXISTS (SELECT 1 FROM talk_parties x WHERE x.talk_id = t.id AND x.party_id = %(party)s))
   AND (%(proposal)s::text IS NULL
        OR EXISTS (SELECT 1 FROM talk_proposals x WHERE x.talk_id = t.id AND x.proposal_id = %(proposal)s))
   AND (%(person)s::text IS NULL OR t.chair_id = %(person)s
        OR EXISTS (SELECT 1 FROM talk_delegations x WHERE x.talk_id = t.id AND x.head_id = %(person)s))
   AND (%(status)s::text IS NULL OR t.status = %(status)s)
   AND (%(since)s::date IS NULL OR t.starts_on >= %(since)s)
   AND (%(until)s::date IS NULL OR t.starts_on <= %(until)s)
   AND (%(after_1)s::text IS NULL OR ({key}, t.id) {cmp} (%(after_1)s::{cast}, %(after_2)s::text))
 ORDER BY {key} {dir}, t.id {dir}
 LIMIT %(limit)s
