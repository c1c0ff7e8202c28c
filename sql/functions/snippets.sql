-- Search snippets: HTML, the stored text escaped, with no tags but our own <mark> and </mark>.
--
-- A clause's snippet is cut from its label, excerpts and summary, parsed once when the clause is
-- written rather than by ts_headline for every result (about 150 µs a clause): the text as its
-- parser tokens, each escaped for HTML (`snippet_words`, which join back into the escaped text),
-- and beside each the lexeme the `english` configuration gives it (`snippet_lexemes`, NULL for
-- spaces, punctuation and stop words). A search finds the query's lexemes with array_positions
-- and marks those words: up to two fragments of about 6 words before and 18 after a match (to the
-- start or the end of the text when that is a few words away), joined by ' … '; the opening words
-- when no word of the text matches (a clause found by its topics). Where the tokens would not join
-- back into the text, the arrays stay NULL and the search falls back to html_headline, which
-- statements always use.
--
-- Escaping must not change which words match, so it happens after the words are found: tokens
-- are escaped one by one (escaping works character by character, so they still join), and
-- ts_headline marks its matches with U+0001 and U+0002 (taken out of the text beforehand: the
-- parser reads both as blanks anyway), which become the tags once its result is escaped.

-- The text with the five characters HTML gives a meaning escaped; nothing else changes.
CREATE OR REPLACE FUNCTION html_escape(source text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT replace(replace(replace(replace(replace(source, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                                 '"', '&quot;'), '''', '&#x27;')
$$;

-- Each token escaped, one by one.
CREATE OR REPLACE FUNCTION html_escape_each(words text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(html_escape(w) ORDER BY n), '{}') FROM unnest(words) WITH ORDINALITY AS u(w, n)
$$;

-- Each token escaped, in order: what snippet_words holds. Escaped all at once, joined by U+0001
-- (which escaping leaves alone) and split again, unless a token holds that character. One
-- expression, so Postgres inlines it where it is called: token by token, or as a function with a
-- FROM clause of its own, it took a fifth of the time parsing the text does. Not STRICT, which
-- would keep the CASE from being inlined (NULL still gives NULL, through html_escape_each), and
-- STABLE like array_to_string, since an IMMUTABLE function calling it is not inlined either.
CREATE OR REPLACE FUNCTION html_escape_tokens(words text[]) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN strpos(array_to_string(words, ''), E'\x01') = 0
              THEN string_to_array(html_escape(array_to_string(words, E'\x01')), E'\x01')
              ELSE html_escape_each(words) END
$$;

-- ts_headline's snippet (up to two passages of 6 to 24 words) as HTML, with the matches marked.
CREATE OR REPLACE FUNCTION html_headline(source text, query tsquery) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT replace(replace(html_escape(ts_headline('english', translate(source, E'\x01\x02', '  '), query,
                                                 E'StartSel=\x01, StopSel=\x02, MaxFragments=2, MinWords=6, MaxWords=24')),
                         E'\x01', '<mark>'),
                 E'\x02', '</mark>')
$$;

-- The text a clause's snippet is cut from, read from its representation.
CREATE OR REPLACE FUNCTION clause_snippet_source(doc json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT concat_ws(' … ', doc->>'label',
                   (SELECT string_agg(e->>'text', ' … ' ORDER BY n)
                      FROM json_array_elements(doc->'excerpts') WITH ORDINALITY AS u(e, n)),
                   doc->>'summary')
$$;

-- The parser's tokens without the compound ones (a hyphenated word, a whole URL) whose parts
-- follow them, so the words join back into the text; each with its lexeme, by the dictionary
-- the `english` configuration maps its token type to (pg_ts_config_map). Both aggregates read the
-- tokens in the order the subquery sorts them (rather than each sorting them again, a quarter of
-- the time this took).
CREATE OR REPLACE FUNCTION snippet_tokens(source text, OUT words text[], OUT lexemes text[])
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT array_agg(p.token),
         array_agg(CASE WHEN p.tokid IN (1, 2, 10, 11) THEN (ts_lexize('english_stem', p.token))[1]
                        WHEN p.tokid IN (3, 4, 6, 7, 8, 9, 18, 19, 20, 21, 22) THEN (ts_lexize('simple', p.token))[1]
                   END)
    FROM (SELECT * FROM ts_parse('default', source) WITH ORDINALITY AS p(tokid, token, n)
           WHERE p.tokid NOT IN (5, 15, 16, 17) ORDER BY p.n) p
$$;

-- A snippet text's tokens, HTML-escaped, and their lexemes: both NULL where they would not join
-- back into the text (or there is none). What a clause, and a search entry, store.
CREATE OR REPLACE FUNCTION search_snippet_fields(source text, OUT words text[], OUT lexemes text[])
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  parsed record;
BEGIN
  parsed := snippet_tokens(coalesce(source, ''));
  IF source IS NOT NULL AND array_to_string(parsed.words, '') IS NOT DISTINCT FROM source THEN
    words := html_escape_tokens(parsed.words);
    lexemes := parsed.lexemes;
  END IF;
END $$;

-- A clause's snippet tokens, from its representation.
CREATE OR REPLACE FUNCTION clause_snippet_fields(doc json, OUT words text[], OUT lexemes text[])
LANGUAGE sql STABLE AS $$
  SELECT * FROM search_snippet_fields(clause_snippet_source(doc))
$$;

-- Parses a clause's snippet text whenever its representation changes (bulk_import does it
-- set-wise for the clauses it writes).
CREATE OR REPLACE FUNCTION set_clause_snippet_tokens() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  parsed record;
BEGIN
  IF bulk_importing() THEN
    RETURN NEW;
  END IF;
  parsed := clause_snippet_fields(NEW.doc);
  NEW.snippet_words := parsed.words;
  NEW.snippet_lexemes := parsed.lexemes;
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER clauses_snippet_tokens BEFORE INSERT OR UPDATE OF doc ON clauses
  FOR EACH ROW EXECUTE FUNCTION set_clause_snippet_tokens();

-- `wanted`: tsquery_lexemes of the query, computed once per search rather than once per result.
-- Only simple expressions run for one lexeme, which PL/pgSQL evaluates without the executor.
CREATE OR REPLACE FUNCTION clause_snippet(words text[], lexemes text[], wanted text[]) RETURNS text
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
