-- Search snippets for clauses from words parsed once, when the clause is written.
--
-- A clause search result carries a highlighted snippet of the clause's label, excerpts and
-- summary. ts_headline parsed and stemmed that text again for every result of every search:
-- about 150 µs a clause, three quarters of a search's database time. The parse is the same
-- every time, so it is done here when the representation changes: the text as its parser
-- tokens (`snippet_words`, which join back into the text) and, beside each, the lexeme the
-- `english` configuration gives it (`snippet_lexemes`, NULL for spaces, punctuation and stop
-- words). A search then finds the query's lexemes with array_positions and marks those words.
--
-- The snippet: up to two fragments of about 6 words before and 18 after a match (to the start
-- or the end of the text when that is a few words away), joined by ' … ', each match in
-- <mark>…</mark>; the opening words when no word of the text matches
-- (a clause found by its topics). Where the tokens would not join back into the text, the
-- arrays stay NULL and the search falls back to ts_headline (sql/queries/clauses.sql).

ALTER TABLE clauses ADD COLUMN snippet_words text[], ADD COLUMN snippet_lexemes text[];

-- The text a clause's snippet is cut from, read from its representation.
CREATE FUNCTION clause_snippet_source(doc json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT concat_ws(' … ', doc->>'label',
                   (SELECT string_agg(e->>'text', ' … ' ORDER BY n)
                      FROM json_array_elements(doc->'excerpts') WITH ORDINALITY AS u(e, n)),
                   doc->>'summary')
$$;

-- The parser's tokens without the compound ones (a hyphenated word, a whole URL) whose parts
-- follow them, so the words join back into the text; each with its lexeme, by the dictionary
-- the `english` configuration maps its token type to (pg_ts_config_map).
CREATE FUNCTION snippet_tokens(source text, OUT words text[], OUT lexemes text[])
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT array_agg(p.token ORDER BY p.n),
         array_agg(CASE WHEN p.tokid IN (1, 2, 10, 11) THEN (ts_lexize('english_stem', p.token))[1]
                        WHEN p.tokid IN (3, 4, 6, 7, 8, 9, 18, 19, 20, 21, 22) THEN (ts_lexize('simple', p.token))[1]
                   END ORDER BY p.n)
    FROM ts_parse('default', source) WITH ORDINALITY AS p(tokid, token, n)
   WHERE p.tokid NOT IN (5, 15, 16, 17)
$$;

CREATE FUNCTION set_clause_snippet_tokens() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  source text := clause_snippet_source(NEW.doc);
  parsed record;
BEGIN
  parsed := snippet_tokens(coalesce(source, ''));
  IF source IS NULL OR array_to_string(parsed.words, '') IS DISTINCT FROM source THEN
    NEW.snippet_words := NULL;
    NEW.snippet_lexemes := NULL;
  ELSE
    NEW.snippet_words := parsed.words;
    NEW.snippet_lexemes := parsed.lexemes;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER clauses_snippet_tokens BEFORE INSERT OR UPDATE OF doc ON clauses
  FOR EACH ROW EXECUTE FUNCTION set_clause_snippet_tokens();

-- The lexemes a tsquery names ('deploy' & !'forc' → {deploy, forc}), as its text writes them.
CREATE FUNCTION tsquery_lexemes(query tsquery) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT replace(replace(m[1], '''''', ''''), '\\', '\')), '{}')
    FROM regexp_matches(query::text, '''((?:[^''\\]|''''|\\.)*)''', 'g') AS m
$$;

-- `wanted`: tsquery_lexemes of the query, computed once per search rather than once per result.
-- Only simple expressions run for one lexeme, which PL/pgSQL evaluates without the executor.
CREATE FUNCTION clause_snippet(words text[], lexemes text[], wanted text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  lexeme text;
  hits int[] := '{}';
  hit int;
  marked text[] := words;
  fragments text[] := '{}';
  first int;
  shown int := 0;  -- the last token already in a fragment
BEGIN
  FOREACH lexeme IN ARRAY wanted LOOP
    hits := hits || array_positions(lexemes, lexeme);
  END LOOP;
  IF cardinality(hits) = 0 THEN
    RETURN btrim(array_to_string(words[1:47], ''));
  END IF;
  IF cardinality(wanted) > 1 THEN
    hits := ARRAY(SELECT DISTINCT h FROM unnest(hits) AS h ORDER BY h);
  END IF;
  FOREACH hit IN ARRAY hits LOOP
    marked[hit] := '<mark>' || words[hit] || '</mark>';
  END LOOP;
  FOREACH hit IN ARRAY hits LOOP
    CONTINUE WHEN hit <= shown;
    EXIT WHEN cardinality(fragments) = 2;
    first := CASE WHEN hit - 12 <= 8 THEN 1 ELSE greatest(shown + 1, hit - 12) END;  -- no stub of a start
    shown := CASE WHEN hit + 36 >= cardinality(words) - 8 THEN cardinality(words) ELSE hit + 36 END;  -- or end
    fragments := fragments || btrim(array_to_string(marked[first:shown], ''));
  END LOOP;
  RETURN array_to_string(fragments, ' … ');
END $$;

UPDATE clauses c SET (snippet_words, snippet_lexemes) = (
  SELECT CASE WHEN array_to_string(t.words, '') = s.source THEN t.words END,
         CASE WHEN array_to_string(t.words, '') = s.source THEN t.lexemes END
    FROM clause_snippet_source(c.doc) AS s(source), snippet_tokens(s.source) AS t)
 WHERE c.doc IS NOT NULL;
