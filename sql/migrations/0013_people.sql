-- People: the officials who speak, lead delegations and chair meetings, as a collection of their
-- own. Statements (`speaker_id`), delegations (`head_id`) and chairs (`chair_id`, served as the
-- chair's `person_id`) refer to them by id; the name fields stay, as the sources spell the name.
--
-- The references are DEFERRABLE (INITIALLY IMMEDIATE, so a write through the API is checked at
-- once): an import sets them DEFERRED, because an export of a database migrated here lists the
-- people this migration creates after the statements and talks that name them.

CREATE TABLE people (
  id          slug PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) > 0),
  other_names text[] NOT NULL DEFAULT '{}',
  revision    integer NOT NULL DEFAULT 0,
  updated_at  timestamptz,
  deleted_at  timestamptz,
  doc         json
);

-- A person's offices over time, in the order the record lists them.
CREATE TABLE person_roles (
  person_id slug NOT NULL REFERENCES people (id),
  position  integer NOT NULL,
  title     text NOT NULL CHECK (length(title) > 0),
  party_id  slug REFERENCES parties (id),
  since     date,
  until     date CHECK (until >= since),
  PRIMARY KEY (person_id, position)
);
CREATE INDEX person_roles_party_idx ON person_roles (party_id, person_id);

CREATE TABLE person_role_sources (
  person_id     slug NOT NULL,
  role_position integer NOT NULL,
  source_id     slug NOT NULL REFERENCES sources (id),
  position      integer NOT NULL,
  PRIMARY KEY (person_id, role_position, source_id),
  FOREIGN KEY (person_id, role_position) REFERENCES person_roles (person_id, position) ON DELETE CASCADE
);
CREATE INDEX person_role_sources_source_idx ON person_role_sources (source_id);

CREATE TABLE person_sources (
  person_id slug NOT NULL REFERENCES people (id),
  source_id slug NOT NULL REFERENCES sources (id),
  position  integer NOT NULL,
  PRIMARY KEY (person_id, source_id)
);
CREATE INDEX person_sources_source_idx ON person_sources (source_id);

ALTER TABLE statements ADD COLUMN speaker_id slug REFERENCES people (id) DEFERRABLE INITIALLY IMMEDIATE;
CREATE INDEX statements_speaker_idx ON statements (speaker_id, id);
ALTER TABLE talk_delegations ADD COLUMN head_id slug REFERENCES people (id) DEFERRABLE INITIALLY IMMEDIATE;
CREATE INDEX talk_delegations_head_idx ON talk_delegations (head_id, talk_id);
ALTER TABLE talks ADD COLUMN chair_id slug REFERENCES people (id) DEFERRABLE INITIALLY IMMEDIATE,
  ADD CONSTRAINT talks_chair_id_check CHECK (chair_id IS NULL OR chair_name IS NOT NULL);
CREATE INDEX talks_chair_idx ON talks (chair_id, id);

ALTER TABLE revisions DROP CONSTRAINT revisions_collection_check,
  ADD CONSTRAINT revisions_collection_check CHECK (collection IN
    ('sources', 'parties', 'proposals', 'clauses', 'talks', 'statements', 'people'));

-- Existing data: every name a statement, delegation or chair gives, in any revision, becomes a
-- person whose id is the name as a slug ("Sergey Lavrov" -> sergey-lavrov), created in one
-- changeset, valid from the first revision that names them and citing that revision's sources.
-- Every stored representation, current and past, gets the id beside the name it already holds;
-- no revision is added, so revision numbers, ETags, `as_of` and the changes feed keep their
-- places, and an export lists the same revisions in the shape the import rebuilds.

-- A migration runs before sql/functions is applied, so it calls only built-in functions and its
-- own: this is rfc3339() of representations.sql (microseconds only when there are some).
CREATE FUNCTION pg_temp.rfc3339(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', CASE WHEN date_part('microseconds', t)::bigint % 1000000 = 0
                 THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)
$$;

