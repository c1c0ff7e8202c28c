-- name: list_proposals
-- Sorted by {key} ({dir}), then id; keyset on both. The placeholders are filled from an allowlist.
SELECT p.doc::text, {key}::text, p.id,
       (SELECT seq FROM revisions WHERE collection BETWEEN 'proposals' AND 'proposals' ORDER BY collection DESC, seq DESC LIMIT 1) AS version
  FROM proposals p
 WHERE p.deleted_at IS NULL
   AND (%(proposer)s::text IS NULL OR p.proposer_id = %(proposer)s)
   AND (%(party)s::text IS NULL OR p.proposer_id = %(party)s
        OR EXISTS (SELECT 1 FROM proposal_addressees a WHERE a.proposal_id = p.id AND a.party_id = %(party)s))
   AND (%(status)s::text IS NULL OR p.status = %(status)s)
   AND (%(after_1)s::text IS NULL OR ({key}, p.id) {cmp} (%(after_1)s::{cast}, %(after_2)s::text))
 ORDER BY {key} {dir}, p.id {dir}
 LIMIT %(limit)s
