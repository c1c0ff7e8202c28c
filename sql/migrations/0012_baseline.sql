-- The schema that migrations 0001 to 0012 left behind, in one file: tables, indexes, constraints
-- and the data they start with. Functions, trigger functions and triggers are not here: the
-- migrator applies sql/functions after the migrations, every time.
--
-- Each `-- replaces NAME sha256:…` line opens what migration NAME left behind (nothing, for one
-- that only defined functions). A new database runs every section. A database that already
-- applied NAME skips its section, after checking that the recorded checksum is this one: one that
-- applied 0001 to 0012 records this file without running any of it, and one that stopped part way
-- runs only the rest. The old files are in the repository's history (tests/test_migrations.py
-- builds databases from them and compares their schema with a new one's).
--
-- What follows `-- after sql/functions` runs once the function files are applied, when any
-- section ran: a database that had clauses before 0009 to 0011 gets their search terms and
-- snippets, written by the triggers as for any clause (on a new database it changes nothing).

-- replaces 0001_core.sql sha256:4c41d286dccfaa27b1cd92ae506e51719034d3864eb300733060e21fe2784205
-- The dataset's normalized tables, its history (changesets and revisions) and the stored JSON
-- representation of every item (`doc`), which the read API serves as is. Every collection row
-- carries `revision`, `updated_at` and `doc`: the representation at that revision, built by the
-- doc_* functions (sql/functions/representations.sql) at write time and copied into `revisions`
-- as an immutable snapshot. `deleted_at` marks a tombstone.

CREATE TABLE app_settings (
  name  text PRIMARY KEY,
  value text NOT NULL
);
-- Signs pagination cursors; the same in every worker and host because it lives here.
INSERT INTO app_settings (name, value)
VALUES ('cursor_secret', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

-- One commit's worth of changes: one API write, or one import of a dataset file.
CREATE TABLE changesets (
  id          bigserial PRIMARY KEY,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200)
);

CREATE TABLE revisions (
  seq          bigserial PRIMARY KEY,
  collection   text NOT NULL CHECK (collection IN
                 ('sources', 'parties', 'proposals', 'clauses', 'talks', 'statements')),
  item_id      text NOT NULL,
  revision     integer NOT NULL CHECK (revision >= 1),
  changeset_id bigint NOT NULL REFERENCES changesets (id),
  valid_from   timestamptz NOT NULL,
  note         text CHECK (length(note) <= 2000),
  deleted      boolean NOT NULL DEFAULT false,
  snapshot     json NOT NULL,
  UNIQUE (collection, item_id, revision)
);
CREATE INDEX revisions_collection_seq_idx ON revisions (collection, seq);
CREATE INDEX revisions_changeset_idx ON revisions (changeset_id);

-- Dataset files applied by `seed`/`import`, so applying one again changes nothing.
CREATE TABLE dataset_imports (
  name        text PRIMARY KEY,
  sha256      text NOT NULL,
  imported_at timestamptz NOT NULL DEFAULT now()
);

CREATE DOMAIN slug AS text
  CHECK (VALUE ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(VALUE) <= 100);

CREATE TABLE sources (
  id           slug PRIMARY KEY,
  publisher    text NOT NULL,
  title        text,
  url          text CHECK (url ~ '^https?://'),
  published_on date,
  description  text NOT NULL,
  revision     integer NOT NULL DEFAULT 0,
  updated_at   timestamptz,
  deleted_at   timestamptz,
  doc          json
);

CREATE TABLE parties (
  id         slug PRIMARY KEY,
  name       text NOT NULL,
  short_name text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('state', 'alliance', 'organization')),
  revision   integer NOT NULL DEFAULT 0,
  updated_at timestamptz,
  deleted_at timestamptz,
  doc        json
);
CREATE INDEX parties_kind_idx ON parties (kind, id);

