-- name: list_clauses
-- Clauses in document order: by proposal, then position; keyset on (proposal_id, position, id).
SELECT c.doc::text, c.proposal_id, c.position::text, c.id,
       (SELECT max(seq) FROM revisions WHERE collection = 'clauses') AS version
  FROM clauses c
 WHERE c.deleted_at IS NULL
   AND (%(proposal)s::text IS NULL OR c.proposal_id = %(proposal)s)
   AND (%(topic)s::text IS NULL OR %(topic)s = ANY (c.topics))
   AND (%(party)s::text IS NULL
        OR EXISTS (SELECT 1 FROM clause_obligations o WHERE o.clause_id = c.id AND o.party_id = %(party)s))
   AND (%(quoted)s::boolean IS NULL
        OR %(quoted)s = EXISTS (SELECT 1 FROM clause_excerpts e WHERE e.clause_id = c.id))
   AND (%(after_1)s::text IS NULL
        OR (c.proposal_id, c.position, c.id) > (%(after_1)s::text, %(after_2)s::int, %(after_3)s::text))
 ORDER BY c.proposal_id, c.position, c.id
 LIMIT %(limit)s

-- name: proposal_exists
SELECT deleted_at IS NOT NULL AS deleted FROM proposals WHERE id = %(id)s

-- name: search_clauses
-- Ranked full-text search (web-search syntax) over label, quoted excerpts, summary and
-- topics; keyset on (rank descending, id). The representation and the snippet are read for the
-- page's rows only: carrying `doc` through the sort of every match costs more than the search.
WITH page AS (
  SELECT c.id, ts_rank(c.search, websearch_to_tsquery('english', %(q)s)) AS rank
    FROM clauses c
   WHERE c.search @@ websearch_to_tsquery('english', %(q)s)
     AND c.deleted_at IS NULL
     AND (%(proposal)s::text IS NULL OR c.proposal_id = %(proposal)s)
     AND (%(topic)s::text IS NULL OR %(topic)s = ANY (c.topics))
     AND (%(party)s::text IS NULL
          OR EXISTS (SELECT 1 FROM clause_obligations o WHERE o.clause_id = c.id AND o.party_id = %(party)s))
     AND (%(quoted)s::boolean IS NULL
          OR %(quoted)s = EXISTS (SELECT 1 FROM clause_excerpts e WHERE e.clause_id = c.id))
     AND (%(after_1)s::real IS NULL OR ts_rank(c.search, websearch_to_tsquery('english', %(q)s)) < %(after_1)s::real
          OR (ts_rank(c.search, websearch_to_tsquery('english', %(q)s)) = %(after_1)s::real AND c.id > %(after_2)s::text))
   ORDER BY rank DESC, c.id
   LIMIT %(limit)s
)
SELECT left(d.doc::text, -1) || ',"search":' || row_to_json(s)::text || '}', p.rank::text, p.id,
       (SELECT max(seq) FROM revisions WHERE collection = 'clauses') AS version
  FROM page p
  JOIN clauses d ON d.id = p.id,
       LATERAL (SELECT p.rank,
                       ts_headline('english',
                                   concat_ws(' … ', c.label, (SELECT string_agg(e.text, ' … ' ORDER BY e.position)
                                                             FROM clause_excerpts e WHERE e.clause_id = c.id),
                                             c.summary),
                                   websearch_to_tsquery('english', %(q)s), 'StartSel=<mark>, StopSel=</mark>, MaxFragments=2, MinWords=6, MaxWords=24')
                         AS snippet
                  FROM clauses c WHERE c.id = p.id) s
 ORDER BY p.rank DESC, p.id