CREATE FUNCTION pg_temp.person_slug(name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(nullif(trim(both '-' FROM left(trim(both '-' FROM
           regexp_replace(lower(name), '[^a-z0-9]+', '-', 'g')), 100)), ''),
         'person-' || left(md5(name), 12))
$$;

-- A JSON object with `key`'s value replaced (or, with `after`, a new key inserted after `after`),
-- written compactly in the object's own key order, as the doc_* functions write it.
CREATE FUNCTION pg_temp.json_set(doc json, key text, value json, after text DEFAULT NULL) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
  SELECT ('{' || string_agg(
            to_json(e.k)::text || ':'
            || CASE WHEN after IS NULL AND e.k = key THEN coalesce(value::text, 'null') ELSE e.v::text END
            || CASE WHEN e.k = after THEN ',' || to_json(key)::text || ':' || coalesce(value::text, 'null') ELSE '' END,
            ',' ORDER BY e.n) || '}')::json
    FROM json_each(doc) WITH ORDINALITY AS e(k, v, n)
$$;

CREATE FUNCTION pg_temp.with_people(coll text, doc json) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN doc IS NULL THEN NULL
    WHEN coll = 'statements' THEN
      pg_temp.json_set(doc, 'speaker_id', to_json(pg_temp.person_slug(doc->>'speaker')), 'speaker')
    WHEN coll = 'talks' THEN
      pg_temp.json_set(
        pg_temp.json_set(doc, 'delegations',
          (SELECT coalesce(('[' || string_agg(
                    pg_temp.json_set(g, 'head_id', to_json(pg_temp.person_slug(g->>'head')), 'head')::text,
                    ',' ORDER BY n) || ']')::json, '[]'::json)
             FROM json_array_elements(doc->'delegations') WITH ORDINALITY AS u(g, n))),
        'chair',
        CASE WHEN json_typeof(doc->'chair') = 'object'
             THEN pg_temp.json_set(doc->'chair', 'person_id', to_json(pg_temp.person_slug(doc->'chair'->>'name')), 'name')
        END)
    ELSE doc END
$$;

CREATE TEMP TABLE named_people ON COMMIT DROP AS
SELECT DISTINCT ON (pg_temp.person_slug(n.name))
       pg_temp.person_slug(n.name) AS id, n.name, r.valid_from, r.snapshot->'source_ids' AS source_ids
  FROM revisions r,
       LATERAL (SELECT r.snapshot->>'speaker' WHERE r.collection = 'statements'
                UNION ALL
                SELECT g->>'head' FROM json_array_elements(
                         CASE WHEN r.collection = 'talks' THEN r.snapshot->'delegations' ELSE '[]' END) g
                UNION ALL
                SELECT r.snapshot->'chair'->>'name' WHERE r.collection = 'talks') AS n(name)
 WHERE n.name IS NOT NULL
 ORDER BY pg_temp.person_slug(n.name), r.seq;

INSERT INTO people (id, name, other_names, revision, updated_at)
SELECT p.id, p.name,
       coalesce((SELECT array_agg(DISTINCT x.name ORDER BY x.name) FROM (
                   SELECT s.speaker FROM statements s WHERE s.speaker <> p.name AND pg_temp.person_slug(s.speaker) = p.id
                   UNION SELECT g.head FROM talk_delegations g WHERE g.head <> p.name AND pg_temp.person_slug(g.head) = p.id
                   UNION SELECT t.chair_name FROM talks t
                    WHERE t.chair_name <> p.name AND pg_temp.person_slug(t.chair_name) = p.id) x(name)), '{}'),
       1, p.valid_from
  FROM named_people p;

INSERT INTO person_sources (person_id, source_id, position)
SELECT p.id, s.id, min(s.n)
  FROM named_people p, json_array_elements_text(p.source_ids) WITH ORDINALITY AS s(id, n)
 GROUP BY p.id, s.id;

UPDATE people p SET doc = (SELECT row_to_json(d) FROM (SELECT
    p.id, p.name, array_to_json(p.other_names) AS other_names, '[]'::json AS roles,
    coalesce((SELECT array_to_json(array_agg(x.source_id ORDER BY x.position))
                FROM person_sources x WHERE x.person_id = p.id), '[]') AS source_ids,
    p.revision, pg_temp.rfc3339(p.updated_at) AS updated_at) d);

WITH cs AS (
  INSERT INTO changesets (actor) SELECT 'migration:0013_people' WHERE EXISTS (SELECT 1 FROM people)
  RETURNING id
)
INSERT INTO revisions (collection, item_id, revision, changeset_id, valid_from, note, snapshot)
SELECT 'people', p.id, 1, cs.id, p.updated_at,
       'Created by migration 0013 from the names that statements and talks give.', p.doc
  FROM people p, cs
 ORDER BY p.updated_at, p.id;

UPDATE statements SET speaker_id = pg_temp.person_slug(speaker);
UPDATE talk_delegations SET head_id = pg_temp.person_slug(head);
UPDATE talks SET chair_id = pg_temp.person_slug(chair_name) WHERE chair_name IS NOT NULL;
UPDATE statements SET doc = pg_temp.with_people('statements', doc) WHERE doc IS NOT NULL;
UPDATE talks SET doc = pg_temp.with_people('talks', doc) WHERE doc IS NOT NULL;
UPDATE revisions SET snapshot = pg_temp.with_people(collection, snapshot)
 WHERE collection IN ('statements', 'talks');
