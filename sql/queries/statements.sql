-- name: list_statements
-- Sorted by {key} ({dir}), then id; keyset on both. The placeholders are filled from an allowlist.
SELECT s.doc::text, {key}::text, s.id,
       (SELECT seq FROM revisions WHERE collection BETWEEN 'statements' AND 'statements' ORDER BY collection DESC, seq DESC LIMIT 1) AS version
  FROM statements_matching(%(party)s, %(speaker)s, %(person)s, %(proposal)s, %(talk)s, %(since)s, %(until)s) s
 WHERE (%(after_1)s::text IS NULL OR ({key}, s.id) {cmp} (%(after_1)s::{cast}, %(after_2)s::text))
 ORDER BY {key} {dir}, s.id {dir}
 LIMIT %(limit)s

-- name: search_statements
-- Ranked full-text search over quote, speaker, summary and role; keyset on (rank descending, id).
-- The snippet is HTML: the text escaped, the matches in <mark> (sql/functions/snippets.sql).
WITH page AS (  -- `doc` is read for the page's rows only; the query is parsed once (see search_clauses)
  SELECT s.id, ts_rank(s.search, query) AS rank, query
    FROM websearch_to_tsquery('english', %(q)s) AS query,
         statements_matching(%(party)s, %(speaker)s, %(person)s, %(proposal)s, %(talk)s, %(since)s, %(until)s) s
   WHERE s.search @@ query
     AND (%(after_1)s::real IS NULL OR ts_rank(s.search, query) < %(after_1)s::real
          OR (ts_rank(s.search, query) = %(after_1)s::real AND s.id > %(after_2)s::text))
   ORDER BY rank DESC, s.id
   LIMIT %(limit)s
)
SELECT left(s.doc::text, -1) || ',"search":' || row_to_json(h)::text || '}', p.rank::text, p.id,
       (SELECT seq FROM revisions WHERE collection BETWEEN 'statements' AND 'statements' ORDER BY collection DESC, seq DESC LIMIT 1) AS version
  FROM page p
  JOIN statements s ON s.id = p.id,
       LATERAL (SELECT p.rank,
                       html_headline(concat_ws(' … ', s.speaker, s.quote, s.summary), p.query) AS snippet) h
 ORDER BY p.rank DESC, p.id
