-- Ranked search for a single word reads its page from an index instead of ranking every match.
--
-- `GET /v1/clauses?q=word` ranks clauses by ts_rank(search, query), best first. For a query of one
-- lexeme (most searches), ts_rank depends on nothing but the clause's own search vector, so it is
-- computed here when the clause is written: one row per lexeme of each live clause, with minus its
-- rank, kept in order by the primary key. A page is then an index range of `limit` rows, however
-- many clauses match (a topic word matches thousands) and however deep the page; before, every
-- match was fetched and ranked for every page. Queries of several lexemes, or with filters, still
-- rank the matches (sql/queries/clauses.sql chooses). A trigger keeps the rows in step with
-- clauses.search and deleted_at, whoever writes them.

-- The query for one lexeme alone, as websearch_to_tsquery would give it: the lexeme quoted, with
-- its quotes and backslashes escaped for the tsquery parser. (Only immutable parts, so it is inlined.)
CREATE FUNCTION lexeme_query(lexeme text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ('''' || regexp_replace(lexeme, '([''\\])', '\\\1', 'g') || '''')::tsquery
$$;

CREATE TABLE clause_search_terms (
  term      tsquery NOT NULL,  -- lexeme_query() of one lexeme of the clause's search vector
  neg_rank  real NOT NULL,     -- -ts_rank(search, term): ascending order is best first
  clause_id text NOT NULL,     -- a live clause (no foreign key: clauses are never deleted, only tombstoned)
  PRIMARY KEY (term, neg_rank, clause_id)
);

CREATE FUNCTION sync_clause_search_terms() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL AND OLD.search IS NOT NULL THEN
    DELETE FROM clause_search_terms t
     USING unnest(OLD.search) AS u, lexeme_query(u.lexeme) AS q
     WHERE t.term = q AND t.neg_rank = -ts_rank(OLD.search, q) AND t.clause_id = OLD.id;
  END IF;
  IF NEW.deleted_at IS NULL AND NEW.search IS NOT NULL THEN
    INSERT INTO clause_search_terms (term, neg_rank, clause_id)
    SELECT q, -ts_rank(NEW.search, q), NEW.id FROM unnest(NEW.search) AS u, lexeme_query(u.lexeme) AS q;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER clauses_search_terms AFTER INSERT OR UPDATE OF search, deleted_at ON clauses
  FOR EACH ROW EXECUTE FUNCTION sync_clause_search_terms();

INSERT INTO clause_search_terms (term, neg_rank, clause_id)
SELECT q, -ts_rank(c.search, q), c.id
  FROM clauses c, unnest(c.search) AS u, lexeme_query(u.lexeme) AS q
 WHERE c.deleted_at IS NULL AND c.search IS NOT NULL;
