-- name: search_all
-- `GET /v1/search`: every collection's items ranked against `q` (web-search syntax, with the
-- synonym groups of sql/functions/search_items.sql), best first; keyset on (rank descending, type,
-- id). `types` (singulars) narrows it, NULL for all. `site` is what each hit's `url` starts with.
-- As search_clauses does: a query of one lexeme reads its page from term_pages (an item's key
-- there is type:id, which sorts as (type, id) does), a page or two however many items match; any other query ranks every match (`full_scan`).
-- Hits are ranked by the query without its excluded terms (search_positive), so `a -b` ranks by
-- `a`, not every hit at 1e-20. Title, URL and snippet are made for the page's rows only; the
-- snippet from the words parsed when the item was written (sql/functions/snippets.sql).
WITH query AS MATERIALIZED (
  SELECT m.query, r.query AS ranked, tsquery_lexemes(r.query) AS lexemes, numnode(m.query) <> 1 AS full_scan
    FROM search_tsquery(%(q)s) AS m(query),
         LATERAL (SELECT CASE WHEN search_positive(%(q)s) = %(q)s THEN m.query  -- nothing excluded
                              ELSE search_tsquery(search_positive(%(q)s)) END) AS r(query)
), page AS (
  (SELECT split_part(e.key, ':', 1) AS type, substr(e.key, strpos(e.key, ':') + 1) AS id, -e.neg_rank AS rank
     FROM term_pages t, unnest(t.neg_ranks, t.keys) WITH ORDINALITY AS e(neg_rank, key, n)
    WHERE NOT (SELECT full_scan FROM query)
      AND t.kind = 'item' AND t.lexeme = (SELECT lexemes[1] FROM query)  -- a parameter: the pages come in order
      AND (t.last_neg_rank, t.last_key)
          > (coalesce(-%(after_1)s::real, '-Infinity'), coalesce(%(after_2)s::text, '') || ':' || coalesce(%(after_3)s::text, ''))
      AND (e.neg_rank, e.key)
          > (coalesce(-%(after_1)s::real, '-Infinity'), coalesce(%(after_2)s::text, '') || ':' || coalesce(%(after_3)s::text, ''))
      AND (%(types)s::text[] IS NULL OR split_part(e.key, ':', 1) = ANY (%(types)s::text[]))
    ORDER BY t.last_neg_rank, t.last_key, e.n
    LIMIT %(limit)s)
  UNION ALL
  (SELECT i.type, i.id, ts_rank(i.search, query.ranked) AS rank
     FROM query, search_items i
    WHERE query.full_scan
      AND numnode(query.ranked) > 0  -- only stop words, or nothing but excluded terms: no hits
      AND i.search @@ query.query
      AND (%(types)s::text[] IS NULL OR i.type = ANY (%(types)s::text[]))
      AND (%(after_1)s::real IS NULL OR ts_rank(i.search, query.ranked) < %(after_1)s::real
           OR (ts_rank(i.search, query.ranked) = %(after_1)s::real
               AND (i.type, i.id) > (%(after_2)s::text, %(after_3)s::text)))
    ORDER BY rank DESC, i.type, i.id
    LIMIT %(limit)s)
)
SELECT row_to_json(h)::text, p.rank::text, p.type, p.id, (SELECT seq FROM revisions ORDER BY seq DESC LIMIT 1) AS version
  FROM page p
  JOIN search_items i ON i.type = p.type AND i.id = p.id,
       LATERAL (SELECT p.type, p.id, %(site)s::text || i.collection || '/' || p.id AS url, i.title,
                       coalesce(clause_snippet(i.snippet_words, i.snippet_lexemes, (SELECT lexemes FROM query)),
                                html_headline(coalesce(i.snippet_source, ''), (SELECT ranked FROM query)))
                         AS snippet,
                       p.rank) h
 ORDER BY p.rank DESC, p.type, p.id

-- name: search_version
-- The version a search's ETag names: the newest revision of any collection.
SELECT coalesce((SELECT seq FROM revisions ORDER BY seq DESC LIMIT 1), 0)
