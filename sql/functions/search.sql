-- Full-text search: the search vectors and the index of single-word ranks.
--
-- `GET /v1/clauses?q=word` ranks clauses by ts_rank(search, query), best first. For a query of one
-- lexeme (most searches) that rank depends on nothing but the clause's own search vector, so it is
-- computed when the clause is written: clause_search_terms holds one row per lexeme of each live
-- clause, with minus its rank, in order by its primary key. A page is then an index range of
-- `limit` rows, however many clauses match and however deep the page. Queries of several lexemes,
-- or with filters, rank the matches (sql/queries/clauses.sql chooses). The trigger below keeps the
-- rows in step with clauses.search and deleted_at, whoever writes them.

-- The query for one lexeme alone, as websearch_to_tsquery would give it: the lexeme quoted, with
-- its quotes and backslashes escaped for the tsquery parser. (Only immutable parts, so it is inlined.)
CREATE OR REPLACE FUNCTION lexeme_query(lexeme text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ('''' || regexp_replace(lexeme, '([''\\])', '\\\1', 'g') || '''')::tsquery
$$;

-- Keeps clause_search_terms in step with a clause's search vector and tombstone.
CREATE OR REPLACE FUNCTION sync_clause_search_terms() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF bulk_importing() THEN  -- bulk_import writes the terms of the clauses it writes
    RETURN NULL;
  END IF;
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

CREATE OR REPLACE TRIGGER clauses_search_terms AFTER INSERT OR UPDATE OF search, deleted_at ON clauses
  FOR EACH ROW EXECUTE FUNCTION sync_clause_search_terms();

-- The lexemes a tsquery names ('deploy' & !'forc' → {deploy, forc}), as its text writes them.
CREATE OR REPLACE FUNCTION tsquery_lexemes(query tsquery) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT replace(replace(m[1], '''''', ''''), '\\', '\')), '{}')
    FROM regexp_matches(query::text, '''((?:[^''\\]|''''|\\.)*)''', 'g') AS m
$$;
