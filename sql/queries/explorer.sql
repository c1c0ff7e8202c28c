-- Reads for the HTML explorer (api/explorer.py): current representations and revision snapshots.

-- name: explorer_proposals
SELECT doc FROM proposals WHERE deleted_at IS NULL ORDER BY handed_over_on NULLS LAST, id

-- name: explorer_proposal
SELECT doc FROM proposals WHERE id = %(id)s AND deleted_at IS NULL

-- name: explorer_sources
SELECT doc FROM sources WHERE id = ANY (%(ids)s) ORDER BY id

-- name: explorer_party_names
SELECT id, doc->>'short_name' FROM parties

-- name: explorer_timeline
-- Talks and statements in one list, by date; undated statements last.
SELECT kind, day, doc FROM (
  SELECT 'talk' AS kind, starts_on AS day, doc FROM talks WHERE deleted_at IS NULL
  UNION ALL
  SELECT 'statement', said_on, doc FROM statements WHERE deleted_at IS NULL
) t
ORDER BY day NULLS LAST, kind, doc->>'id'

-- name: explorer_revisions
SELECT r.revision, r.valid_from, c.recorded_at, c.actor, r.note, r.deleted, r.snapshot
  FROM revisions r JOIN changesets c ON c.id = r.changeset_id
 WHERE r.collection = %(collection)s AND r.item_id = %(id)s
 ORDER BY r.revision

-- name: explorer_linked_clauses
-- The clauses a page's clauses answer or are answered by, with their proposal's short title: the
-- explorer links each point to the articles it answers and each article to what answered it.
SELECT c.id, c.proposal_id, p.doc->>'short_title', c.label, c.summary
  FROM clauses c JOIN proposals p ON p.id = c.proposal_id
 WHERE c.id = ANY (%(ids)s) AND c.deleted_at IS NULL