CREATE TABLE party_memberships (
  member_id slug NOT NULL REFERENCES parties (id),
  group_id  slug NOT NULL REFERENCES parties (id),
  PRIMARY KEY (member_id, group_id),
  CHECK (member_id <> group_id)
);
CREATE INDEX party_memberships_group_idx ON party_memberships (group_id, member_id);

CREATE TABLE proposals (
  id             slug PRIMARY KEY,
  title          text NOT NULL,
  short_title    text NOT NULL,
  proposer_id    slug NOT NULL REFERENCES parties (id),
  document_type  text NOT NULL CHECK (document_type IN ('treaty', 'agreement', 'written_response')),
  status         text NOT NULL CHECK (status IN ('draft', 'delivered', 'under_negotiation',
                   'rejected', 'withdrawn', 'superseded', 'signed', 'in_force')),
  handed_over_on date,
  published_on   date,
  summary        text NOT NULL,
  revision       integer NOT NULL DEFAULT 0,
  updated_at     timestamptz,
  deleted_at     timestamptz,
  doc            json
);
CREATE INDEX proposals_proposer_idx ON proposals (proposer_id, id);

CREATE TABLE proposal_addressees (
  proposal_id slug NOT NULL REFERENCES proposals (id),
  party_id    slug NOT NULL REFERENCES parties (id),
  position    integer NOT NULL,
  PRIMARY KEY (proposal_id, party_id)
);
CREATE INDEX proposal_addressees_party_idx ON proposal_addressees (party_id, proposal_id);

CREATE TABLE proposal_responses (
  proposal_id     slug NOT NULL REFERENCES proposals (id),
  responds_to_id  slug NOT NULL REFERENCES proposals (id),
  position        integer NOT NULL,
  PRIMARY KEY (proposal_id, responds_to_id)
);

CREATE TABLE clauses (
  id          slug PRIMARY KEY,
  proposal_id slug NOT NULL REFERENCES proposals (id),
  position    integer NOT NULL CHECK (position >= 0),
  label       text NOT NULL,
  summary     text NOT NULL,
  topics      text[] NOT NULL DEFAULT '{}',
  search      tsvector,
  revision    integer NOT NULL DEFAULT 0,
  updated_at  timestamptz,
  deleted_at  timestamptz,
  doc         json
);
-- A live clause owns its position; deleted ones give it up.
CREATE UNIQUE INDEX clauses_proposal_position_idx ON clauses (proposal_id, position)
  WHERE deleted_at IS NULL;
CREATE INDEX clauses_search_idx ON clauses USING gin (search);
-- Keyset pages of clauses in document order read this index in order, however deep.
CREATE INDEX clauses_document_order_idx ON clauses (proposal_id, position, id) WHERE deleted_at IS NULL;

CREATE TABLE clause_excerpts (
  clause_id slug NOT NULL REFERENCES clauses (id),
  position  integer NOT NULL,
  text      text NOT NULL CHECK (length(text) > 0),
  source_id slug NOT NULL REFERENCES sources (id),
  PRIMARY KEY (clause_id, position)
);
CREATE INDEX clause_excerpts_source_idx ON clause_excerpts (source_id);

CREATE TABLE clause_obligations (
  clause_id slug NOT NULL REFERENCES clauses (id),
  party_id  slug NOT NULL REFERENCES parties (id),
  position  integer NOT NULL,
  PRIMARY KEY (clause_id, party_id)
);
CREATE INDEX clause_obligations_party_idx ON clause_obligations (party_id, clause_id);

CREATE TABLE talks (
  id         slug PRIMARY KEY,
  title      text NOT NULL,
  format     text NOT NULL CHECK (format IN ('bilateral', 'council', 'multilateral', 'phone_call')),
  starts_on  date NOT NULL,
  ends_on    date CHECK (ends_on >= starts_on),
  location   text,
  status     text NOT NULL CHECK (status IN ('scheduled', 'held', 'cancelled', 'postponed')),
  chair_name text,
  chair_role text,
  summary    text NOT NULL,
  revision   integer NOT NULL DEFAULT 0,
  updated_at timestamptz,
  deleted_at timestamptz,
  doc        json,
  CHECK (chair_role IS NULL OR chair_name IS NOT NULL)
);
CREATE INDEX talks_keyset_idx ON talks (starts_on, id);

