-- How each item is represented in the API: the doc_* functions build it when the item changes,
-- and it is stored in `doc` and, as an immutable snapshot, in `revisions`; a read sends it as is.
-- `json` (not jsonb) keeps the field order written here, compact; comparisons cast to jsonb.
-- Lists of ids come in the order their `position` column gives, as compact JSON arrays
-- (row_to_json and array_to_json write compact JSON; json_build_object and json_agg pad it).
--
-- PL/pgSQL rather than LANGUAGE sql on purpose: a SQL function that cannot be inlined (every
-- doc_* function, and rfc3339, whose to_char is only STABLE) is planned again on every call, while
-- PL/pgSQL keeps the plan of each static statement for the connection. Importing one clause
-- calls these a dozen times: about 3 ms a clause as SQL functions, mostly planning.

-- A timestamp in RFC 3339, in UTC, with microseconds only when it has some.
CREATE OR REPLACE FUNCTION rfc3339(t timestamptz) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN CASE WHEN t IS NULL THEN NULL
              WHEN date_part('microseconds', t)::bigint % 1000000 = 0
                THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
              ELSE to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END;
END $$;

CREATE OR REPLACE FUNCTION doc_sources(s sources) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT row_to_json(d) FROM (SELECT
    s.id, s.publisher, s.title, s.url, s.published_on, s.description,
    s.revision, rfc3339(s.updated_at) AS updated_at) d);
END $$;

CREATE OR REPLACE FUNCTION doc_parties(p parties) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT row_to_json(d) FROM (SELECT
    p.id, p.name, p.short_name, p.kind,
    coalesce((SELECT array_to_json(array_agg(m.group_id ORDER BY m.group_id))
                FROM party_memberships m WHERE m.member_id = p.id), '[]') AS member_of,
    coalesce((SELECT array_to_json(array_agg(m.member_id ORDER BY m.member_id))
                FROM party_memberships m
                JOIN parties x ON x.id = m.member_id AND x.deleted_at IS NULL
               WHERE m.group_id = p.id), '[]') AS members,
    coalesce((SELECT array_to_json(array_agg(x.source_id ORDER BY x.position))
                FROM party_sources x WHERE x.party_id = p.id), '[]') AS source_ids,
    p.revision, rfc3339(p.updated_at) AS updated_at) d);
END $$;

-- PARALLEL SAFE (it only reads): an import makes clauses' representations in parallel workers.
CREATE OR REPLACE FUNCTION doc_clauses(c clauses) RETURNS json
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  RETURN (SELECT row_to_json(d) FROM (SELECT
    c.id, c.proposal_id, c.position, c.label, c.summary, array_to_json(c.topics) AS topics,
    coalesce((SELECT array_to_json(array_agg(o.party_id ORDER BY o.position))
                FROM clause_obligations o WHERE o.clause_id = c.id), '[]') AS obligated_party_ids,
    coalesce((SELECT array_to_json(array_agg(
                       row_to_json((SELECT r FROM (SELECT e.text, e.source_id) r)) ORDER BY e.position))
                FROM clause_excerpts e WHERE e.clause_id = c.id), '[]') AS excerpts,
    coalesce((SELECT array_to_json(array_agg(r.responds_to_id ORDER BY r.position))
                FROM clause_responses r WHERE r.clause_id = c.id), '[]') AS responds_to_ids,
    -- What answers this clause: the live clauses that list it in their responds_to_ids, by
    -- document order. Kept in the stored doc: writing or removing an answer refreshes this
    -- clause, with a revision of its own (write_clause, sql/functions/writes.sql).
    coalesce((SELECT array_to_json(array_agg(a.id ORDER BY a.proposal_id, a.position, a.id))
                FROM clause_responses r JOIN clauses a ON a.id = r.clause_id AND a.deleted_at IS NULL
               WHERE r.responds_to_id = c.id), '[]') AS answered_by_ids,
    coalesce((SELECT array_to_json(array_agg(x.source_id ORDER BY x.position))
                FROM clause_sources x WHERE x.clause_id = c.id), '[]') AS source_ids,
    c.revision, rfc3339(c.updated_at) AS updated_at) d);
END $$;

