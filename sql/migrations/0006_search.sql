-- Full-text search over statements (clauses have theirs since 0001), kept by the writer.

ALTER TABLE statements ADD COLUMN search tsvector;
CREATE INDEX statements_search_idx ON statements USING gin (search);

CREATE FUNCTION statement_search(s statements) RETURNS tsvector
LANGUAGE sql IMMUTABLE AS $$
  SELECT setweight(to_tsvector('english', coalesce(s.quote, '')), 'A')
      || setweight(to_tsvector('english', s.speaker), 'A')
      || setweight(to_tsvector('english', s.summary), 'B')
      || setweight(to_tsvector('english', coalesce(s.speaker_role, '')), 'C')
$$;

UPDATE statements s SET search = statement_search(s);

CREATE OR REPLACE FUNCTION save_statements(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  sid text := r->>'id';
BEGIN
  INSERT INTO statements (id, speaker, speaker_role, party_id, said_on, kind, quote, summary)
  VALUES (sid, r->>'speaker', r->>'speaker_role', r->>'party_id', (r->>'said_on')::date,
          r->>'kind', r->>'quote', r->>'summary')
  ON CONFLICT (id) DO UPDATE SET speaker = EXCLUDED.speaker, speaker_role = EXCLUDED.speaker_role,
    party_id = EXCLUDED.party_id, said_on = EXCLUDED.said_on, kind = EXCLUDED.kind,
    quote = EXCLUDED.quote, summary = EXCLUDED.summary;
  UPDATE statements s SET search = statement_search(s) WHERE s.id = sid;
  DELETE FROM statement_proposals WHERE statement_id = sid;
  INSERT INTO statement_proposals (statement_id, proposal_id, position)
  SELECT sid, p, n FROM unnest(text_array(r->'proposal_ids')) WITH ORDINALITY AS u(p, n);
  DELETE FROM statement_talks WHERE statement_id = sid;
  INSERT INTO statement_talks (statement_id, talk_id, position)
  SELECT sid, t, n FROM unnest(text_array(r->'talk_ids')) WITH ORDINALITY AS u(t, n);
  DELETE FROM statement_sources WHERE statement_id = sid;
  INSERT INTO statement_sources (statement_id, source_id, position)
  SELECT sid, s, n FROM unnest(text_array(r->'source_ids')) WITH ORDINALITY AS u(s, n);
  PERFORM refresh_item('statements', sid, cs, vf, why);
END $$;

-- Keyset pages of clauses in document order read this index in order, however deep.
CREATE INDEX clauses_document_order_idx ON clauses (proposal_id, position, id) WHERE deleted_at IS NULL;
