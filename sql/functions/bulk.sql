-- Importing new items set-wise: what `proposals-api import` (api/store/dataset.py, BulkImporter)
-- does with a batch of validated records instead of one save_<collection> call each.
--
-- The importer copies the batch into the temporary table import_stage (one row per change, `ord`
-- its place in the file) and calls bulk_import once for it. Every row is a whole record of a
-- source, a party, a proposal (with its clauses) or a talk that does not exist yet, all in one
-- changeset; the importer sends anything else (patches, deletions, items that exist, answers,
-- memberships) through the per-record functions, in file order, and replays a batch record by
-- record when it fails here, so that the error is the one the per-record path gives.
--
-- For such a batch the result is what the per-record path gives, row for row (tests/test_bulk_import.py
-- compares every table): each item gets revision 1 valid from its change's `valid_from`, with its
-- note; a proposal's clauses come before the proposal in `revisions` (by seq), in list order; the
-- search entries, terms and snippet tokens are those the triggers would write. Each row is
-- written once and given its representation by one UPDATE per table, with the triggers standing
-- aside (`proposals.bulk`, transaction-local, on only inside this function): they would rebuild
-- the search data row by row.

-- Whether the row triggers that keep search data should leave it to bulk_import.
CREATE OR REPLACE FUNCTION bulk_importing() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('proposals.bulk', true), '') = 'on'
$$;