CREATE OR REPLACE FUNCTION doc_proposals(p proposals) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT row_to_json(d) FROM (SELECT
    p.id, p.title, p.short_title, p.proposer_id,
    coalesce((SELECT array_to_json(array_agg(a.party_id ORDER BY a.position))
                FROM proposal_addressees a WHERE a.proposal_id = p.id), '[]') AS addressee_ids,
    p.document_type, p.status, p.handed_over_on, p.published_on,
    coalesce((SELECT array_to_json(array_agg(r.responds_to_id ORDER BY r.position))
                FROM proposal_responses r WHERE r.proposal_id = p.id), '[]') AS in_response_to,
    p.summary,
    coalesce((SELECT array_to_json(array_agg(x.source_id ORDER BY x.position))
                FROM proposal_sources x WHERE x.proposal_id = p.id), '[]') AS source_ids,
    coalesce((SELECT array_to_json(array_agg(c.doc ORDER BY c.position))
                FROM clauses c WHERE c.proposal_id = p.id AND c.deleted_at IS NULL), '[]') AS clauses,
    p.revision, rfc3339(p.updated_at) AS updated_at) d);
END $$;

CREATE OR REPLACE FUNCTION doc_talks(t talks) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT row_to_json(d) FROM (SELECT
    t.id, t.title, t.format, t.starts_on, t.ends_on, t.location, t.status,
    coalesce((SELECT array_to_json(array_agg(x.party_id ORDER BY x.position))
                FROM talk_parties x WHERE x.talk_id = t.id), '[]') AS party_ids,
    coalesce((SELECT array_to_json(array_agg(x.proposal_id ORDER BY x.position))
                FROM talk_proposals x WHERE x.talk_id = t.id), '[]') AS proposal_ids,
    coalesce((SELECT array_to_json(array_agg(
                       row_to_json((SELECT r FROM (SELECT g.party_id, g.head, g.head_id, g.head_role) r)) ORDER BY g.position))
                FROM talk_delegations g WHERE g.talk_id = t.id), '[]') AS delegations,
    CASE WHEN t.chair_name IS NULL THEN NULL
         ELSE row_to_json((SELECT r FROM (SELECT t.chair_name AS name, t.chair_id AS person_id, t.chair_role AS role) r)) END AS chair,
    t.summary,
    coalesce((SELECT array_to_json(array_agg(x.source_id ORDER BY x.position))
                FROM talk_sources x WHERE x.talk_id = t.id), '[]') AS source_ids,
    t.revision, rfc3339(t.updated_at) AS updated_at) d);
END $$;

-- A bound of a statement's date as the API gives it: an open end (-infinity, infinity) is null.
CREATE OR REPLACE FUNCTION statement_day(d date) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN CASE WHEN isfinite(d) THEN d END;
END $$;

CREATE OR REPLACE FUNCTION doc_statements(s statements) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT row_to_json(d) FROM (SELECT
    s.id, s.speaker, s.speaker_id, s.speaker_role, s.party_id, s.said_on,
    s.said_when, statement_day(s.said_earliest) AS said_earliest, statement_day(s.said_latest) AS said_latest,
    s.kind, s.quote, s.summary,
    coalesce((SELECT array_to_json(array_agg(x.proposal_id ORDER BY x.position))
                FROM statement_proposals x WHERE x.statement_id = s.id), '[]') AS proposal_ids,
    coalesce((SELECT array_to_json(array_agg(x.talk_id ORDER BY x.position))
                FROM statement_talks x WHERE x.statement_id = s.id), '[]') AS talk_ids,
    coalesce((SELECT array_to_json(array_agg(x.source_id ORDER BY x.position))
                FROM statement_sources x WHERE x.statement_id = s.id), '[]') AS source_ids,
    s.revision, rfc3339(s.updated_at) AS updated_at) d);
END $$;

CREATE OR REPLACE FUNCTION doc_people(p people) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT row_to_json(d) FROM (SELECT
    p.id, p.name, array_to_json(p.other_names) AS other_names,
    coalesce((SELECT array_to_json(array_agg(row_to_json((SELECT r FROM (SELECT
                       o.title, o.party_id, o.since, o.until,
                       coalesce((SELECT array_to_json(array_agg(x.source_id ORDER BY x.position))
                                   FROM person_role_sources x
                                  WHERE x.person_id = p.id AND x.role_position = o.position), '[]') AS source_ids) r))
                     ORDER BY o.position))
                FROM person_roles o WHERE o.person_id = p.id), '[]') AS roles,
    coalesce((SELECT array_to_json(array_agg(x.source_id ORDER BY x.position))
                FROM person_sources x WHERE x.person_id = p.id), '[]') AS source_ids,
    p.revision, rfc3339(p.updated_at) AS updated_at) d);
END $$;

