-- One search across every collection (`GET /v1/search`).
--
-- search_items holds one row per live item of every searched collection: its type (the
-- collection's singular), id, collection (its URL segment), a title, its weighted search vector
-- and the text its snippet is cut from, parsed into words and lexemes as clauses' snippets are
-- (sql/functions/snippets.sql). search_terms is its index of single-lexeme ranks, as
-- clause_search_terms is for clauses (migration 0009): a one-word search reads its page as an
-- index range, however many items match. Triggers on each collection's table keep both in step
-- with the item's stored representation (`doc`) and tombstone; they, and what each collection
-- contributes, live in sql/functions/search_items.sql, which also fills the rows of a collection
-- that has none yet (existing databases, and a collection newly added to search) each time the
-- functions are applied: the entries are built by the current functions, never by a copy here.
-- search_definition keeps a digest of those functions, so that a change to them rebuilds every entry.

CREATE TABLE search_items (
  type            text NOT NULL,  -- the collection's singular: clause, talk, …
  id              text NOT NULL,
  collection      text NOT NULL,  -- the URL segment: /v1/<collection>/<id>
  title           text NOT NULL,
  search          tsvector NOT NULL,
  snippet_source  text,           -- what the snippet is cut from
  snippet_words   text[],         -- its tokens, HTML-escaped (NULL: ts_headline instead)
  snippet_lexemes text[],         -- each token's lexeme, or NULL
  PRIMARY KEY (type, id)
);
CREATE INDEX search_items_search_idx ON search_items USING gin (search);

CREATE TABLE search_terms (
  term     tsquery NOT NULL,  -- lexeme_query() of one lexeme of the item's search vector
  neg_rank real NOT NULL,     -- -ts_rank(search, term): ascending order is best first
  type     text NOT NULL,
  id       text NOT NULL,
  PRIMARY KEY (term, neg_rank, type, id)
);

CREATE TABLE search_definition (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  digest   text NOT NULL  -- md5 of the definitions that build an entry (sql/functions/search_items.sql)
);

-- The rules search_tsquery gives ts_rewrite, made from the search_synonyms view whenever the
-- functions are applied (sql/functions/search_items.sql): parsed once, not on every search.
CREATE TABLE search_rewrites (
  pass       smallint NOT NULL,  -- 1: a phrase to its group's marker; 2: a marker to its group
  position   integer NOT NULL,   -- the order ts_rewrite applies them in
  target     tsquery NOT NULL,
  substitute tsquery NOT NULL,
  PRIMARY KEY (pass, position)
);