-- Statistics for the tables an import has made more than twice as large as Postgres last saw
-- them. A plan cached in this session (a doc_* function's queries, planned at its first calls) was
-- made for the sizes then: for a table that was empty, a sequential scan, which on a database that
-- starts empty (a mirror's first copy) cost a clause 14 ms instead of 0.8 ms. ANALYZE gives the new
-- sizes and makes the plans that read the table be made again; doubling keeps the number of
-- ANALYZEs a table gets logarithmic in its growth.
CREATE OR REPLACE FUNCTION analyze_grown(tables regclass[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  t regclass;
BEGIN
  FOREACH t IN ARRAY tables LOOP
    IF (SELECT pg_relation_size(t) / current_setting('block_size')::int > 2 * greatest(relpages, 4)
          FROM pg_class WHERE oid = t) THEN
      EXECUTE format('ANALYZE %s', t);
    END IF;
  END LOOP;
END $$;

-- The ids a list field of the staged records names (`source_ids`, `party_ids`, …), as the rows of
-- the link table `target` (its columns: the owner's id, the id listed, its place in the list).
CREATE OR REPLACE FUNCTION bulk_links(target text, collection text, field text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('INSERT INTO %s SELECT s.id, u.x, u.n FROM %s s, unnest(text_array(s.record->%L)) WITH ORDINALITY AS u(x, n)'
                 ' WHERE %s', target, CASE collection WHEN 'clauses' THEN 'import_clauses' ELSE 'import_stage' END, field,
                 CASE collection WHEN 'clauses' THEN 'true' ELSE format('s.collection = %L', collection) END);
END $$;

-- What bulk_import stores for a clause beside its row (the type: migration 0019): its
-- representation, its search vector (from the record, as write_clause computes it), its snippet
-- tokens (from the representation, as the trigger does) and its search entry (search_document, as
-- search_put builds it). One function returning one value, so that a parallel worker computes
-- all of it (a LATERAL subquery per part kept them in the leader); its cost tells the planner so.
CREATE OR REPLACE FUNCTION bulk_clause_fields(x clauses, record jsonb) RETURNS bulk_clause_fields
LANGUAGE plpgsql STABLE PARALLEL SAFE COST 10000 AS $$
DECLARE
  f bulk_clause_fields;
  parsed record;
  entry record;
BEGIN
  f.doc := doc_clauses(x);
  f.search := clause_search_vector(record);
  f.snippet_source := clause_snippet_source(f.doc);
  parsed := search_snippet_fields(f.snippet_source);
  f.snippet_words := parsed.words;
  f.snippet_lexemes := parsed.lexemes;
  entry := search_document('clauses', f.doc);
  f.title := entry.title;
  f.entry_search := entry.search;
  f.entry_snippet := entry.snippet;
  RETURN f;
END $$;

CREATE OR REPLACE FUNCTION bulk_import(cs bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('proposals.bulk', 'on', true);
  PERFORM set_config('work_mem', '256MB', true);
  CREATE TEMP TABLE IF NOT EXISTS import_pending_terms (type text, id text) ON COMMIT DROP;

  -- The clauses of the staged proposals, each with its place in the file (ord, n). Unlogged
  -- rather than temporary, so that parallel workers can read it (below); made in this transaction,
  -- under the change feed's lock, and dropped by bulk_import_terms before it commits.
  CREATE UNLOGGED TABLE IF NOT EXISTS import_clauses (
    ord int, n int, id slug, proposal_id slug, valid_from timestamptz, note text, record jsonb
  );
  TRUNCATE import_clauses;
  INSERT INTO import_clauses
  SELECT s.ord, u.n, (u.c->>'id')::slug, s.id, s.valid_from, s.note, u.c || jsonb_build_object('proposal_id', s.id)
    FROM import_stage s, jsonb_array_elements(s.record->'clauses') WITH ORDINALITY AS u(c, n)
   WHERE s.collection = 'proposals' AND jsonb_typeof(s.record->'clauses') = 'array';
  ANALYZE import_clauses;

  -- Sources.
  INSERT INTO sources (id, publisher, title, url, published_on, description, revision, updated_at)
  SELECT s.id, r->>'publisher', r->>'title', r->>'url', (r->>'published_on')::date, r->>'description', 1, s.valid_from
    FROM import_stage s, LATERAL (SELECT s.record AS r) x WHERE s.collection = 'sources' ORDER BY s.ord;
  UPDATE sources t SET doc = doc_sources(t) FROM import_stage s WHERE s.collection = 'sources' AND t.id = s.id;

  -- Parties (the importer sends those that join a group record by record).
  INSERT INTO parties (id, name, short_name, kind, revision, updated_at)
  SELECT s.id, r->>'name', r->>'short_name', r->>'kind', 1, s.valid_from
    FROM import_stage s, LATERAL (SELECT s.record AS r) x WHERE s.collection = 'parties' ORDER BY s.ord;
  PERFORM bulk_links('party_sources (party_id, source_id, position)', 'parties', 'source_ids');
  UPDATE parties t SET doc = doc_parties(t) FROM import_stage s WHERE s.collection = 'parties' AND t.id = s.id;

  -- Proposals, then their clauses.
  INSERT INTO proposals (id, title, short_title, proposer_id, document_type, status,
                         handed_over_on, published_on, summary, revision, updated_at)
  SELECT s.id, r->>'title', r->>'short_title', r->>'proposer_id', r->>'document_type', r->>'status',
         (r->>'handed_over_on')::date, (r->>'published_on')::date, r->>'summary', 1, s.valid_from
    FROM import_stage s, LATERAL (SELECT s.record AS r) x WHERE s.collection = 'proposals' ORDER BY s.ord;
  PERFORM bulk_links('proposal_addressees (proposal_id, party_id, position)', 'proposals', 'addressee_ids');
  PERFORM bulk_links('proposal_responses (proposal_id, responds_to_id, position)', 'proposals', 'in_response_to');
  PERFORM bulk_links('proposal_sources (proposal_id, source_id, position)', 'proposals', 'source_ids');

  INSERT INTO clauses (id, proposal_id, position, label, summary, topics, revision, updated_at)
  SELECT c.id, c.proposal_id, (c.record->>'position')::numeric::int, c.record->>'label', c.record->>'summary',
         text_array(c.record->'topics'), 1, c.valid_from
    FROM import_clauses c ORDER BY c.ord, c.n;
  PERFORM bulk_links('clause_obligations (clause_id, party_id, position)', 'clauses', 'obligated_party_ids');
  INSERT INTO clause_excerpts (clause_id, position, text, source_id)
  SELECT c.id, u.n, u.e->>'text', u.e->>'source_id'
    FROM import_clauses c, jsonb_array_elements(coalesce(c.record->'excerpts', '[]')) WITH ORDINALITY AS u(e, n);
  PERFORM bulk_links('clause_sources (clause_id, source_id, position)', 'clauses', 'source_ids');
  PERFORM analyze_grown('{sources, parties, party_sources, proposals, proposal_addressees, proposal_responses,
                          proposal_sources, clauses, clause_obligations, clause_excerpts, clause_responses,
                          clause_sources}');
  -- What each clause stores beside its row: most of what an import costs, and each clause's
  -- alone, so made by parallel workers (CREATE TABLE AS may use them, an UPDATE may not).
  CREATE TEMP TABLE import_clause_fields ON COMMIT DROP AS
  SELECT c.id, bulk_clause_fields(x, c.record) AS f
    FROM import_clauses c
    JOIN clauses x ON x.id = c.id;
  UPDATE clauses t SET doc = (i.f).doc, search = (i.f).search, snippet_words = (i.f).snippet_words,
                       snippet_lexemes = (i.f).snippet_lexemes
    FROM import_clause_fields i
   WHERE t.id = i.id;
  UPDATE proposals t SET doc = doc_proposals(t) FROM import_stage s WHERE s.collection = 'proposals' AND t.id = s.id;

  -- Talks.
  INSERT INTO talks (id, title, format, starts_on, ends_on, location, status, chair_name, chair_id, chair_role,
                     summary, revision, updated_at)
  SELECT s.id, r->>'title', r->>'format', (r->>'starts_on')::date, (r->>'ends_on')::date, r->>'location',
         r->>'status', r->'chair'->>'name', r->'chair'->>'person_id', r->'chair'->>'role', r->>'summary', 1, s.valid_from
    FROM import_stage s, LATERAL (SELECT s.record AS r) x WHERE s.collection = 'talks' ORDER BY s.ord;
  PERFORM bulk_links('talk_parties (talk_id, party_id, position)', 'talks', 'party_ids');
  PERFORM bulk_links('talk_proposals (talk_id, proposal_id, position)', 'talks', 'proposal_ids');
  INSERT INTO talk_delegations (talk_id, party_id, head, head_id, head_role, position)
  SELECT s.id, u.d->>'party_id', u.d->>'head', u.d->>'head_id', u.d->>'head_role', u.n
    FROM import_stage s, jsonb_array_elements(coalesce(s.record->'delegations', '[]')) WITH ORDINALITY AS u(d, n)
   WHERE s.collection = 'talks';
  PERFORM bulk_links('talk_sources (talk_id, source_id, position)', 'talks', 'source_ids');
  PERFORM analyze_grown('{talks, talk_parties, talk_proposals, talk_delegations, talk_sources}');
  UPDATE talks t SET doc = doc_talks(t) FROM import_stage s WHERE s.collection = 'talks' AND t.id = s.id;

  -- Revision 1 of every item, in the order the per-record path writes them: change by change,
  -- a proposal's clauses (in list order) before the proposal.
  INSERT INTO revisions (collection, item_id, revision, changeset_id, valid_from, note, snapshot)
  SELECT i.coll, i.id, 1, cs, i.valid_from, i.note, i.doc
    FROM (SELECT s.ord, 0 AS n, s.collection AS coll, s.id, s.valid_from, s.note,
                 CASE s.collection WHEN 'sources' THEN (SELECT doc FROM sources WHERE id = s.id)
                                   WHEN 'parties' THEN (SELECT doc FROM parties WHERE id = s.id)
                                   WHEN 'proposals' THEN (SELECT doc FROM proposals WHERE id = s.id)
                                   WHEN 'talks' THEN (SELECT doc FROM talks WHERE id = s.id) END AS doc
            FROM import_stage s
          UNION ALL
          SELECT c.ord, -1000000 + c.n, 'clauses', c.id, c.valid_from, c.note, x.doc
            FROM import_clauses c JOIN clauses x ON x.id = c.id) i
   ORDER BY i.ord, i.n;

  -- Search. Each lexeme's one-word query is made once for the batch, not once per item that has it.
  CREATE TEMP TABLE IF NOT EXISTS import_items (
    type text, coll text, id text, doc json, title text, search tsvector, snippet text, words text[], lexemes text[]
  ) ON COMMIT DROP;
  TRUNCATE import_items;
  -- Every item's entry, as search_put builds it; a clause's as made above, with the snippet
  -- tokens stored with it when they come from the same text (clause_snippet_source of its
  -- representation, as search_document stands), not parsed again.
  INSERT INTO import_items
  SELECT 'clause', 'clauses', i.id, (i.f).doc, (i.f).title, (i.f).entry_search, (i.f).entry_snippet,
         CASE WHEN same THEN (i.f).snippet_words ELSE (search_snippet_fields((i.f).entry_snippet)).words END,
         CASE WHEN same THEN (i.f).snippet_lexemes ELSE (search_snippet_fields((i.f).entry_snippet)).lexemes END
    FROM import_clause_fields i
   CROSS JOIN LATERAL (SELECT (i.f).entry_snippet IS NOT DISTINCT FROM (i.f).snippet_source AS same OFFSET 0) k;
  DROP TABLE import_clause_fields;
  INSERT INTO import_items
  SELECT i.type, i.coll, i.id, i.doc, e.title, e.search, e.snippet, p.words, p.lexemes
    FROM (SELECT CASE s.collection WHEN 'sources' THEN 'source' WHEN 'parties' THEN 'party'
                                   WHEN 'proposals' THEN 'proposal' WHEN 'talks' THEN 'talk' END AS type,
                 s.collection AS coll, s.id,
                 CASE s.collection WHEN 'sources' THEN (SELECT doc FROM sources WHERE id = s.id)
                                   WHEN 'parties' THEN (SELECT doc FROM parties WHERE id = s.id)
                                   WHEN 'proposals' THEN (SELECT doc FROM proposals WHERE id = s.id)
                                   WHEN 'talks' THEN (SELECT doc FROM talks WHERE id = s.id) END AS doc
            FROM import_stage s) i
   CROSS JOIN LATERAL search_document(i.coll, i.doc) e
   CROSS JOIN LATERAL search_snippet_fields(e.snippet) p;
  INSERT INTO search_items (type, id, collection, title, search, snippet_source, snippet_words, snippet_lexemes)
  SELECT type, id, coll, title, search, snippet, words, lexemes FROM import_items;

  -- Their terms wait for bulk_import_terms.
  INSERT INTO import_pending_terms SELECT type, id FROM import_items;

  PERFORM set_config('proposals.bulk', 'off', true);
END $$;

-- The one-word search entries (term_pages, sql/functions/search.sql) of the items bulk_import
-- wrote since it was last called: the importer calls it before it writes anything record by
-- record (whose triggers keep the entries of what they touch) and at the end. Sent in one batch,
-- the entries of a whole import are sorted once and written as pages of 50 to 100.
CREATE OR REPLACE FUNCTION bulk_import_terms() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS import_pending_terms (type text, id text) ON COMMIT DROP;
  PERFORM set_config('work_mem', '256MB', true);
  ANALYZE import_pending_terms;
  -- Each lexeme (ts_stat lists those of a set of vectors in a sixth of the time unnest and a UNION
  -- of millions of rows take) and its one-word query, made once rather than once per item that has it.
  CREATE TEMP TABLE IF NOT EXISTS import_lexemes (lexeme text PRIMARY KEY, term tsquery) ON COMMIT DROP;
  TRUNCATE import_lexemes;
  INSERT INTO import_lexemes
  SELECT u.word, lexeme_query(u.word)
    FROM (SELECT word FROM ts_stat('SELECT i.search FROM import_pending_terms p
                                      JOIN search_items i ON i.type = p.type AND i.id = p.id')
          UNION
          SELECT word FROM ts_stat('SELECT x.search FROM import_pending_terms p
                                      JOIN clauses x ON x.id = p.id::slug WHERE p.type = ''clause''')) u;
  ANALYZE import_lexemes;
  PERFORM term_changes_open();
  INSERT INTO term_changes (kind, lexeme, neg_rank, key, op)
  SELECT 'item', l.lexeme, -ts_rank(i.search, l.term), i.type || ':' || i.id, 1
    FROM import_pending_terms p
    JOIN search_items i ON i.type = p.type AND i.id = p.id,
         unnest(i.search) AS u JOIN import_lexemes l ON l.lexeme = u.lexeme;
  INSERT INTO term_changes (kind, lexeme, neg_rank, key, op)
  SELECT 'clause', l.lexeme, -ts_rank(x.search, l.term), x.id, 1
    FROM import_pending_terms p
    JOIN clauses x ON x.id = p.id::slug,
         unnest(x.search) AS u JOIN import_lexemes l ON l.lexeme = u.lexeme
   WHERE p.type = 'clause' AND x.deleted_at IS NULL;
  PERFORM term_pages_apply();
  TRUNCATE import_pending_terms;
  DROP TABLE IF EXISTS import_clauses;  -- bulk_import's, made in this transaction
END $$;