CREATE TABLE talk_parties (
  talk_id  slug NOT NULL REFERENCES talks (id),
  party_id slug NOT NULL REFERENCES parties (id),
  position integer NOT NULL,
  PRIMARY KEY (talk_id, party_id)
);
CREATE INDEX talk_parties_party_idx ON talk_parties (party_id, talk_id);

CREATE TABLE talk_proposals (
  talk_id     slug NOT NULL REFERENCES talks (id),
  proposal_id slug NOT NULL REFERENCES proposals (id),
  position    integer NOT NULL,
  PRIMARY KEY (talk_id, proposal_id)
);
CREATE INDEX talk_proposals_proposal_idx ON talk_proposals (proposal_id, talk_id);

CREATE TABLE talk_delegations (
  talk_id   slug NOT NULL REFERENCES talks (id),
  party_id  slug NOT NULL REFERENCES parties (id),
  head      text NOT NULL,
  head_role text,
  position  integer NOT NULL,
  PRIMARY KEY (talk_id, party_id)
);

CREATE TABLE statements (
  id           slug PRIMARY KEY,
  speaker      text NOT NULL,
  speaker_role text,
  party_id     slug REFERENCES parties (id),
  said_on      date,
  kind         text NOT NULL CHECK (kind IN ('quote', 'paraphrase')),
  quote        text,
  summary      text NOT NULL,
  search       tsvector,
  revision     integer NOT NULL DEFAULT 0,
  updated_at   timestamptz,
  deleted_at   timestamptz,
  doc          json,
  -- A quote carries the exact words; a paraphrase carries none of them.
  CHECK ((kind = 'quote') = (quote IS NOT NULL))
);
CREATE INDEX statements_party_idx ON statements (party_id, id);
CREATE INDEX statements_said_on_idx ON statements (said_on, id);
CREATE INDEX statements_search_idx ON statements USING gin (search);

CREATE TABLE statement_proposals (
  statement_id slug NOT NULL REFERENCES statements (id),
  proposal_id  slug NOT NULL REFERENCES proposals (id),
  position     integer NOT NULL,
  PRIMARY KEY (statement_id, proposal_id)
);
CREATE INDEX statement_proposals_proposal_idx ON statement_proposals (proposal_id);

CREATE TABLE statement_talks (
  statement_id slug NOT NULL REFERENCES statements (id),
  talk_id      slug NOT NULL REFERENCES talks (id),
  position     integer NOT NULL,
  PRIMARY KEY (statement_id, talk_id)
);
CREATE INDEX statement_talks_talk_idx ON statement_talks (talk_id);

-- Citations: every record names the sources that support it.
CREATE TABLE party_sources (
  party_id  slug NOT NULL REFERENCES parties (id),
  source_id slug NOT NULL REFERENCES sources (id),
  position  integer NOT NULL,
  PRIMARY KEY (party_id, source_id)
);
CREATE TABLE proposal_sources (
  proposal_id slug NOT NULL REFERENCES proposals (id),
  source_id   slug NOT NULL REFERENCES sources (id),
  position    integer NOT NULL,
  PRIMARY KEY (proposal_id, source_id)
);
CREATE TABLE clause_sources (
  clause_id slug NOT NULL REFERENCES clauses (id),
  source_id slug NOT NULL REFERENCES sources (id),
  position  integer NOT NULL,
  PRIMARY KEY (clause_id, source_id)
);
CREATE TABLE talk_sources (
  talk_id   slug NOT NULL REFERENCES talks (id),
  source_id slug NOT NULL REFERENCES sources (id),
  position  integer NOT NULL,
  PRIMARY KEY (talk_id, source_id)
);
CREATE TABLE statement_sources (
  statement_id slug NOT NULL REFERENCES statements (id),
  source_id    slug NOT NULL REFERENCES sources (id),
  position     integer NOT NULL,
  PRIMARY KEY (statement_id, source_id)
);
CREATE INDEX party_sources_source_idx ON party_sources (source_id);
CREATE INDEX proposal_sources_source_idx ON proposal_sources (source_id);
CREATE INDEX clause_sources_source_idx ON clause_sources (source_id);
CREATE INDEX talk_sources_source_idx ON talk_sources (source_id);
CREATE INDEX statement_sources_source_idx ON statement_sources (source_id);

