-- Which draft articles each point of a response answers (issue 16): a clause of a written
-- response or reply lists the clauses it responds to. The reverse, what answers a clause, is
-- read from the same table through its second index and shown in the answered clause's own
-- representation (`answered_by_ids`, kept in the stored doc: sql/functions/writes.sql refreshes
-- an answered clause, with a revision, whenever an answer to it is written or goes away).
CREATE TABLE clause_responses (
  clause_id       slug NOT NULL REFERENCES clauses (id),
  responds_to_id  slug NOT NULL REFERENCES clauses (id),
  position        integer NOT NULL,
  PRIMARY KEY (clause_id, responds_to_id),
  CHECK (clause_id <> responds_to_id)
);
-- `GET /v1/clauses?responds_to=…` and answered_by_ids read the answers to one clause.
CREATE INDEX clause_responses_responds_to_idx ON clause_responses (responds_to_id, clause_id);

-- A data move: the stored representations of existing clauses (and of the proposals that hold
-- them) gain the two new lists, both empty, since nothing answered anything before this table.
-- The lists go before `source_ids`, where doc_clauses (sql/functions/representations.sql) puts
-- them. This changes the form of the representation, not what it says, so no revision is made;
-- every revision's snapshot gains them too, so that an export imports again to the same bytes.
CREATE FUNCTION pg_temp.with_response_lists(clause json) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN clause->'responds_to_ids' IS NOT NULL THEN clause ELSE (SELECT '{' || string_agg(
                   CASE WHEN key = 'source_ids'
                        THEN '"responds_to_ids":[],"answered_by_ids":[],' ELSE '' END
                   || to_json(key)::text || ':' || value::text, ',' ORDER BY n) || '}'
            FROM json_each(clause) WITH ORDINALITY AS u(key, value, n))::json END
$$;

-- A proposal's representation with each of its clauses given the lists.
CREATE FUNCTION pg_temp.with_clause_lists(proposal json) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN proposal->'clauses' IS NULL THEN proposal ELSE (SELECT '{' || string_agg(
           to_json(key)::text || ':'
           || CASE WHEN key = 'clauses'
                   THEN coalesce((SELECT '[' || string_agg(pg_temp.with_response_lists(c)::text, ',' ORDER BY m) || ']'
                                    FROM json_array_elements(value) WITH ORDINALITY AS v(c, m)), '[]')
                   ELSE value::text END, ',' ORDER BY n) || '}'
    FROM json_each(proposal) WITH ORDINALITY AS u(key, value, n))::json END
$$;

UPDATE clauses SET doc = pg_temp.with_response_lists(doc) WHERE doc IS NOT NULL;
UPDATE proposals SET doc = pg_temp.with_clause_lists(doc) WHERE doc IS NOT NULL;
UPDATE revisions SET snapshot = pg_temp.with_response_lists(snapshot)
 WHERE collection = 'clauses' AND json_typeof(snapshot) = 'object' AND snapshot->'source_ids' IS NOT NULL;
UPDATE revisions SET snapshot = pg_temp.with_clause_lists(snapshot)
 WHERE collection = 'proposals' AND json_typeof(snapshot) = 'object';
