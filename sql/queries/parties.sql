-- name: list_parties
-- Sorted by {key} ({dir}), then id; keyset on both. The placeholders are filled from an allowlist.
SELECT p.doc::text, {key}::text, p.id,
       (SELECT seq FROM revisions WHERE collection BETWEEN 'parties' AND 'parties' ORDER BY collection DESC, seq DESC LIMIT 1) AS version
  FROM parties p
 WHERE p.deleted_at IS NULL
   AND (%(kind)s::text IS NULL OR p.kind = %(kind)s)
   AND (%(member_of)s::text IS NULL
        OR EXISTS (SELECT 1 FROM party_memberships m WHERE m.member_id = p.id AND m.group_id = %(member_of)s))
   AND (%(after_1)s::text IS NULL OR ({key}, p.id) {cmp} (%(after_1)s::{cast}, %(after_2)s::text))
 ORDER BY {key} {dir}, p.id {dir}
 LIMIT %(limit)s
