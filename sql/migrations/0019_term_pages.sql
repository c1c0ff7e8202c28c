-- The one-word search index in pages (issue 17).
--
-- clause_search_terms and search_terms (migrations 0009 and 0016) held one row per lexeme of each
-- live item, with minus its rank: a one-word search read its page as an index range. Writing them
-- was most of what an import cost: about 40 rows an item in each, two B-trees of 2 million entries
-- at the bench kit's P=2,000, about 900 MB and 30 s of a 76 s import. term_pages keeps the same
-- entries in the same order, a page of 50 to 100 to a row (sql/functions/search.sql): a
-- search reads the first page at or after its keyset position and unnests it, and an import
-- writes about a fiftieth of the rows. The two old names remain, as views of the entries
-- (sql/functions/search.sql), for whoever reads them.
CREATE TABLE term_pages (
  kind          text NOT NULL CHECK (kind IN ('clause', 'item')),  -- clause: GET /v1/clauses?q=; item: GET /v1/search
  lexeme        text NOT NULL,
  last_neg_rank real NOT NULL,    -- the page's last entry: a lexeme's pages follow each other in its order
  last_key      text NOT NULL,
  neg_ranks     real[] NOT NULL,  -- each entry's -ts_rank(search, lexeme_query(lexeme)): best first
  keys          text[] NOT NULL,  -- each entry's item: a clause's id; for kind item, type || ':' || id
  PRIMARY KEY (kind, lexeme, last_neg_rank, last_key)
);
-- An item's key sorts as its (type, id) would: no type's name is the start of another's.

-- What bulk_import computes for each clause it writes, in one value (bulk_clause_fields,
-- sql/functions/bulk.sql).
CREATE TYPE bulk_clause_fields AS (
  doc json, search tsvector, snippet_words text[], snippet_lexemes text[], snippet_source text,
  title text, entry_search tsvector, entry_snippet text
);

DROP TABLE clause_search_terms;
DROP TABLE search_terms;

-- after sql/functions
SELECT term_pages_rebuild();
