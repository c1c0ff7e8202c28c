-- Writing one record, in the shape the API serves, into the normalized tables, then refreshing
-- its representation and that of every item whose representation shows it; deleting items as
-- tombstones. Input is validated by the Marshmallow schemas before it gets here; constraints are
-- the last line of defence. Lists in the record replace the stored lists whole.

-- The change feed's lock (migration 0017): every writing transaction takes it before it draws a
-- changeset, and holds it to its commit, so writers commit one at a time and `revisions.seq`
-- order is commit order: a feed reader never sees seq N committed before a smaller one. The key
-- is a constant (api/store/migrate.py takes the same one around migrations, which write too).
CREATE OR REPLACE FUNCTION lock_changes() RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(7302159002) $$;

-- A new changeset for `who`, under the feed's lock, recorded at the moment the lock was held
-- (clock_timestamp(), not the transaction's start), so `recorded_at` rises in commit order.
CREATE OR REPLACE FUNCTION new_changeset(who text) RETURNS changesets
LANGUAGE plpgsql AS $$
DECLARE
  made changesets;
BEGIN
  PERFORM lock_changes();
  INSERT INTO changesets (actor, recorded_at) VALUES (who, clock_timestamp()) RETURNING * INTO made;
  RETURN made;
END $$;

-- A JSON array of strings as text[], in order.
CREATE OR REPLACE FUNCTION text_array(j jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN (SELECT coalesce(array_agg(x ORDER BY n), '{}')
            FROM jsonb_array_elements_text(j) WITH ORDINALITY AS u(x, n));
END $$;

CREATE OR REPLACE FUNCTION save_sources(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sources (id, publisher, title, url, published_on, description)
  VALUES (r->>'id', r->>'publisher', r->>'title', r->>'url', (r->>'published_on')::date, r->>'description')
  ON CONFLICT (id) DO UPDATE SET publisher = EXCLUDED.publisher, title = EXCLUDED.title,
    url = EXCLUDED.url, published_on = EXCLUDED.published_on, description = EXCLUDED.description;
  PERFORM refresh_item('sources', r->>'id', cs, vf, why);
END $$;

CREATE OR REPLACE FUNCTION save_parties(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
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

-- Refreshes the clauses a clause answers (or answered), and their proposals, after the answers
-- changed: each shows what answers it (answered_by_ids), so each gets a revision, valid from the
-- same instant as the change that made it. The proposal is locked before its clause, the order
-- every writer keeps (sql/queries/records.sql).
CREATE OR REPLACE FUNCTION refresh_answered(targets text[], cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  t text;
  owner text;
BEGIN
  FOR t IN SELECT DISTINCT x FROM unnest(targets) AS x ORDER BY x LOOP
    SELECT proposal_id INTO owner FROM clauses WHERE id = t;
    CONTINUE WHEN owner IS NULL;
    PERFORM 1 FROM proposals WHERE id = owner FOR UPDATE;
    PERFORM refresh_item('clauses', t, cs, vf, why);
    PERFORM refresh_item('proposals', owner, cs, vf, why);
  END LOOP;
END $$;

-- A clause's search vector, from its record: label and excerpts weigh more than our summary in
-- search ranking, topics least. (bulk_import, sql/functions/bulk.sql, computes it the same way.)
CREATE OR REPLACE FUNCTION clause_search_vector(r jsonb) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN setweight(to_tsvector('english', r->>'label'), 'A')
      || setweight(to_tsvector('english', coalesce(
           (SELECT string_agg(e->>'text', ' ' ORDER BY n)
              FROM jsonb_array_elements(coalesce(r->'excerpts', '[]')) WITH ORDINALITY AS u(e, n)), '')), 'A')
      || setweight(to_tsvector('english', r->>'summary'), 'B')
      || setweight(to_tsvector('english', array_to_string(text_array(r->'topics'), ' ')), 'C');
END $$;

-- Writes one clause and refreshes it; its proposal, and the clauses it answers or answered
-- (refresh_answered), are refreshed by the caller once every clause it writes is in place. The search
-- vector is computed from the record as the row is written, so a clause written makes one row
-- version and one GIN index entry, not a second of each once its excerpts are stored.
CREATE OR REPLACE FUNCTION write_clause(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  cid text := r->>'id';
  existing clauses;
  topics text[] := text_array(r->'topics');
  answers text[] := text_array(coalesce(r->'responds_to_ids', '[]'));
  missing text;
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
  INSERT INTO clauses (id, proposal_id, position, label, summary, topics, search)
  VALUES (cid, r->>'proposal_id', (r->>'position')::numeric::int, r->>'label', r->>'summary', topics,
          clause_search_vector(r))
  ON CONFLICT (id) DO UPDATE SET proposal_id = EXCLUDED.proposal_id, position = EXCLUDED.position,
    label = EXCLUDED.label, summary = EXCLUDED.summary, topics = EXCLUDED.topics, search = EXCLUDED.search;
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
  -- The clauses it answers must exist and be live: a 422 names the first that is not
  -- (api/resources/writes.py knows this constraint's name).
  SELECT a INTO missing FROM unnest(answers) AS a
   WHERE NOT EXISTS (SELECT 1 FROM clauses x WHERE x.id = a AND x.deleted_at IS NULL) LIMIT 1;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'clause % responds to %, which is no clause', cid, missing
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'clause_responses_responds_to_id_fkey',
            DETAIL = format('Key (responds_to_id)=(%s) is not present in table "clauses".', missing);
  END IF;
  DELETE FROM clause_responses WHERE clause_id = cid;
  INSERT INTO clause_responses (clause_id, responds_to_id, position)
  SELECT cid, a, n FROM unnest(answers) WITH ORDINALITY AS u(a, n);
  PERFORM refresh_item('clauses', cid, cs, vf, why);
END $$;

-- A clause written on its own: its proposal's representation holds it, so the proposal
-- gets a revision too.
CREATE OR REPLACE FUNCTION save_clauses(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  answered_before text[] := ARRAY(SELECT responds_to_id FROM clause_responses WHERE clause_id = r->>'id');
BEGIN
  PERFORM write_clause(r, cs, vf, why);
  PERFORM refresh_answered(answered_before || text_array(coalesce(r->'responds_to_ids', '[]')), cs, vf, why);
  PERFORM refresh_item('proposals', r->>'proposal_id', cs, vf, why);
END $$;

-- A proposal record carries its whole ordered list of clauses: clauses it no longer
-- lists are left as tombstones, and each listed clause is saved (and revised if changed).
CREATE OR REPLACE FUNCTION save_proposals(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  pid text := r->>'id';
  c jsonb;
  gone text;
  referrers text[];
  answered text[];
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
    answered := ARRAY(SELECT x.responds_to_id FROM clause_responses x JOIN clauses a ON a.id = x.clause_id
                       WHERE a.proposal_id = pid AND a.deleted_at IS NULL);
    FOR gone IN
      SELECT id FROM clauses
       WHERE proposal_id = pid AND deleted_at IS NULL
         AND id NOT IN (SELECT x->>'id' FROM jsonb_array_elements(r->'clauses') AS x)
    LOOP
      referrers := ARRAY(SELECT 'clauses/' || a.id FROM clause_responses x JOIN clauses a ON a.id = x.clause_id
                          WHERE x.responds_to_id = gone AND a.deleted_at IS NULL AND a.proposal_id <> pid
                          ORDER BY a.id);
      IF cardinality(referrers) > 0 THEN
        RAISE EXCEPTION 'clauses % is still referred to', gone
          USING ERRCODE = 'foreign_key_violation',
                DETAIL = 'Clause ' || gone || ' is still answered by ' || array_to_string(referrers[1:20], ', ') || '.';
      END IF;
      UPDATE clauses SET deleted_at = now() WHERE id = gone;
      PERFORM refresh_item('clauses', gone, cs, vf, why);
    END LOOP;
    -- Move live clauses out of the way so that a reordering never collides mid-way.
    UPDATE clauses SET position = position + 1000000 WHERE proposal_id = pid AND deleted_at IS NULL;
    FOR c IN SELECT x FROM jsonb_array_elements(r->'clauses') AS x LOOP
      PERFORM write_clause(c || jsonb_build_object('proposal_id', pid), cs, vf, why);
    END LOOP;
    -- What its clauses answered before and answer now, refreshed once all are in place (their
    -- answered_by_ids are in document order): a reordering that changes nothing there makes no
    -- revision of the clauses answered.
    PERFORM refresh_answered(answered || ARRAY(SELECT x.responds_to_id FROM clause_responses x
                                                 JOIN clauses a ON a.id = x.clause_id
                                                WHERE a.proposal_id = pid AND a.deleted_at IS NULL), cs, vf, why);
  END IF;
  PERFORM refresh_item('proposals', pid, cs, vf, why);
END $$;

CREATE OR REPLACE FUNCTION save_talks(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  tid text := r->>'id';
BEGIN
  INSERT INTO talks (id, title, format, starts_on, ends_on, location, status,
                     chair_name, chair_id, chair_role, summary)
  VALUES (tid, r->>'title', r->>'format', (r->>'starts_on')::date, (r->>'ends_on')::date,
          r->>'location', r->>'status', r->'chair'->>'name', r->'chair'->>'person_id', r->'chair'->>'role',
          r->>'summary')
  ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, format = EXCLUDED.format,
    starts_on = EXCLUDED.starts_on, ends_on = EXCLUDED.ends_on, location = EXCLUDED.location,
    status = EXCLUDED.status, chair_name = EXCLUDED.chair_name, chair_id = EXCLUDED.chair_id,
    chair_role = EXCLUDED.chair_role, summary = EXCLUDED.summary;
  DELETE FROM talk_parties WHERE talk_id = tid;
  INSERT INTO talk_parties (talk_id, party_id, position)
  SELECT tid, p, n FROM unnest(text_array(r->'party_ids')) WITH ORDINALITY AS u(p, n);
  DELETE FROM talk_proposals WHERE talk_id = tid;
  INSERT INTO talk_proposals (talk_id, proposal_id, position)
  SELECT tid, p, n FROM unnest(text_array(r->'proposal_ids')) WITH ORDINALITY AS u(p, n);
  DELETE FROM talk_delegations WHERE talk_id = tid;
  INSERT INTO talk_delegations (talk_id, party_id, head, head_id, head_role, position)
  SELECT tid, d->>'party_id', d->>'head', d->>'head_id', d->>'head_role', n
    FROM jsonb_array_elements(coalesce(r->'delegations', '[]')) WITH ORDINALITY AS u(d, n);
  DELETE FROM talk_sources WHERE talk_id = tid;
  INSERT INTO talk_sources (talk_id, source_id, position)
  SELECT tid, s, n FROM unnest(text_array(r->'source_ids')) WITH ORDINALITY AS u(s, n);
  PERFORM refresh_item('talks', tid, cs, vf, why);
END $$;

-- Statement dates as EDTF (ISO 8601-2), the subset schemas/dates.py documents and checks on
-- every write; here Postgres derives the days a value bounds, so that filters and sorting need no
-- parser. One end of an interval, or a whole value without '/': a year, a month or a day, perhaps
-- qualified (`?` uncertain, `~` approximate, `%` both); its first and last day.
CREATE OR REPLACE FUNCTION edtf_endpoint(value text, OUT first_day date, OUT last_day date, OUT qualified boolean)
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  m text[] := regexp_match(value, '^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?([?~%])?$');
BEGIN
  IF m IS NULL OR m[1] = '0000' THEN
    RAISE EXCEPTION 'not an EDTF date: %', value USING ERRCODE = 'invalid_datetime_format';
  END IF;
  qualified := m[4] IS NOT NULL;
  IF m[2] IS NULL THEN
    first_day := make_date(m[1]::int, 1, 1);
    last_day := make_date(m[1]::int, 12, 31);
  ELSIF m[3] IS NULL THEN
    first_day := make_date(m[1]::int, m[2]::int, 1);
    last_day := (first_day + interval '1 month' - interval '1 day')::date;
  ELSE
    first_day := make_date(m[1]::int, m[2]::int, m[3]::int);
    last_day := first_day;
  END IF;
END $$;

-- A whole value: its earliest and latest possible day (-infinity and infinity for an open end,
-- `..`), and whether an end is qualified. NULL gives NULLs; an interval ending before it starts,
-- or anything outside the subset, is an error (the API has refused it with a 422 before).
CREATE OR REPLACE FUNCTION edtf_bounds(value text, OUT earliest date, OUT latest date, OUT qualified boolean)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  parts text[] := string_to_array(value, '/');
  start_part record;
  end_part record;
BEGIN
  IF value IS NULL THEN
    RETURN;
  ELSIF cardinality(parts) = 1 AND value <> '..' THEN
    SELECT e.first_day, e.last_day, e.qualified INTO earliest, latest, qualified FROM edtf_endpoint(value) e;
  ELSIF cardinality(parts) = 2 AND NOT (parts[1] = '..' AND parts[2] = '..') THEN
    earliest := '-infinity';
    latest := 'infinity';
    qualified := false;
    IF parts[1] <> '..' THEN
      SELECT * INTO start_part FROM edtf_endpoint(parts[1]);
      earliest := start_part.first_day;
      qualified := start_part.qualified;
    END IF;
    IF parts[2] <> '..' THEN
      SELECT * INTO end_part FROM edtf_endpoint(parts[2]);
      latest := end_part.last_day;
      qualified := qualified OR end_part.qualified;
    END IF;
    IF earliest > latest THEN
      RAISE EXCEPTION 'EDTF interval ends before it starts: %', value USING ERRCODE = 'invalid_datetime_format';
    END IF;
  ELSE
    RAISE EXCEPTION 'not an EDTF date or interval: %', value USING ERRCODE = 'invalid_datetime_format';
  END IF;
END $$;

-- The key `sort=said_when` orders by: earliest, then latest day, as text that sorts byte by byte
-- (the column is COLLATE "C"): an open start ('') first, an open end ('~') last, undated last of all.
CREATE OR REPLACE FUNCTION statement_date_order(earliest date, latest date) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN CASE WHEN earliest IS NULL THEN '~'
              ELSE CASE WHEN isfinite(earliest) THEN to_char(earliest, 'YYYY-MM-DD') ELSE '' END || '/'
                || CASE WHEN isfinite(latest) THEN to_char(latest, 'YYYY-MM-DD') ELSE '~' END END;
END $$;

-- A statement's date from a record: `said_when`, or else `said_on` (the older way to give a
-- day). `said_on` then holds the day only when the value fixes exactly one, unqualified.
CREATE OR REPLACE FUNCTION save_statement_dates(sid text, r jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  given text := coalesce(r->>'said_when', r->>'said_on');
  b record;
BEGIN
  SELECT * INTO b FROM edtf_bounds(given);
  UPDATE statements
     SET said_when = given, said_earliest = b.earliest, said_latest = b.latest,
         said_on = CASE WHEN b.earliest = b.latest AND NOT b.qualified THEN b.earliest END,
         said_order = statement_date_order(b.earliest, b.latest)
   WHERE id = sid;
END $$;

-- Quote and speaker weigh more than our summary in search ranking.
CREATE OR REPLACE FUNCTION statement_search(s statements) RETURNS tsvector
LANGUAGE sql IMMUTABLE AS $$
  SELECT setweight(to_tsvector('english', coalesce(s.quote, '')), 'A')
      || setweight(to_tsvector('english', s.speaker), 'A')
      || setweight(to_tsvector('english', s.summary), 'B')
      || setweight(to_tsvector('english', coalesce(s.speaker_role, '')), 'C')
$$;

CREATE OR REPLACE FUNCTION save_statements(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  sid text := r->>'id';
BEGIN
  INSERT INTO statements (id, speaker, speaker_id, speaker_role, party_id, said_on, kind, quote, summary)
  VALUES (sid, r->>'speaker', r->>'speaker_id', r->>'speaker_role', r->>'party_id', (r->>'said_on')::date,
          r->>'kind', r->>'quote', r->>'summary')
  ON CONFLICT (id) DO UPDATE SET speaker = EXCLUDED.speaker, speaker_id = EXCLUDED.speaker_id,
    speaker_role = EXCLUDED.speaker_role,
    party_id = EXCLUDED.party_id, said_on = EXCLUDED.said_on, kind = EXCLUDED.kind,
    quote = EXCLUDED.quote, summary = EXCLUDED.summary;
  PERFORM save_statement_dates(sid, r);
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

-- A person's roles replace the stored ones whole, each with its sources. Statements and talks
-- show only the person's id, so nothing else is refreshed.
CREATE OR REPLACE FUNCTION save_people(r jsonb, cs bigint, vf timestamptz, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  pid text := r->>'id';
BEGIN
  INSERT INTO people (id, name, other_names)
  VALUES (pid, r->>'name', text_array(coalesce(r->'other_names', '[]')))
  ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, other_names = EXCLUDED.other_names;
  DELETE FROM person_roles WHERE person_id = pid;
  INSERT INTO person_roles (person_id, position, title, party_id, since, until)
  SELECT pid, n, o->>'title', o->>'party_id', (o->>'since')::date, (o->>'until')::date
    FROM jsonb_array_elements(coalesce(r->'roles', '[]')) WITH ORDINALITY AS u(o, n);
  INSERT INTO person_role_sources (person_id, role_position, source_id, position)
  SELECT pid, n, s, m
    FROM jsonb_array_elements(coalesce(r->'roles', '[]')) WITH ORDINALITY AS u(o, n),
         unnest(text_array(coalesce(o->'source_ids', '[]'))) WITH ORDINALITY AS v(s, m);
  DELETE FROM person_sources WHERE person_id = pid;
  INSERT INTO person_sources (person_id, source_id, position)
  SELECT pid, s, n FROM unnest(text_array(r->'source_ids')) WITH ORDINALITY AS u(s, n);
  PERFORM refresh_item('people', pid, cs, vf, why);
END $$;

-- Live records that point at an item; an item still referred to cannot be deleted.
CREATE OR REPLACE FUNCTION live_referrers(coll text, item text) RETURNS text[]
LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(DISTINCT ref ORDER BY ref), '{}') FROM (
    SELECT 'proposals/' || p.id FROM proposals p
     WHERE coll = 'parties' AND p.deleted_at IS NULL
       AND (p.proposer_id = item OR EXISTS (SELECT 1 FROM proposal_addressees a
                                             WHERE a.proposal_id = p.id AND a.party_id = item))
    UNION ALL
    SELECT 'clauses/' || o.clause_id FROM clause_obligations o JOIN clauses c ON c.id = o.clause_id
     WHERE coll = 'parties' AND o.party_id = item AND c.deleted_at IS NULL
    UNION ALL
    SELECT 'talks/' || t.id FROM talks t
     WHERE coll = 'parties' AND t.deleted_at IS NULL
       AND (EXISTS (SELECT 1 FROM talk_parties x WHERE x.talk_id = t.id AND x.party_id = item)
         OR EXISTS (SELECT 1 FROM talk_delegations x WHERE x.talk_id = t.id AND x.party_id = item))
    UNION ALL
    SELECT 'statements/' || s.id FROM statements s
     WHERE coll = 'parties' AND s.party_id = item AND s.deleted_at IS NULL
    UNION ALL
    SELECT 'parties/' || m.member_id FROM party_memberships m JOIN parties x ON x.id = m.member_id
     WHERE coll = 'parties' AND m.group_id = item AND x.deleted_at IS NULL
    UNION ALL
    SELECT 'people/' || o.person_id FROM person_roles o JOIN people x ON x.id = o.person_id
     WHERE coll = 'parties' AND o.party_id = item AND x.deleted_at IS NULL
    UNION ALL
    SELECT 'statements/' || s.id FROM statements s
     WHERE coll = 'people' AND s.speaker_id = item AND s.deleted_at IS NULL
    UNION ALL
    SELECT 'talks/' || t.id FROM talks t
     WHERE coll = 'people' AND t.deleted_at IS NULL
       AND (t.chair_id = item
         OR EXISTS (SELECT 1 FROM talk_delegations x WHERE x.talk_id = t.id AND x.head_id = item))
    UNION ALL
    SELECT 'talks/' || t.id FROM talk_proposals x JOIN talks t ON t.id = x.talk_id
     WHERE coll = 'proposals' AND x.proposal_id = item AND t.deleted_at IS NULL
    UNION ALL
    SELECT 'statements/' || s.id FROM statement_proposals x JOIN statements s ON s.id = x.statement_id
     WHERE coll = 'proposals' AND x.proposal_id = item AND s.deleted_at IS NULL
    UNION ALL
    SELECT 'proposals/' || p.id FROM proposal_responses r JOIN proposals p ON p.id = r.proposal_id
     WHERE coll = 'proposals' AND r.responds_to_id = item AND p.deleted_at IS NULL
    UNION ALL
    SELECT 'statements/' || s.id FROM statement_talks x JOIN statements s ON s.id = x.statement_id
     WHERE coll = 'talks' AND x.talk_id = item AND s.deleted_at IS NULL
    UNION ALL
    -- An answered clause, or a proposal with one, while a live clause of another proposal answers it.
    SELECT 'clauses/' || a.id FROM clause_responses x
      JOIN clauses t ON t.id = x.responds_to_id
      JOIN clauses a ON a.id = x.clause_id AND a.deleted_at IS NULL
     WHERE (coll = 'clauses' AND t.id = item)
        OR (coll = 'proposals' AND t.proposal_id = item AND a.proposal_id <> item)
    UNION ALL
    SELECT ref FROM (
      SELECT 'parties/' || x.party_id AS ref, p.deleted_at FROM party_sources x JOIN parties p ON p.id = x.party_id
       WHERE x.source_id = item
      UNION ALL
      SELECT 'proposals/' || x.proposal_id, p.deleted_at FROM proposal_sources x JOIN proposals p ON p.id = x.proposal_id
       WHERE x.source_id = item
      UNION ALL
      SELECT 'clauses/' || x.clause_id, c.deleted_at FROM clause_sources x JOIN clauses c ON c.id = x.clause_id
       WHERE x.source_id = item
      UNION ALL
      SELECT 'clauses/' || e.clause_id, c.deleted_at FROM clause_excerpts e JOIN clauses c ON c.id = e.clause_id
       WHERE e.source_id = item
      UNION ALL
      SELECT 'talks/' || x.talk_id, t.deleted_at FROM talk_sources x JOIN talks t ON t.id = x.talk_id
       WHERE x.source_id = item
      UNION ALL
      SELECT 'statements/' || x.statement_id, s.deleted_at FROM statement_sources x
        JOIN statements s ON s.id = x.statement_id WHERE x.source_id = item
      UNION ALL
      SELECT 'people/' || x.person_id, p.deleted_at FROM person_sources x JOIN people p ON p.id = x.person_id
       WHERE x.source_id = item
      UNION ALL
      SELECT 'people/' || x.person_id, p.deleted_at FROM person_role_sources x JOIN people p ON p.id = x.person_id
       WHERE x.source_id = item
    ) cited WHERE coll = 'sources' AND cited.deleted_at IS NULL
  ) refs(ref)
$$;

-- Marks one item deleted with a final revision (deleted = true) holding its last state.
CREATE OR REPLACE FUNCTION tombstone_item(coll text, item text, cs bigint, vf timestamptz, why text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  touched integer;
  new_rev integer;
  new_doc json;
BEGIN
  EXECUTE format('UPDATE %I SET deleted_at = now(), revision = revision + 1, updated_at = $2
                   WHERE id = $1 AND deleted_at IS NULL', coll) USING item, vf;
  GET DIAGNOSTICS touched = ROW_COUNT;
  IF touched = 0 THEN
    RAISE EXCEPTION 'no live % with id %', coll, item USING ERRCODE = 'no_data_found';
  END IF;
  EXECUTE format('UPDATE %1$I t SET doc = doc_%1$s(t) WHERE t.id = $1 RETURNING t.revision, t.doc', coll)
    INTO new_rev, new_doc USING item;
  INSERT INTO revisions (collection, item_id, revision, changeset_id, valid_from, note, deleted, snapshot)
  VALUES (coll, item, new_rev, cs, vf, why, true, new_doc);
  RETURN new_rev;
END $$;

-- Deletes an item that nothing live refers to. A proposal takes its clauses with it; a
-- clause's proposal and a party's groups get a revision, as their representations change.
CREATE OR REPLACE FUNCTION delete_item(coll text, item text, cs bigint, vf timestamptz, why text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  referrers text[] := live_referrers(coll, item);
  owner text;
  rev integer;
BEGIN
  IF cardinality(referrers) > 0 THEN
    RAISE EXCEPTION '% % is still referred to', coll, item
      USING ERRCODE = 'foreign_key_violation',
            DETAIL = 'Still referred to by ' || array_to_string(referrers[1:20], ', ')
                     || CASE WHEN cardinality(referrers) > 20 THEN ' and more.' ELSE '.' END;
  END IF;
  IF coll = 'proposals' THEN
    PERFORM tombstone_item('clauses', c.id, cs, vf, why)
       FROM clauses c WHERE c.proposal_id = item AND c.deleted_at IS NULL;
    -- What its clauses answered elsewhere no longer lists them.
    PERFORM refresh_answered(ARRAY(SELECT x.responds_to_id FROM clause_responses x JOIN clauses c ON c.id = x.clause_id
                                    JOIN clauses t ON t.id = x.responds_to_id
                                   WHERE c.proposal_id = item AND t.proposal_id <> item), cs, vf, why);
  END IF;
  rev := tombstone_item(coll, item, cs, vf, why);
  IF coll = 'clauses' THEN
    SELECT proposal_id INTO owner FROM clauses WHERE id = item;
    PERFORM refresh_answered(ARRAY(SELECT responds_to_id FROM clause_responses WHERE clause_id = item), cs, vf, why);
    PERFORM refresh_item('proposals', owner, cs, vf, why);
  ELSIF coll = 'parties' THEN
    PERFORM refresh_item('parties', m.group_id, cs, vf, why)
       FROM party_memberships m WHERE m.member_id = item;
  END IF;
  RETURN rev;
END $$;
