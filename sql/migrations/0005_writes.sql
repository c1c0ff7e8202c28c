-- Deleting items as tombstones, and remembering idempotent creates.

-- Live records that point at an item; an item still referred to cannot be deleted.
CREATE FUNCTION live_referrers(coll text, item text) RETURNS text[]
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
    ) cited WHERE coll = 'sources' AND cited.deleted_at IS NULL
  ) refs(ref)
$$;

-- Marks one item deleted with a final revision (deleted = true) holding its last state.
CREATE FUNCTION tombstone_item(coll text, item text, cs bigint, vf timestamptz, why text) RETURNS integer
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
CREATE FUNCTION delete_item(coll text, item text, cs bigint, vf timestamptz, why text) RETURNS integer
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
  END IF;
  rev := tombstone_item(coll, item, cs, vf, why);
  IF coll = 'clauses' THEN
    SELECT proposal_id INTO owner FROM clauses WHERE id = item;
    PERFORM refresh_item('proposals', owner, cs, vf, why);
  ELSIF coll = 'parties' THEN
    PERFORM refresh_item('parties', m.group_id, cs, vf, why)
       FROM party_memberships m WHERE m.member_id = item;
  END IF;
  RETURN rev;
END $$;

-- The first response to a create sent with an Idempotency-Key, replayed for retries.
CREATE TABLE idempotency_keys (
  actor          text NOT NULL,
  key            text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
  request_sha256 text NOT NULL,
  status         integer NOT NULL,
  location       text,
  etag           text,
  body           text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor, key)
);
