-- Writing one record, in the shape the API serves, into the normalized tables, then
-- refreshing its representation and that of every item whose representation shows it.
-- Input is validated by the Marshmallow schemas before it gets here; constraints are the
-- last line of defence. Lists in the record replace the stored lists whole.

CREATE FUNCTION text_array(j jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(array_agg(x ORDER BY n), '{}') FROM jsonb_array_elements_text(j) WITH ORDINALITY AS u(x, n)
$$;

CREATE FUNCTION save_sources(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sources (id, publisher, title, url, published_on, description)
  VALUES (r->>'id', r->>'publisher', r->>'title', r->>'url', (r->>'published_on')::date, r->>'description')
  ON CONFLICT (id) DO UPDATE SET publisher = EXCLUDED.publisher, title = EXCLUDED.title,
    url = EXCLUDED.url, published_on = EXCLUDED.published_on, description = EXCLUDED.description;
  PERFORM refresh_item('sources', r->>'id', cs, vf, why);
END $$;

CREATE FUNCTION save_parties(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  pid text := r->>'id';
  touched text[];
BEGIN
  INSERT INTO parties (id, name, short_name, kind)
  VALUES (pid, r->>'name', r->>'short_name', r->>'kind')
  ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, short_name = EXCLUDED.short_name,
    kind = EXCLUDED.kind;
  SELECT coalesce(array_agg(group_id), '{}') INTO touched FROM party_memberships WHERE member_id = pid;
  DELETE FROM party_memberships WHERE member_id = pid;
  INSERT INTO party_memberships (member_id, group_id)
  SELECT pid, g FROM unnest(text_array(r->'member_of')) AS g;
  DELETE FROM party_sources WHERE party_id = pid;
  INSERT INTO party_sources (party_id, source_id, position)
  SELECT pid, s, n FROM unnest(text_array(r->'source_ids')) WITH ORDINALITY AS u(s, n);
  PERFORM refresh_item('parties', pid, cs, vf, why);
  -- A group lists its members, so joining or leaving changes the group too.
  PERFORM refresh_item('parties', g, cs, vf, why)
     FROM (SELECT unnest(touched) UNION SELECT unnest(text_array(r->'member_of'))) AS x(g);
END $$;

-- Writes one clause and refreshes it; its proposal is refreshed by the caller.
CREATE FUNCTION write_clause(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  cid text := r->>'id';
  existing clauses;
BEGIN
  SELECT * INTO existing FROM clauses WHERE id = cid FOR UPDATE;
  IF existing.deleted_at IS NOT NULL THEN
    RAISE EXCEPTION 'clause % was deleted; its id cannot be reused', cid
      USING ERRCODE = 'unique_violation', DETAIL = format('Key (id)=(%s) belongs to a deleted clause.', cid);
  END IF;
  IF existing.proposal_id IS NOT NULL AND existing.proposal_id <> r->>'proposal_id' THEN
    RAISE EXCEPTION 'clause % belongs to proposal %', cid, existing.proposal_id
      USING ERRCODE = 'unique_violation',
            DETAIL = format('Key (id)=(%s) already belongs to proposal %s.', cid, existing.proposal_id);
  END IF;
  INSERT INTO clauses (id, proposal_id, position, label, summary, topics)
  VALUES (cid, r->>'proposal_id', (r->>'position')::numeric::int, r->>'label', r->>'summary',
          text_array(r->'topics'))
  ON CONFLICT (id) DO UPDATE SET proposal_id = EXCLUDED.proposal_id, position = EXCLUDED.position,
    label = EXCLUDED.label, summary = EXCLUDED.summary, topics = EXCLUDED.topics;
  DELETE FROM clause_obligations WHERE clause_id = cid;
  INSERT INTO clause_obligations (clause_id, party_id, position)
  SELECT cid, p, n FROM unnest(text_array(r->'obligated_party_ids')) WITH ORDINALITY AS u(p, n);
  DELETE FROM clause_excerpts WHERE clause_id = cid;
  INSERT INTO clause_excerpts (clause_id, position, text, source_id)
  SELECT cid, n, e->>'text', e->>'source_id'
    FROM jsonb_array_elements(coalesce(r->'excerpts', '[]')) WITH ORDINALITY AS u(e, n);
  DELETE FROM clause_sources WHERE clause_id = cid;
  INSERT INTO clause_sources (clause_id, source_id, position)
  SELECT cid, s, n FROM unnest(text_array(r->'source_ids')) WITH ORDINALITY AS u(s, n);
  -- Label and excerpts weigh more than our summary in search ranking.
  UPDATE clauses c SET search =
      setweight(to_tsvector('english', c.label), 'A')
   || setweight(to_tsvector('english', coalesce(
        (SELECT string_agg(e.text, ' ' ORDER BY e.position) FROM clause_excerpts e WHERE e.clause_id = cid), '')), 'A')
   || setweight(to_tsvector('english', c.summary), 'B')
   || setweight(to_tsvector('english', array_to_string(c.topics, ' ')), 'C')
   WHERE c.id = cid;
  PERFORM refresh_item('clauses', cid, cs, vf, why);
END $$;

-- A clause written on its own: its proposal's representation holds it, so the proposal
-- gets a revision too.
CREATE FUNCTION save_clauses(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM write_clause(r, cs, vf, why);
  PERFORM refresh_item('proposals', r->>'proposal_id', cs, vf, why);
END $$;

-- A proposal record carries its whole ordered list of clauses: clauses it no longer
-- lists are left as tombstones, and each listed clause is saved (and revised if changed).
CREATE FUNCTION save_proposals(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  pid text := r->>'id';
  c jsonb;
  gone text;
BEGIN
  INSERT INTO proposals (id, title, short_title, proposer_id, document_type, status,
                         handed_over_on, published_on, summary)
  VALUES (pid, r->>'title', r->>'short_title', r->>'proposer_id', r->>'document_type', r->>'status',
          (r->>'handed_over_on')::date, (r->>'published_on')::date, r->>'summary')
  ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, short_title = EXCLUDED.short_title,
    proposer_id = EXCLUDED.proposer_id, document_type = EXCLUDED.document_type,
    status = EXCLUDED.status, handed_over_on = EXCLUDED.handed_over_on,
    published_on = EXCLUDED.published_on, summary = EXCLUDED.summary;
  DELETE FROM proposal_addressees WHERE proposal_id = pid;
  INSERT INTO proposal_addressees (proposal_id, party_id, position)
  SELECT pid, p, n FROM unnest(text_array(r->'addressee_ids')) WITH ORDINALITY AS u(p, n);
  DELETE FROM proposal_responses WHERE proposal_id = pid;
  INSERT INTO proposal_responses (proposal_id, responds_to_id, position)
  SELECT pid, p, n FROM unnest(text_array(r->'in_response_to')) WITH ORDINALITY AS u(p, n);
  DELETE FROM proposal_sources WHERE proposal_id = pid;
  INSERT INTO proposal_sources (proposal_id, source_id, position)
  SELECT pid, s, n FROM unnest(text_array(r->'source_ids')) WITH ORDINALITY AS u(s, n);
  IF r ? 'clauses' THEN
    FOR gone IN
      SELECT id FROM clauses
       WHERE proposal_id = pid AND deleted_at IS NULL
         AND id NOT IN (SELECT x->>'id' FROM jsonb_array_elements(r->'clauses') AS x)
    LOOP
      UPDATE clauses SET deleted_at = now() WHERE id = gone;
      PERFORM refresh_item('clauses', gone, cs, vf, why);
    END LOOP;
    -- Move live clauses out of the way so that a reordering never collides mid-way.
    UPDATE clauses SET position = position + 1000000 WHERE proposal_id = pid AND deleted_at IS NULL;
    FOR c IN SELECT x FROM jsonb_array_elements(r->'clauses') AS x LOOP
      PERFORM write_clause(c || jsonb_build_object('proposal_id', pid), cs, vf, why);
    END LOOP;
  END IF;
  PERFORM refresh_item('proposals', pid, cs, vf, why);
END $$;

CREATE FUNCTION save_talks(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  tid text := r->>'id';
BEGIN
  INSERT INTO talks (id, title, format, starts_on, ends_on, location, status,
                     chair_name, chair_role, summary)
  VALUES (tid, r->>'title', r->>'format', (r->>'starts_on')::date, (r->>'ends_on')::date,
          r->>'location', r->>'status', r->'chair'->>'name', r->'chair'->>'role', r->>'summary')
  ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, format = EXCLUDED.format,
    starts_on = EXCLUDED.starts_on, ends_on = EXCLUDED.ends_on, location = EXCLUDED.location,
    status = EXCLUDED.status, chair_name = EXCLUDED.chair_name, chair_role = EXCLUDED.chair_role,
    summary = EXCLUDED.summary;
  DELETE FROM talk_parties WHERE talk_id = tid;
  INSERT INTO talk_parties (talk_id, party_id, position)
  SELECT tid, p, n FROM unnest(text_array(r->'party_ids')) WITH ORDINALITY AS u(p, n);
  DELETE FROM talk_proposals WHERE talk_id = tid;
  INSERT INTO talk_proposals (talk_id, proposal_id, position)
  SELECT tid, p, n FROM unnest(text_array(r->'proposal_ids')) WITH ORDINALITY AS u(p, n);
  DELETE FROM talk_delegations WHERE talk_id = tid;
  INSERT INTO talk_delegations (talk_id, party_id, head, head_role, position)
  SELECT tid, d->>'party_id', d->>'head', d->>'head_role', n
    FROM jsonb_array_elements(coalesce(r->'delegations', '[]')) WITH ORDINALITY AS u(d, n);
  DELETE FROM talk_sources WHERE talk_id = tid;
  INSERT INTO talk_sources (talk_id, source_id, position)
  SELECT tid, s, n FROM unnest(text_array(r->'source_ids')) WITH ORDINALITY AS u(s, n);
  PERFORM refresh_item('talks', tid, cs, vf, why);
END $$;

-- Quote and speaker weigh more than our summary in search ranking.
CREATE FUNCTION statement_search(s statements) RETURNS tsvector
LANGUAGE sql IMMUTABLE AS $$
  SELECT setweight(to_tsvector('english', coalesce(s.quote, '')), 'A')
      || setweight(to_tsvector('english', s.speaker), 'A')
      || setweight(to_tsvector('english', s.summary), 'B')
      || setweight(to_tsvector('english', coalesce(s.speaker_role, '')), 'C')
$$;

CREATE FUNCTION save_statements(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
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
