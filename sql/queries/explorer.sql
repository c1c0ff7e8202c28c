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
-- Talks and statements in one list, by date (a statement's as EDTF: a day or an interval), by the
-- earliest day, then the latest; undated statements last.
SELECT kind, day, doc FROM (
  SELECT 'talk' AS kind, to_char(starts_on, 'YYYY-MM-DD') AS day, starts_on AS earliest, starts_on AS latest, doc
    FROM talks WHERE deleted_at IS NULL
  UNION ALL
  SELECT 'statement', said_when, said_earliest, said_latest, doc FROM statements WHERE deleted_at IS NULL
) t
ORDER BY earliest NULLS LAST, latest, kind, doc->>'id'

-- name: explorer_revisions
SELECT r.revision, r.valid_from, c.recorded_at, c.actor, r.note, r.deleted, r.snapshot
  FROM revisions r JOIN changesets c ON c.id = r.changeset_id
 WHERE r.collection = %(collection)s AND r.item_id = %(id)s
 ORDER BY r.revision

-- name: explorer_person
SELECT doc FROM people WHERE id = %(id)s AND deleted_at IS NULL

-- name: explorer_person_statements
SELECT doc FROM statements WHERE speaker_id = %(id)s AND deleted_at IS NULL ORDER BY said_order, id

-- name: explorer_person_talks
-- Talks the person led a delegation to or chaired, by date.
SELECT t.doc FROM talks t
 WHERE t.deleted_at IS NULL
   AND (t.chair_id = %(id)s
        OR EXISTS (SELECT 1 FROM talk_delegations x WHERE x.talk_id = t.id AND x.head_id = %(id)s))
 ORDER BY t.starts_on, t.id

-- name: explorer_people
SELECT doc FROM people WHERE deleted_at IS NULL ORDER BY name, id

-- name: explorer_linked_clauses
-- The clauses a page's clauses answer or are answered by, with their proposal's short title: the
-- explorer links each point to the articles it answers and each article to what answered it.
SELECT c.id, c.proposal_id, p.doc->>'short_title', c.label, c.summary
  FROM clauses c JOIN proposals p ON p.id = c.proposal_id
 WHERE c.id = ANY (%(ids)s) AND c.deleted_at IS NULL

-- name: explorer_proposal_titles
-- Short titles by proposal id: the pages link proposals by the names people use.
SELECT id, doc->>'short_title' FROM proposals WHERE deleted_at IS NULL

-- name: explorer_proposal_talks
-- The talks where a proposal was on the table, by date.
SELECT t.doc FROM talks t
 WHERE t.deleted_at IS NULL
   AND EXISTS (SELECT 1 FROM talk_proposals x WHERE x.talk_id = t.id AND x.proposal_id = %(id)s)
 ORDER BY t.starts_on, t.id

-- name: explorer_proposal_statements
-- What officials said about a proposal, by date.
SELECT s.doc FROM statements s
 WHERE s.deleted_at IS NULL
   AND EXISTS (SELECT 1 FROM statement_proposals x WHERE x.statement_id = s.id AND x.proposal_id = %(id)s)
 ORDER BY s.said_order, s.id

-- name: explorer_proposal_answers
-- The documents written in response to a proposal (its written responses, a reply to them).
SELECT p.doc FROM proposals p
 WHERE p.deleted_at IS NULL
   AND EXISTS (SELECT 1 FROM proposal_responses x WHERE x.proposal_id = p.id AND x.responds_to_id = %(id)s)
 ORDER BY p.id