-- Rebuilds one item's representation inside changeset `cs`. When it changed, the item
-- gets a new revision and an immutable snapshot, valid from `vf`. When the same changeset
-- already revised it (a proposal touched by several of its clauses, an alliance by each
-- new member), that revision is refreshed instead, keeping its own `valid_from` and note:
-- one commit makes at most one revision per item. Returns the revision, or NULL when the
-- representation did not change. The collections written most have static statements, each
-- planned once per connection; the others go through EXECUTE, planned every time.
CREATE OR REPLACE FUNCTION refresh_item(coll text, item text, cs bigint, vf timestamptz, why text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  fresh_differs boolean;
  last_cs bigint;
  new_rev integer;
  new_doc json;
BEGIN
  CASE coll
    WHEN 'clauses' THEN
      SELECT t.doc IS NULL OR t.doc::jsonb <> doc_clauses(t)::jsonb INTO fresh_differs
        FROM clauses t WHERE t.id = item FOR UPDATE;
    WHEN 'proposals' THEN
      SELECT t.doc IS NULL OR t.doc::jsonb <> doc_proposals(t)::jsonb INTO fresh_differs
        FROM proposals t WHERE t.id = item FOR UPDATE;
    WHEN 'talks' THEN
      SELECT t.doc IS NULL OR t.doc::jsonb <> doc_talks(t)::jsonb INTO fresh_differs
        FROM talks t WHERE t.id = item FOR UPDATE;
    WHEN 'parties' THEN
      SELECT t.doc IS NULL OR t.doc::jsonb <> doc_parties(t)::jsonb INTO fresh_differs
        FROM parties t WHERE t.id = item FOR UPDATE;
    WHEN 'sources' THEN
      SELECT t.doc IS NULL OR t.doc::jsonb <> doc_sources(t)::jsonb INTO fresh_differs
        FROM sources t WHERE t.id = item FOR UPDATE;
    ELSE
      EXECUTE format('SELECT t.doc IS NULL OR t.doc::jsonb <> doc_%1$s(t)::jsonb FROM %1$I t WHERE t.id = $1 FOR UPDATE', coll)
        INTO fresh_differs USING item;
  END CASE;
  IF fresh_differs IS NULL THEN
    RAISE EXCEPTION 'no % with id %', coll, item USING ERRCODE = 'no_data_found';
  END IF;
  IF NOT fresh_differs THEN
    RETURN NULL;
  END IF;
  SELECT r.changeset_id INTO last_cs FROM revisions r
   WHERE r.collection = coll AND r.item_id = item ORDER BY r.revision DESC LIMIT 1;
  CASE coll
    WHEN 'clauses' THEN
      IF last_cs IS DISTINCT FROM cs THEN
        UPDATE clauses SET revision = revision + 1, updated_at = vf WHERE id = item;
      END IF;
      UPDATE clauses t SET doc = doc_clauses(t) WHERE t.id = item RETURNING t.revision, t.doc INTO new_rev, new_doc;
    WHEN 'proposals' THEN
      IF last_cs IS DISTINCT FROM cs THEN
        UPDATE proposals SET revision = revision + 1, updated_at = vf WHERE id = item;
      END IF;
      UPDATE proposals t SET doc = doc_proposals(t) WHERE t.id = item RETURNING t.revision, t.doc INTO new_rev, new_doc;
    WHEN 'talks' THEN
      IF last_cs IS DISTINCT FROM cs THEN
        UPDATE talks SET revision = revision + 1, updated_at = vf WHERE id = item;
      END IF;
      UPDATE talks t SET doc = doc_talks(t) WHERE t.id = item RETURNING t.revision, t.doc INTO new_rev, new_doc;
    ELSE
      IF last_cs IS DISTINCT FROM cs THEN
        EXECUTE format('UPDATE %I SET revision = revision + 1, updated_at = $2 WHERE id = $1', coll)
          USING item, vf;
      END IF;
      EXECUTE format('UPDATE %1$I t SET doc = doc_%1$s(t) WHERE t.id = $1 RETURNING t.revision, t.doc', coll)
        INTO new_rev, new_doc USING item;
  END CASE;
  INSERT INTO revisions (collection, item_id, revision, changeset_id, valid_from, note, snapshot)
  VALUES (coll, item, new_rev, cs, vf, why, new_doc)
  ON CONFLICT (collection, item_id, revision) DO UPDATE SET snapshot = EXCLUDED.snapshot;
  RETURN new_rev;
END $$;
