-- Tells every worker's version cache (api/store/versions.py) which items changed: at the end of
-- each statement that inserts revisions, the (collection, revision, deleted, id) of every row it
-- inserted, one a line (`proposals/3/l/some-id`, `d` when the revision deletes the item), in
-- payloads under 8,000 bytes (pg_notify's limit). A statement that inserted more than 2,000 rows
-- (a bulk import) sends one `*` instead, which empties the caches: a few notices at most, whatever
-- the statement's size. So does a statement that deletes or truncates revisions (a reset), since
-- revisions numbered anew could otherwise match an ETag a client kept. Notices are delivered when
-- the transaction commits, and not at all if it rolls back.

CREATE OR REPLACE FUNCTION notify_versions_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  payload text := '';
  line text;
BEGIN
  IF (SELECT count(*) FROM (SELECT 1 FROM inserted_revisions LIMIT 2001) AS n) > 2000 THEN
    PERFORM pg_notify('proposals_api_versions', '*');
    RETURN NULL;
  END IF;
  FOR line IN
    SELECT r.collection || '/' || r.revision || CASE WHEN r.deleted THEN '/d/' ELSE '/l/' END || r.item_id
      FROM inserted_revisions r
  LOOP
    IF payload <> '' AND octet_length(payload) + octet_length(line) >= 7900 THEN
      PERFORM pg_notify('proposals_api_versions', payload);
      payload := '';
    END IF;
    payload := CASE WHEN payload = '' THEN line ELSE payload || E'\n' || line END;
  END LOOP;
  -- The change feed's newest position, as one more line under a key of its own (`changes`/`head`),
  -- so that a poll of the feed's head is answered from the cache too (api/resources/changes.py).
  line := 'changes/' || (SELECT max(r.seq) FROM inserted_revisions r) || '/l/head';
  IF line IS NULL THEN
    RETURN NULL;  -- the statement inserted no row: nothing to tell
  END IF;
  IF payload <> '' AND octet_length(payload) + octet_length(line) >= 7900 THEN
    PERFORM pg_notify('proposals_api_versions', payload);
    payload := '';
  END IF;
  payload := CASE WHEN payload = '' THEN line ELSE payload || E'\n' || line END;
  PERFORM pg_notify('proposals_api_versions', payload);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION notify_versions_everything() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('proposals_api_versions', '*');
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER revisions_notify_inserted AFTER INSERT ON revisions
  REFERENCING NEW TABLE AS inserted_revisions
  FOR EACH STATEMENT EXECUTE FUNCTION notify_versions_inserted();

CREATE OR REPLACE TRIGGER revisions_notify_deleted AFTER DELETE ON revisions
  FOR EACH STATEMENT EXECUTE FUNCTION notify_versions_everything();

CREATE OR REPLACE TRIGGER revisions_notify_truncated AFTER TRUNCATE ON revisions
  FOR EACH STATEMENT EXECUTE FUNCTION notify_versions_everything();
