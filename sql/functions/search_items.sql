-- One search across every collection: what each collection gives it, the synonyms, and the
-- triggers that keep search_items (migration 0016) and their term pages (migration 0019) in step
-- with the items.
--
-- An item's entry is built from its stored representation (`doc`) alone, by search_document:
-- a title, a weighted search vector (A: names, labels, quoted words; B: our summaries; C: topics,
-- roles, publishers) and the text its snippet is cut from. The trigger each searched table has
-- rebuilds the entry whenever `doc` or `deleted_at` is written (refresh_item writes `doc` only
-- when the representation changed), and drops it for a tombstone.
--
-- To add a collection to search (docs/architecture.md, "Adding a collection"): a WHEN branch in
-- search_document, and its trigger and backfill at the end of this file (two statements, like the
-- others'); in Python, `searchable=True` on its declaration in api/collections.py.

-- Close word forms the stemmer does not join, in words: each phrase of a group finds what every
-- other phrase of its group finds. Postgres parses the phrases itself ('expanding' becomes
-- 'expand'), so the list needs no files in the server's share directory. Keep it small: each group
-- is tested in tests/test_search.py and listed in docs/researchers.md.
CREATE OR REPLACE VIEW search_synonyms (grp, phrase) AS VALUES
  ('enlargement', 'enlargement'), ('enlargement', 'expansion'), ('enlargement', 'expanding'),
  ('enlargement', 'widening'),
  ('intermediate-range', 'intermediate-range'), ('intermediate-range', 'intermediate range'),
  ('intermediate-range', 'INF'),
  ('exercises', 'exercise'), ('exercises', 'drill'), ('exercises', 'manoeuvre'), ('exercises', 'maneuver');

-- ts_rewrite's rules (search_rewrites, migration 0016), in two passes so that no substitute is
-- rewritten again: first each phrase (longest first) becomes its group's marker, a lexeme no text
-- has; then each marker becomes the phrases of its group, OR-ed. Made again each time this file is
-- applied, so the view above is the only list.
DELETE FROM search_rewrites;
INSERT INTO search_rewrites (pass, position, target, substitute)
SELECT 1, row_number() OVER (ORDER BY numnode(websearch_to_tsquery('english', phrase)) DESC, phrase),
       websearch_to_tsquery('english', phrase), lexeme_query('synonyms:' || grp)
  FROM search_synonyms
UNION ALL
SELECT 2, row_number() OVER (ORDER BY grp), lexeme_query('synonyms:' || grp),
       string_agg('(' || websearch_to_tsquery('english', phrase)::text || ')', ' | ' ORDER BY phrase)::tsquery
  FROM search_synonyms
 GROUP BY grp;

-- A search as a tsquery: web-search syntax (words, "phrases", or, -word), stemmed, with every
-- phrase of a synonym group standing for its whole group.
CREATE OR REPLACE FUNCTION search_tsquery(q text) RETURNS tsquery
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT ts_rewrite(ts_rewrite(websearch_to_tsquery('english', q),
                               'SELECT target, substitute FROM search_rewrites WHERE pass = 1 ORDER BY position'),
                    'SELECT target, substitute FROM search_rewrites WHERE pass = 2 ORDER BY position')
$$;

-- The search without its excluded terms (`-word`, `-"a phrase"`): what hits are ranked by.
-- Ranked by the whole query, every hit of `a -b` would rank 1e-20 (ts_rank of a negation).
-- The same rule as schemas/search.py's check that a query has a word that is not excluded.
CREATE OR REPLACE FUNCTION search_positive(q text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT regexp_replace(q, '(^|\s)-("[^"]*("|$)|\S*)', '\1', 'g')
$$;

-- What an item of collection `coll` gives search, from its representation.
CREATE OR REPLACE FUNCTION search_document(coll text, doc json, OUT title text, OUT search tsvector,
                                           OUT snippet text)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  CASE coll
    WHEN 'clauses' THEN  -- titled with its proposal's short title: "Article 4, US-Russia security treaty (draft)"
      title := concat_ws(', ', doc->>'label',
                         (SELECT p.short_title FROM proposals p WHERE p.id = search_document.doc->>'proposal_id'));
      search := setweight(to_tsvector('english', coalesce(doc->>'label', '')), 'A')
             || setweight(to_tsvector('english', coalesce(
                  (SELECT string_agg(e->>'text', ' ') FROM json_array_elements(doc->'excerpts') AS e), '')), 'A')
             || setweight(to_tsvector('english', coalesce(doc->>'summary', '')), 'B')
             || setweight(to_tsvector('english', coalesce(
                  (SELECT string_agg(translate(t, '-', ' '), ' ') FROM json_array_elements_text(doc->'topics') AS t),
                  '')), 'C');
      snippet := clause_snippet_source(doc);
    WHEN 'proposals' THEN
      title := doc->>'title';
      search := setweight(to_tsvector('english', concat_ws(' ', doc->>'title', doc->>'short_title')), 'A')
             || setweight(to_tsvector('english', coalesce(doc->>'summary', '')), 'B');
      snippet := concat_ws(' … ', doc->>'title', doc->>'summary');
    WHEN 'talks' THEN
      title := doc->>'title';
      search := setweight(to_tsvector('english', coalesce(doc->>'title', '')), 'A')
             || setweight(to_tsvector('english', concat_ws(' ', doc->>'location', doc->>'summary')), 'B')
             || setweight(to_tsvector('english', concat_ws(' ', doc->>'format', doc->'chair'->>'name',
                  (SELECT string_agg(concat_ws(' ', g->>'head', g->>'head_role'), ' ')
                     FROM json_array_elements(doc->'delegations') AS g))), 'C');
      snippet := concat_ws(' … ', doc->>'title', doc->>'location', doc->>'summary');
    WHEN 'statements' THEN
      title := concat_ws(': ', doc->>'speaker', search_title(coalesce(doc->>'summary', doc->>'quote')));
      search := setweight(to_tsvector('english', concat_ws(' ', doc->>'speaker', doc->>'quote')), 'A')
             || setweight(to_tsvector('english', coalesce(doc->>'summary', '')), 'B')
             || setweight(to_tsvector('english', coalesce(doc->>'speaker_role', '')), 'C');
      snippet := concat_ws(' … ', doc->>'speaker', doc->>'quote', doc->>'summary');
    WHEN 'sources' THEN
      title := coalesce(doc->>'title', doc->>'publisher');
      search := setweight(to_tsvector('english', coalesce(doc->>'title', '')), 'A')
             || setweight(to_tsvector('english', coalesce(doc->>'description', '')), 'B')
             || setweight(to_tsvector('english', coalesce(doc->>'publisher', '')), 'C');
      snippet := concat_ws(' … ', doc->>'title', doc->>'publisher', doc->>'description');
    WHEN 'parties' THEN
      title := doc->>'name';
      search := setweight(to_tsvector('english', concat_ws(' ', doc->>'name', doc->>'short_name')), 'A');
      snippet := concat_ws(' … ', doc->>'name', doc->>'short_name');
    WHEN 'people' THEN  -- found by every spelling of their name and by their offices
      title := doc->>'name';
      search := setweight(to_tsvector('english', concat_ws(' ', doc->>'name',
                  (SELECT string_agg(spelling, ' ') FROM json_array_elements_text(doc->'other_names') spelling))), 'A')
             || setweight(to_tsvector('english', coalesce(
                  (SELECT string_agg(role->>'title', ' ') FROM json_array_elements(doc->'roles') role), '')), 'B');
      snippet := concat_ws(' … ', doc->>'name',
                   (SELECT string_agg(spelling, ', ') FROM json_array_elements_text(doc->'other_names') spelling),
                   (SELECT string_agg(role->>'title', '; ') FROM json_array_elements(doc->'roles') role));
  END CASE;
  title := coalesce(title, doc->>'id');
END $$;

-- A title cut from a longer text: its first 80 characters or so, at a word, with '…' when cut.
CREATE OR REPLACE FUNCTION search_title(source text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN length(source) <= 80 THEN source
              ELSE coalesce(substring(left(source, 81) from '^(.*\S)\s'), left(source, 80)) || ' …' END
$$;

-- Drops an item's entry and its terms.
--
-- Here and in search_put, every comparison with an argument says COLLATE "default": an id comes
-- from a `slug` column, whose collation "C" the argument carries, and a comparison in "C" cannot
-- use search_items' index (in the default collation). Without it, each item
-- written scanned the whole table (and was JIT-compiled for it): quadratic in the items.
CREATE OR REPLACE FUNCTION search_drop(item_type text, item_id text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  old search_items;
BEGIN
  DELETE FROM search_items s
   WHERE s.type = item_type COLLATE "default" AND s.id = item_id COLLATE "default" RETURNING * INTO old;
  IF FOUND THEN
    PERFORM term_pages_of('item', item_type || ':' || item_id, old.search, -1);
  END IF;
END $$;

-- Writes an item's entry and its terms, unless the entry it has is the same.
CREATE OR REPLACE FUNCTION search_put(item_type text, coll text, item_id text, doc json) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  entry record;
  old search_items;
  parsed record;
BEGIN
  entry := search_document(coll, doc);
  SELECT * INTO old FROM search_items s
   WHERE s.type = item_type COLLATE "default" AND s.id = item_id COLLATE "default";
  IF FOUND AND old.title = entry.title AND old.search = entry.search
     AND old.snippet_source IS NOT DISTINCT FROM entry.snippet THEN
    RETURN;
  END IF;
  PERFORM search_drop(item_type, item_id);
  parsed := search_snippet_fields(entry.snippet);
  INSERT INTO search_items (type, id, collection, title, search, snippet_source, snippet_words, snippet_lexemes)
  VALUES (item_type, item_id, coll, entry.title, entry.search, entry.snippet, parsed.words, parsed.lexemes);
  PERFORM term_pages_of('item', item_type || ':' || item_id, entry.search, 1);
END $$;

-- The trigger of every searched table; its argument is the collection's singular (the hit's type).
CREATE OR REPLACE FUNCTION sync_search_item() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF bulk_importing() THEN  -- bulk_import writes the entries of the items it writes
    RETURN NULL;
  END IF;
  IF NEW.deleted_at IS NOT NULL OR NEW.doc IS NULL THEN
    IF TG_OP = 'UPDATE' THEN  -- a row inserted (its doc comes with refresh_item) has no entry yet
      PERFORM search_drop(TG_ARGV[0], NEW.id);
    END IF;
  ELSE
    PERFORM search_put(TG_ARGV[0], TG_TABLE_NAME, NEW.id, NEW.doc);
  END IF;
  -- A clause's title names its proposal's short title.
  IF TG_TABLE_NAME = 'proposals' AND TG_OP = 'UPDATE'
     AND (OLD.doc->>'short_title') IS DISTINCT FROM (NEW.doc->>'short_title') THEN
    PERFORM search_put('clause', 'clauses', c.id, c.doc)
       FROM clauses c WHERE c.proposal_id = NEW.id AND c.deleted_at IS NULL AND c.doc IS NOT NULL;
  END IF;
  RETURN NULL;
END $$;

-- Fills a collection's entries when it has none yet: an existing database, or a collection just
-- added below. Applied with the other functions, at every migrate; one index probe when filled.
CREATE OR REPLACE FUNCTION search_backfill(coll text, item_type text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  item record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM search_items s WHERE s.type = item_type COLLATE "default") THEN
    FOR item IN EXECUTE format('SELECT id, doc FROM %I WHERE deleted_at IS NULL AND doc IS NOT NULL ORDER BY id', coll)
    LOOP
      PERFORM search_put(item_type, coll, item.id, item.doc);
    END LOOP;
  END IF;
END $$;

-- Empties search_items and their term pages when the functions that build an entry changed since the
-- entries were built (or were never built here): the backfills below then build them all again.
CREATE OR REPLACE FUNCTION search_rebuild_if_changed() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  current text := md5(concat_ws(E'\n',
    -- Whether it may run in a parallel worker (bulk_import) changes nothing it builds.
    replace(pg_get_functiondef('search_document(text, json)'::regprocedure), ' PARALLEL SAFE', ''),
    pg_get_functiondef('search_title(text)'::regprocedure),
    pg_get_functiondef('clause_snippet_source(json)'::regprocedure),
    pg_get_functiondef('snippet_tokens(text)'::regprocedure),
    pg_get_functiondef('html_escape_tokens(text[])'::regprocedure)));
BEGIN
  IF (SELECT digest FROM search_definition) IS DISTINCT FROM current THEN
    TRUNCATE search_items;
    DELETE FROM term_pages WHERE kind = 'item';
    INSERT INTO search_definition (digest) VALUES (current)
    ON CONFLICT (only_row) DO UPDATE SET digest = EXCLUDED.digest;
  END IF;
END $$;

SELECT search_rebuild_if_changed();

-- The searched collections: for each, its trigger (with its singular, the hits' type) and its backfill.
CREATE OR REPLACE TRIGGER proposals_search_item AFTER INSERT OR UPDATE OF doc, deleted_at ON proposals
  FOR EACH ROW EXECUTE FUNCTION sync_search_item('proposal');
SELECT search_backfill('proposals', 'proposal');

CREATE OR REPLACE TRIGGER clauses_search_item AFTER INSERT OR UPDATE OF doc, deleted_at ON clauses
  FOR EACH ROW EXECUTE FUNCTION sync_search_item('clause');
SELECT search_backfill('clauses', 'clause');

CREATE OR REPLACE TRIGGER talks_search_item AFTER INSERT OR UPDATE OF doc, deleted_at ON talks
  FOR EACH ROW EXECUTE FUNCTION sync_search_item('talk');
SELECT search_backfill('talks', 'talk');

CREATE OR REPLACE TRIGGER statements_search_item AFTER INSERT OR UPDATE OF doc, deleted_at ON statements
  FOR EACH ROW EXECUTE FUNCTION sync_search_item('statement');
SELECT search_backfill('statements', 'statement');

CREATE OR REPLACE TRIGGER sources_search_item AFTER INSERT OR UPDATE OF doc, deleted_at ON sources
  FOR EACH ROW EXECUTE FUNCTION sync_search_item('source');
SELECT search_backfill('sources', 'source');

CREATE OR REPLACE TRIGGER parties_search_item AFTER INSERT OR UPDATE OF doc, deleted_at ON parties
  FOR EACH ROW EXECUTE FUNCTION sync_search_item('party');
SELECT search_backfill('parties', 'party');

CREATE OR REPLACE TRIGGER people_search_item AFTER INSERT OR UPDATE OF doc, deleted_at ON people
  FOR EACH ROW EXECUTE FUNCTION sync_search_item('person');
SELECT search_backfill('people', 'person');