-- replaces 0002_representations.sql sha256:25d0c8a2d138ee7f321eede2f5e8b8a631fef8bb08beec274f120b558f210bc1
-- replaces 0003_save_records.sql sha256:7edecb0d5b6687f516fa89e1909ae6d2a1136bed0a02c5293ee26d8744100ae3

-- replaces 0004_tokens.sql sha256:b9090fb1a99a6d3a248b8fe7be4bc6bd9a855a62e201463c3c78d57eaac891c7
-- API tokens for writes. Only a hash of each token's secret is stored; the token itself is shown
-- once, when it is created.
CREATE TABLE api_tokens (
  id            bigserial PRIMARY KEY,
  name          text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
  secret_sha256 text NOT NULL,
  scope         text NOT NULL CHECK (scope IN ('read', 'write')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz,
  revoked_at    timestamptz
);

-- replaces 0005_writes.sql sha256:0ffba84985e612ca6062c784fae757446716ee4266dfadf29d43c9ef07168f08
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

-- replaces 0007_rate_limits.sql sha256:45203f12df3774df356df908be80c5b5ba3804b94a365e07f707d845e7a6c9e0
-- Rate-limit counters for writes: one row per bucket (a token, a client address) per fixed
-- window, shared by every worker and host. UNLOGGED: counters are not worth WAL, survive a
-- clean restart, and are emptied after a crash, which only forgives a minute of writes.
-- The key starts with the window so that forgetting old windows is an index range scan.
CREATE UNLOGGED TABLE rate_limit_hits (
  window_start timestamptz NOT NULL,
  bucket       text NOT NULL,
  hits         integer NOT NULL,
  PRIMARY KEY (window_start, bucket)
);

-- replaces 0008_cached_plans.sql sha256:f1bbc279e7b8c77fb50a7b2040727d24aabf3c88ddaf44efbfbb8fa5c862d14d

-- replaces 0009_search_terms.sql sha256:e75c544dad9d1ea1d389af81f668e925571b099877b050485101a2766fd25a56
-- One row per lexeme of each live clause with minus its rank: a one-word search reads its page
-- from this index (sql/functions/search.sql keeps it in step).
CREATE TABLE clause_search_terms (
  term      tsquery NOT NULL,  -- lexeme_query() of one lexeme of the clause's search vector
  neg_rank  real NOT NULL,     -- -ts_rank(search, term): ascending order is best first
  clause_id text NOT NULL,     -- a live clause (no foreign key: clauses are never deleted, only tombstoned)
  PRIMARY KEY (term, neg_rank, clause_id)
);

-- replaces 0010_clause_snippets.sql sha256:796981989443fe184dcbf6e2a94f5a8f3f721ada642e7a1f973f486f4df27861
-- A clause's snippet text as parser tokens and their lexemes (sql/functions/snippets.sql).
ALTER TABLE clauses ADD COLUMN snippet_words text[], ADD COLUMN snippet_lexemes text[];

-- replaces 0011_html_snippets.sql sha256:7053b4202fcb9c9e1dc222e49c8be06346adf3c758e485de48305319573f1886

-- replaces 0012_idempotency_expiry.sql sha256:48c8cacd5c9a6c81330d963dc4cb53d5bad3b43f9083f9f19e1fe016f9aca445
-- Idempotency records expire after IDEMPOTENCY_TTL seconds: an expired one is never replayed,
-- and writes delete expired ones now and then, oldest first, found through this index.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- after sql/functions
UPDATE clauses SET search = search, doc = doc;
