-- name: list_clauses
-- Clauses in document order: by proposal, then position; keyset on (proposal_id, position, id).
SELECT c.doc::text, c.proposal_id, c.position::text, c.id,
       (SELECT seq FROM revisions WHERE collection BETWEEN 'clauses' AND 'clauses' ORDER BY collection DESC, seq DESC LIMIT 1) AS version
  FROM clauses_matching(%(proposal)s, %(topic)s, %(party)s, %(quoted)s, %(responds_to)s) c
 WHERE (%(after_1)s::text IS NULL
        OR (c.proposal_id, c.position, c.id) > (%(after_1)s::text, %(after_2)s::int, %(after_3)s::text))
 ORDER BY c.proposal_id, c.position, c.id
 LIMIT %(limit)s

-- name: proposal_exists
SELECT deleted_at IS NOT NULL AS deleted FROM proposals WHERE id = %(id)s

-- name: search_clauses
-- Ranked full-text search (web-search syntax) over label, quoted excerpts, summary and
-- topics; keyset on (rank descending, id). A query of one lexeme without other filters reads
-- its page from term_pages, where each clause's rank for each of its lexemes is kept in order
-- (sql/functions/search.sql): a page or two of entries, however many clauses match. Any other query ranks every match, as before; `full_scan` says which branch runs.
-- The query is parsed once, as a CTE (written inline, a generic plan parsed it for every match).
-- The representation and the snippet are read for the page's rows only; the snippet from the
-- words parsed when the clause was written, as HTML: the text escaped, the matches in <mark>
-- (sql/functions/snippets.sql). The filters are clauses_matching's (sql/functions/filters.sql).
WITH query AS MATERIALIZED (
  SELECT websearch_to_tsquery('english', %(q)s) AS query,
         tsquery_lexemes(websearch_to_tsquery('english', %(q)s)) AS lexemes,
         NOT (numnode(websearch_to_tsquery('english', %(q)s)) = 1
              AND %(proposal)s::text IS NULL AND %(topic)s::text IS NULL
              AND %(party)s::text IS NULL AND %(quoted)s::boolean IS NULL
              AND %(responds_to)s::text IS NULL) AS full_scan
), page AS (
  (SELECT e.key AS id, -e.neg_rank AS rank, (SELECT query FROM query), (SELECT lexemes FROM query)
     FROM term_pages t, unnest(t.neg_ranks, t.keys) WITH ORDINALITY AS e(neg_rank, key, n)
    WHERE NOT (SELECT full_scan FROM query)
      AND t.kind = 'clause' AND t.lexeme = (SELECT lexemes[1] FROM query)  -- a parameter: the pages come in order
      AND (t.last_neg_rank, t.last_key) > (coalesce(-%(after_1)s::real, '-Infinity'), coalesce(%(after_2)s::text, ''))
      AND (e.neg_rank, e.key) > (coalesce(-%(after_1)s::real, '-Infinity'), coalesce(%(after_2)s::text, ''))
    ORDER BY t.last_neg_rank, t.last_key, e.n
    LIMIT %(limit)s)
  UNION ALL
  (SELECT c.id, ts_rank(c.search, query.query) AS rank, query.query, query.lexemes
     FROM query, clauses_matching(%(proposal)s, %(topic)s, %(party)s, %(quoted)s, %(responds_to)s) c
    WHERE (SELECT full_scan FROM query)
      AND c.search @@ query.query
      AND (%(after_1)s::real IS NULL OR ts_rank(c.search, query.query) < %(after_1)s::real
           OR (ts_rank(c.search, query.query) = %(after_1)s::real AND c.id > %(after_2)s::text))
    ORDER BY rank DESC, c.id
    LIMIT %(limit)s)
)
SELECT left(c.doc::text, -1) || ',"search":' || row_to_json(s)::text || '}', p.rank::text, p.id,
       (SELECT seq FROM revisions WHERE collection BETWEEN 'clauses' AND 'clauses' ORDER BY collection DESC, seq DESC LIMIT 1) AS version
  FROM page p
  JOIN clauses c ON c.id = p.id,
       LATERAL (SELECT p.rank,
                       coalesce(clause_snippet(c.snippet_words, c.snippet_lexemes, p.lexemes),
                                html_headline(clause_snippet_source(c.doc), p.query))
                         AS snippet) s
 ORDER BY p.rank DESC, p.id

-- name: search_clauses_by_term
-- search_clauses for a `q` of one word and no filter (api/http/fastpath.py): its index branch alone,
-- with the same rows, ranks and order as search_clauses, and the same snippets.
-- Postgres keeps one generic plan for this; it plans search_clauses afresh for every search
-- (its filters make a generic plan look dearer than each custom one), which cost about a
-- fifth of a search's database time. The LIMIT is a sub-select for the same reason: with a bare
-- parameter the planner guesses a tenth of the index range for a generic plan but knows the
-- number for a custom one, and at 50,000 clauses chose a custom plan every time (0.3 ms more
-- database CPU a search, bench/README.md); a sub-select is unknown to both, so they cost the
-- same and the generic plan is kept. A stop word has no lexeme and matches nothing, here as there. The final SELECT
-- is search_clauses' own: change both together (tests/test_fastpath.py and
-- tests/test_search_terms.py compare what the two return).
WITH query AS MATERIALIZED (
  SELECT websearch_to_tsquery('english', %(q)s) AS query,
         tsquery_lexemes(websearch_to_tsquery('english', %(q)s)) AS lexemes
), page AS (
  SELECT e.key AS id, -e.neg_rank AS rank, (SELECT query FROM query), (SELECT lexemes FROM query)
    FROM term_pages t, unnest(t.neg_ranks, t.keys) WITH ORDINALITY AS e(neg_rank, key, n)
   WHERE t.kind = 'clause'
     AND t.lexeme = (SELECT CASE WHEN numnode(query) = 1 THEN lexemes[1] END FROM query)
     AND (t.last_neg_rank, t.last_key) > (coalesce(-%(after_1)s::real, '-Infinity'), coalesce(%(after_2)s::text, ''))
     AND (e.neg_rank, e.key) > (coalesce(-%(after_1)s::real, '-Infinity'), coalesce(%(after_2)s::text, ''))
   ORDER BY t.last_neg_rank, t.last_key, e.n
   LIMIT (SELECT %(limit)s::int)
)
SELECT left(c.doc::text, -1) || ',"search":' || row_to_json(s)::text || '}', p.rank::text, p.id,
       (SELECT seq FROM revisions WHERE collection BETWEEN 'clauses' AND 'clauses' ORDER BY collection DESC, seq DESC LIMIT 1) AS version
  FROM page p
  JOIN clauses c ON c.id = p.id,
       LATERAL (SELECT p.rank,
                       coalesce(clause_snippet(c.snippet_words, c.snippet_lexemes, p.lexemes),
                                html_headline(clause_snippet_source(c.doc), p.query))
                         AS snippet) s
 ORDER BY p.rank DESC, p.id
