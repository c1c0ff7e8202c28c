-- Writing records; {function} is save_<collection>, filled in with sql.Identifier.

-- name: save_record
SELECT {function}(%(record)s::jsonb, %(changeset)s, %(valid_from)s, %(note)s)

-- name: new_changeset
-- Every writer draws its changesets here: new_changeset() takes the change feed's lock first
-- (sql/functions/writes.sql), so writers commit in the order of their revisions' seq.
SELECT id FROM new_changeset(%(actor)s)

-- name: current_doc
SELECT doc::jsonb, deleted_at IS NOT NULL FROM {table} WHERE id = %(id)s

-- name: dataset_import_digest
SELECT sha256 FROM dataset_imports WHERE name = %(name)s

-- name: record_dataset_import
INSERT INTO dataset_imports (name, sha256) VALUES (%(name)s, %(sha256)s)
ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, imported_at = now()

-- name: new_changeset_now
-- The same, with the instant it was recorded (an API write's `valid_from`).
SELECT id, recorded_at FROM new_changeset(%(actor)s)

-- name: lock_changes
-- The change feed's lock, taken first thing in an API write: a write locks rows before it draws its
-- changeset, and taking this lock after them could deadlock with a writer that holds it.
SELECT lock_changes()

-- name: lock_key
SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))

-- name: item_for_update
SELECT doc::jsonb, revision, deleted_at IS NOT NULL AS deleted FROM {table} WHERE id = %(id)s FOR UPDATE

-- name: delete_item
SELECT delete_item(%(collection)s, %(id)s, %(changeset)s, %(valid_from)s, %(note)s)

-- name: idempotent_response
-- The first response to this key, unless it has expired (those are never replayed).
SELECT request_sha256, status, location, etag, body FROM idempotency_keys
 WHERE actor = %(actor)s AND key = %(key)s AND created_at > now() - make_interval(secs => %(ttl)s)

-- name: forget_expired_response
-- This key's record once it has expired, so that the key can be used afresh.
DELETE FROM idempotency_keys
 WHERE actor = %(actor)s AND key = %(key)s AND created_at <= now() - make_interval(secs => %(ttl)s)

-- name: forget_expired_responses
-- Run by each worker about once a minute, on a write: at most 1,000 expired records at a time.
DELETE FROM idempotency_keys WHERE (actor, key) IN (
  SELECT actor, key FROM idempotency_keys
   WHERE created_at <= now() - make_interval(secs => %(ttl)s)
   ORDER BY created_at LIMIT 1000)

-- name: remember_response
INSERT INTO idempotency_keys (actor, key, request_sha256, status, location, etag, body)
VALUES (%(actor)s, %(key)s, %(request_sha256)s, %(status)s, %(location)s, %(etag)s, %(body)s)

-- name: lock_proposal
-- Writers lock a proposal before any of its clauses, so clause and proposal writes never deadlock.
SELECT 1 FROM proposals WHERE id = %(id)s FOR UPDATE

-- name: lock_proposal_of_clause
SELECT 1 FROM proposals WHERE id = (SELECT proposal_id FROM clauses WHERE id = %(id)s) FOR UPDATE

-- name: defer_person_references
-- An import checks its references to people at its end: an export of a database migrated by 0013
-- lists the people it created after the statements and talks that name them.
-- (They are the only deferrable constraints; ALL also works on a database from before 0013.)
SET CONSTRAINTS ALL DEFERRED

-- name: check_person_references
SET CONSTRAINTS ALL IMMEDIATE
