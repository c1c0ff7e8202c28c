-- Search snippets are HTML: the stored text escaped, with no tags but our own <mark> and </mark>.
--
-- A snippet (`search.snippet` of a clause or statement) is documented as HTML with the matches in
-- <mark>…</mark>, so a client may put it into a page as it is. Until now the stored text went into
-- it unescaped: a clause or statement holding `<img src=x onerror=…>` put that markup into every
-- page that showed it. Now `&`, `<`, `>`, `"` and `'` of the text are escaped (html_escape), and
-- the only tags in a snippet are the marks added here.
--
-- Escaping must not change which words match, so it happens after the words are found:
-- - snippet_words (migration 0010) now holds each token escaped: escaping works character by
--   character, so the escaped tokens join into the escaped text, and clause_snippet marks whole
--   tokens, which it still finds by their lexemes (snippet_lexemes, unchanged). This costs nothing
--   per search: the escaping is done once, when a clause is written.
-- - ts_headline (statements, and clauses whose tokens would not join back) marks the matches with
--   the control characters U+0001 and U+0002, taken out of the text beforehand (each becomes a
--   space: the parser reads both as blanks between words anyway, so no word changes); its result
--   is escaped, then those two are turned into <mark> and </mark> (html_headline).

-- The text with the five characters HTML gives a meaning escaped; nothing else changes.
CREATE FUNCTION html_escape(source text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT replace(replace(replace(replace(replace(source, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                                 '"', '&quot;'), '''', '&#x27;')
$$;

-- Each token escaped, in order: what snippet_words holds.
CREATE FUNCTION html_escape_tokens(words text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(html_escape(w) ORDER BY n), '{}') FROM unnest(words) WITH ORDINALITY AS u(w, n)
$$;

-- ts_headline's snippet (up to two passages of 6 to 24 words) as HTML, with the matches marked.
CREATE FUNCTION html_headline(source text, query tsquery) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT replace(replace(html_escape(ts_headline('english', translate(source, E'\x01\x02', '  '), query,
                                                 E'StartSel=\x01, StopSel=\x02, MaxFragments=2, MinWords=6, MaxWords=24')),
                         E'\x01', '<mark>'),
                 E'\x02', '</mark>')
$$;

CREATE OR REPLACE FUNCTION set_clause_snippet_tokens() RETURNS trigger
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
    NEW.snippet_words := html_escape_tokens(parsed.words);
    NEW.snippet_lexemes := parsed.lexemes;
  END IF;
  RETURN NEW;
END $$;

-- Only snippet_words changes: no trigger on clauses fires for it.
UPDATE clauses SET snippet_words = html_escape_tokens(snippet_words)
 WHERE snippet_words IS NOT NULL AND array_to_string(snippet_words, '') ~ '[&<>"'']';
