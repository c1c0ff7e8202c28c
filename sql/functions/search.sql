-- Full-text search: the search vectors and the index of single-word ranks.
--
-- `GET /v1/clauses?q=word` ranks clauses by ts_rank(search, query), best first, and `GET
-- /v1/search?q=word` every item by its entry's vector (sql/functions/search_items.sql). For a query
-- of one lexeme (most searches) that rank depends on nothing but the item's own search vector, so
-- it is computed when the item is written and kept in term_pages (migration 0019): for each lexeme,
-- its live items best first (by minus the rank, then the key), cut into pages of about
-- term_page_size() entries. A page of results is then the page at or after its keyset position,
-- unnested, however many items match and however deep the page. Queries of several lexemes, or
-- with filters, rank the matches (sql/queries/clauses.sql and search.sql choose).
--
-- A write changes an item's entries through term_pages_item: each goes to the page of its lexeme
-- that holds its place, and the page is written again (cut in two past twice the size). An import
-- sends its millions of entries through term_pages_apply, in one batch (term_changes).

-- The query for one lexeme alone, as websearch_to_tsquery would give it: the lexeme quoted, with
-- its quotes and backslashes escaped for the tsquery parser. (Only immutable parts, so it is inlined.)
CREATE OR REPLACE FUNCTION lexeme_query(lexeme text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ('''' || regexp_replace(lexeme, '([''\\])', '\\\1', 'g') || '''')::tsquery
$$;

-- The entries a page is made with; a page is cut in two when a write takes it past twice as many.
CREATE OR REPLACE FUNCTION term_page_size() RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 50 $$;

-- The entries term_pages_apply adds (op 1) or removes (op -1), for this transaction.
CREATE OR REPLACE FUNCTION term_changes_open() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS term_changes (
    kind text, lexeme text, neg_rank real, key text, op smallint
  ) ON COMMIT DROP;
END $$;

-- One item's entries added (op 1) or removed (op -1), each lexeme once: a single write's path,
-- without the temporary tables of a batch (term_pages_apply), in one statement. Each entry's page
-- is the one that holds its place (for an addition past the end, the last); the page is written
-- again with the entry (cut in two past twice the size) or without it (gone when empty), and a
-- lexeme without pages gets a page of its own.
CREATE OR REPLACE FUNCTION term_pages_item(item_kind text, item_key text, lexemes text[], neg_ranks real[], op int)
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan  -- planned once a connection: custom plans cost a write 0.5 ms more
AS $$
DECLARE
  size int := term_page_size();
  -- Copies in the database's collation: an argument (and a local variable) carries that of the
  -- caller's column (a slug's, "C"), and a comparison in another collation than the index's cannot use it.
  kind_ text COLLATE "default" := item_kind;
  item text COLLATE "default" := item_key;
  words text[] COLLATE "default" := lexemes;
BEGIN
  PERFORM lock_changes();  -- as term_pages_apply
  WITH entry AS (
    SELECT u.lexeme, u.neg_rank FROM unnest(words, neg_ranks) AS u(lexeme, neg_rank)
  ), target AS (
    SELECT e.lexeme, t.last_neg_rank, t.last_key
      FROM entry e
     CROSS JOIN LATERAL (
       (SELECT p.last_neg_rank, p.last_key, 0 AS past FROM term_pages p
         WHERE p.kind = kind_ AND p.lexeme = e.lexeme AND (p.last_neg_rank, p.last_key) >= (e.neg_rank, item)
         ORDER BY p.last_neg_rank, p.last_key LIMIT 1)
       UNION ALL
       (SELECT p.last_neg_rank, p.last_key, 1 FROM term_pages p
         WHERE op > 0 AND p.kind = kind_ AND p.lexeme = e.lexeme
         ORDER BY p.last_neg_rank DESC, p.last_key DESC LIMIT 1)
       ORDER BY past LIMIT 1) t
  ), gone AS (
    DELETE FROM term_pages p USING target t
     WHERE p.kind = kind_ AND p.lexeme = t.lexeme AND p.last_neg_rank = t.last_neg_rank AND p.last_key = t.last_key
    RETURNING p.lexeme, p.neg_ranks, p.keys
  ), merged AS (  -- the page's entries in their order, the entry put in its place or taken out
    SELECT g.lexeme, m.ranks, m.keys
      FROM gone g
      JOIN entry e ON e.lexeme = g.lexeme
     CROSS JOIN LATERAL (
       SELECT count(*) FILTER (WHERE (u.r, u.k) < (e.neg_rank, item)) AS place
         FROM unnest(g.neg_ranks, g.keys) AS u(r, k)) b
     CROSS JOIN LATERAL (
       SELECT g.neg_ranks[:b.place] || e.neg_rank || g.neg_ranks[b.place + 1:] AS ranks,
              g.keys[:b.place] || item || g.keys[b.place + 1:] AS keys
        WHERE op > 0
       UNION ALL
       SELECT array_agg(u.r ORDER BY u.n), array_agg(u.k ORDER BY u.n)
         FROM unnest(g.neg_ranks, g.keys) WITH ORDINALITY AS u(r, k, n)
        WHERE op < 0 AND u.k <> item
       HAVING count(*) > 0) m
    UNION ALL
    SELECT e.lexeme, ARRAY[e.neg_rank], ARRAY[item] FROM entry e
     WHERE op > 0 AND NOT EXISTS (SELECT 1 FROM target t WHERE t.lexeme = e.lexeme)
  )
  INSERT INTO term_pages (kind, lexeme, last_neg_rank, last_key, neg_ranks, keys)
  SELECT kind_, m.lexeme, s.ranks[cardinality(s.ranks)], s.keys[cardinality(s.keys)], s.ranks, s.keys
    FROM merged m
   CROSS JOIN LATERAL (
     SELECT m.ranks AS ranks, m.keys AS keys WHERE cardinality(m.keys) <= 2 * size
     UNION ALL
     SELECT m.ranks[1:size], m.keys[1:size] WHERE cardinality(m.keys) > 2 * size
     UNION ALL
     SELECT m.ranks[size + 1:], m.keys[size + 1:] WHERE cardinality(m.keys) > 2 * size) s
   WHERE cardinality(s.keys) > 0;
END $$;

-- An item's entries from its search vector: term_pages_item of each lexeme with its rank.
CREATE OR REPLACE FUNCTION term_pages_of(item_kind text, item_key text, search tsvector, op int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN  -- PL/pgSQL keeps the plan; a SQL function that cannot be inlined is planned at each call
  PERFORM term_pages_item(item_kind, item_key, array_agg(u.lexeme), array_agg(-ts_rank(search, lexeme_query(u.lexeme))), op)
     FROM unnest(search) AS u;
END $$;

-- Applies the queued entries and empties the queue. A removal names the entry as it was added
-- (same rank): that is how its page is found.
CREATE OR REPLACE FUNCTION term_pages_apply() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  size int := term_page_size();
  memory text := current_setting('work_mem');
BEGIN
  PERFORM term_changes_open();
  -- One writer at a time (the change feed's lock, which every writer holds already): a page is
  -- read, then written again.
  PERFORM lock_changes();
  -- An import's millions of entries sort in memory (on disk, the sort took twice as long).
  PERFORM set_config('work_mem', '1GB', true);
  CREATE TEMP TABLE IF NOT EXISTS term_lexemes (kind text, lexeme text, whole boolean) ON COMMIT DROP;
  CREATE TEMP TABLE IF NOT EXISTS term_targets (
    kind text, lexeme text, neg_rank real, key text, op smallint, page_rank real,
    page_key text
  ) ON COMMIT DROP;
  CREATE TEMP TABLE IF NOT EXISTS term_entries (
    kind text, lexeme text, page_rank real, page_key text, neg_rank real,
    key text
  ) ON COMMIT DROP;
  CREATE TEMP TABLE IF NOT EXISTS term_groups (
    kind text, lexeme text, page_rank real, page_key text, grp bigint, total bigint
  ) ON COMMIT DROP;
  TRUNCATE term_lexemes, term_targets, term_entries, term_groups;
  ANALYZE term_changes;
  -- The changed lexemes that have pages. One whose changes are many beside its entries (an import)
  -- is written again whole; for the others, each change goes to its page.
  INSERT INTO term_lexemes
  SELECT c.kind, c.lexeme, c.changes * 4 >= p.pages * size
    FROM (SELECT kind, lexeme, count(*) AS changes FROM term_changes GROUP BY kind, lexeme) c
   CROSS JOIN LATERAL (SELECT count(*) AS pages FROM term_pages p WHERE p.kind = c.kind AND p.lexeme = c.lexeme) p
   WHERE p.pages > 0;
  ANALYZE term_lexemes;
  -- A change's page: the first whose last entry is at or after it, else (past the end) the last.
  INSERT INTO term_targets
  SELECT c.kind, c.lexeme, c.neg_rank, c.key, c.op, t.last_neg_rank, t.last_key
    FROM term_changes c
    JOIN term_lexemes l ON l.kind = c.kind AND l.lexeme = c.lexeme AND NOT l.whole
   CROSS JOIN LATERAL (
     (SELECT p.last_neg_rank, p.last_key, 0 AS past FROM term_pages p
       WHERE p.kind = c.kind AND p.lexeme = c.lexeme AND (p.last_neg_rank, p.last_key) >= (c.neg_rank, c.key)
       ORDER BY p.last_neg_rank, p.last_key LIMIT 1)
     UNION ALL
     (SELECT p.last_neg_rank, p.last_key, 1 FROM term_pages p
       WHERE p.kind = c.kind AND p.lexeme = c.lexeme
       ORDER BY p.last_neg_rank DESC, p.last_key DESC LIMIT 1)
     ORDER BY past LIMIT 1) t;
  -- What is kept: the entries of those pages, and every entry of a lexeme written whole (no page),
  -- but those removed. Then the pages go.
  INSERT INTO term_entries
  SELECT p.kind, p.lexeme, p.last_neg_rank, p.last_key, e.neg_rank, e.key
    FROM (SELECT DISTINCT kind, lexeme, page_rank, page_key FROM term_targets) g
    JOIN term_pages p ON p.kind = g.kind AND p.lexeme = g.lexeme AND p.last_neg_rank = g.page_rank
                     AND p.last_key = g.page_key,
         unnest(p.neg_ranks, p.keys) AS e(neg_rank, key)
   WHERE NOT EXISTS (SELECT 1 FROM term_targets r
                      WHERE r.op = -1 AND r.kind = p.kind AND r.lexeme = p.lexeme AND r.key = e.key)
  UNION ALL
  SELECT p.kind, p.lexeme, NULL, NULL, e.neg_rank, e.key
    FROM term_lexemes l
    JOIN term_pages p ON p.kind = l.kind AND p.lexeme = l.lexeme,
         unnest(p.neg_ranks, p.keys) AS e(neg_rank, key)
   WHERE l.whole
     AND NOT EXISTS (SELECT 1 FROM term_changes r
                      WHERE r.op = -1 AND r.kind = p.kind AND r.lexeme = p.lexeme AND r.key = e.key);
  DELETE FROM term_pages p
   USING (SELECT DISTINCT kind, lexeme, page_rank, page_key FROM term_targets) g
   WHERE p.kind = g.kind AND p.lexeme = g.lexeme AND p.last_neg_rank = g.page_rank AND p.last_key = g.page_key;
  DELETE FROM term_pages p USING term_lexemes l WHERE l.whole AND p.kind = l.kind AND p.lexeme = l.lexeme;
  -- The groups of entries to make pages of: a page written again (page_key set), or a lexeme's
  -- entries from scratch (page_key NULL); numbered, with their counts, so that the entries sort by
  -- that number rather than by the lexeme's text (a third of the time, over millions of entries).
  INSERT INTO term_groups
  SELECT kind, lexeme, page_rank, page_key, row_number() OVER (), count(*)
    FROM (SELECT kind, lexeme, page_rank, page_key FROM term_entries
          UNION ALL
          SELECT kind, lexeme, page_rank, page_key FROM term_targets WHERE op = 1
          UNION ALL
          SELECT c.kind, c.lexeme, NULL, NULL FROM term_changes c
           WHERE c.op = 1
             AND NOT EXISTS (SELECT 1 FROM term_lexemes l WHERE l.kind = c.kind AND l.lexeme = c.lexeme AND NOT l.whole)) e
   GROUP BY kind, lexeme, page_rank, page_key;
  ANALYZE term_groups;
  -- Each group's entries in order, cut into pages again when past twice the size.
  INSERT INTO term_pages (kind, lexeme, last_neg_rank, last_key, neg_ranks, keys)
  SELECT g.kind, g.lexeme, a.ranks[cardinality(a.ranks)], a.keys[cardinality(a.keys)], a.ranks, a.keys
    FROM (SELECT grp, array_agg(neg_rank ORDER BY n) AS ranks, array_agg(key ORDER BY n) AS keys
            FROM (SELECT grp, neg_rank, key, n, CASE WHEN total <= 2 * size THEN 0 ELSE n / size END AS part
                    FROM (SELECT e.*, row_number() OVER (PARTITION BY e.grp ORDER BY e.neg_rank, e.key) - 1 AS n
                            FROM (SELECT g.grp, g.total, e.neg_rank, e.key FROM term_entries e
                                    JOIN term_groups g ON g.kind = e.kind AND g.lexeme = e.lexeme
                                                      AND g.page_rank = e.page_rank AND g.page_key = e.page_key
                                  UNION ALL
                                  SELECT g.grp, g.total, e.neg_rank, e.key FROM term_entries e
                                    JOIN term_groups g ON g.kind = e.kind AND g.lexeme = e.lexeme AND g.page_key IS NULL
                                   WHERE e.page_key IS NULL
                                  UNION ALL
                                  SELECT g.grp, g.total, t.neg_rank, t.key FROM term_targets t
                                    JOIN term_groups g ON g.kind = t.kind AND g.lexeme = t.lexeme
                                                      AND g.page_rank = t.page_rank AND g.page_key = t.page_key
                                   WHERE t.op = 1
                                  UNION ALL
                                  SELECT g.grp, g.total, c.neg_rank, c.key FROM term_changes c
                                    JOIN term_groups g ON g.kind = c.kind AND g.lexeme = c.lexeme AND g.page_key IS NULL
                                   WHERE c.op = 1) e) x) y
           GROUP BY grp, part) a
    JOIN term_groups g ON g.grp = a.grp;
  TRUNCATE term_changes;
  PERFORM set_config('work_mem', memory, true);
END $$;

-- Every entry made again from the stored vectors: clauses' and search_items'.
CREATE OR REPLACE FUNCTION term_pages_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('work_mem', '256MB', true);
  DELETE FROM term_pages;
  PERFORM term_changes_open();
  INSERT INTO term_changes (kind, lexeme, neg_rank, key, op)
  SELECT 'clause', u.lexeme, -ts_rank(c.search, lexeme_query(u.lexeme)), c.id, 1
    FROM clauses c, unnest(c.search) AS u WHERE c.deleted_at IS NULL AND c.search IS NOT NULL;
  INSERT INTO term_changes (kind, lexeme, neg_rank, key, op)
  SELECT 'item', u.lexeme, -ts_rank(i.search, lexeme_query(u.lexeme)), i.type || ':' || i.id, 1
    FROM search_items i, unnest(i.search) AS u;
  PERFORM term_pages_apply();
END $$;

-- The entries, one row each, under the names of the tables term_pages replaced (migration 0019).
CREATE OR REPLACE VIEW clause_search_terms (term, neg_rank, clause_id) AS
SELECT lexeme_query(p.lexeme), e.neg_rank, e.key
  FROM term_pages p, unnest(p.neg_ranks, p.keys) AS e(neg_rank, key)
 WHERE p.kind = 'clause';

CREATE OR REPLACE VIEW search_terms (term, neg_rank, type, id) AS
SELECT lexeme_query(p.lexeme), e.neg_rank, split_part(e.key, ':', 1), substr(e.key, strpos(e.key, ':') + 1)
  FROM term_pages p, unnest(p.neg_ranks, p.keys) AS e(neg_rank, key)
 WHERE p.kind = 'item';

-- Keeps a clause's entries in step with its search vector and tombstone.
CREATE OR REPLACE FUNCTION sync_clause_search_terms() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF bulk_importing() THEN  -- bulk_import writes the entries of the clauses it writes
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.search IS NOT DISTINCT FROM NEW.search
     AND (OLD.deleted_at IS NULL) = (NEW.deleted_at IS NULL) THEN
    RETURN NULL;  -- the same entries
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL AND OLD.search IS NOT NULL THEN
    PERFORM term_pages_of('clause', OLD.id, OLD.search, -1);
  END IF;
  IF NEW.deleted_at IS NULL AND NEW.search IS NOT NULL THEN
    PERFORM term_pages_of('clause', NEW.id, NEW.search, 1);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER clauses_search_terms AFTER INSERT OR UPDATE OF search, deleted_at ON clauses
  FOR EACH ROW EXECUTE FUNCTION sync_clause_search_terms();

-- The lexemes a tsquery names ('deploy' & !'forc' → {deploy, forc}), as its text writes them.
CREATE OR REPLACE FUNCTION tsquery_lexemes(query tsquery) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT replace(replace(m[1], '''''', ''''), '\\', '\')), '{}')
    FROM regexp_matches(query::text, '''((?:[^''\\]|''''|\\.)*)''', 'g') AS m
$$;
