-- The filters of list and search queries, each written once: a collection's list and its `q`
-- search take the same filters. Each function is the collection's live rows that pass them (a NULL
-- filter passes everything). They are set-returning LANGUAGE sql functions of one SELECT, STABLE
-- and not STRICT, which Postgres inlines into the query that reads `FROM clauses_matching(…) c`:
-- it is planned exactly as if the WHERE clause were written in it (tests/test_paging_at_scale.py
-- reads the plans). A parameter must not share a column's name: in the body, the column wins.

DROP FUNCTION IF EXISTS clauses_matching(text, text, text, boolean);
-- `answering`: only the clauses that answer this clause (clause_responses_responds_to_idx).
CREATE OR REPLACE FUNCTION clauses_matching(proposal text, topic text, party text, quoted boolean,
                                            answering text)
RETURNS SETOF clauses
LANGUAGE sql STABLE AS $$
  SELECT c.* FROM clauses c
   WHERE c.deleted_at IS NULL
     AND (proposal IS NULL OR c.proposal_id = proposal)
     AND (topic IS NULL OR topic = ANY (c.topics))
     AND (party IS NULL
          OR EXISTS (SELECT 1 FROM clause_obligations o WHERE o.clause_id = c.id AND o.party_id = party))
     AND (quoted IS NULL OR quoted = EXISTS (SELECT 1 FROM clause_excerpts e WHERE e.clause_id = c.id))
     AND (answering IS NULL
          OR EXISTS (SELECT 1 FROM clause_responses r WHERE r.clause_id = c.id AND r.responds_to_id = answering))
$$;

DROP FUNCTION IF EXISTS statements_matching(text, text, text, text, date, date);
CREATE OR REPLACE FUNCTION statements_matching(party text, by_speaker text, person text, proposal text, talk text,
                                               since date, until date)
RETURNS SETOF statements
LANGUAGE sql STABLE AS $$
  SELECT s.* FROM statements s
   WHERE s.deleted_at IS NULL
     AND (party IS NULL OR s.party_id = party)
     AND (by_speaker IS NULL OR s.speaker = by_speaker)
     AND (person IS NULL OR s.speaker_id = person)
     AND (proposal IS NULL
          OR EXISTS (SELECT 1 FROM statement_proposals x WHERE x.statement_id = s.id AND x.proposal_id = proposal))
     AND (talk IS NULL
          OR EXISTS (SELECT 1 FROM statement_talks x WHERE x.statement_id = s.id AND x.talk_id = talk))
     -- A statement whose date is an interval may have been made on any day of it: `since` keeps
     -- it when its latest possible day is on or after `since`, `until` when its earliest is on
     -- or before `until` (an open end reaches every day; an undated statement passes neither).
     AND (since IS NULL OR s.said_latest >= since)
     AND (until IS NULL OR s.said_earliest <= until)
$$;
