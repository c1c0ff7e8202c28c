-- name: mirror_lock
-- One mirror at a time per database (a session lock: the mirror runs on a direct connection).
SELECT pg_try_advisory_lock(hashtextextended('proposals-api mirror', 0))

-- name: mirror_state
SELECT origin_url, origin_id, phase, feed_cursor, origin_changeset, local_changeset FROM mirror_state

-- name: holds_data
SELECT EXISTS (SELECT 1 FROM revisions)

-- name: mirror_begin
INSERT INTO mirror_state (origin_url, origin_id, phase) VALUES (%(url)s, %(origin_id)s, 'copying')
ON CONFLICT (only_row) DO UPDATE SET origin_url = EXCLUDED.origin_url, phase = 'copying', updated_at = now()

-- name: mirror_forget_file
-- The copy is imported as a dataset file; a mirror keeps no record of that file's name.
DELETE FROM dataset_imports WHERE name = %(name)s

-- name: mirror_follow_from
-- After the copy: the feed is read on from the cursor of the export's last change (none when the
-- origin had no data: from its feed's beginning).
UPDATE mirror_state SET phase = 'following', feed_cursor = %(cursor)s, origin_changeset = NULL,
       local_changeset = NULL, updated_at = now()

-- name: mirror_advance
UPDATE mirror_state SET feed_cursor = %(cursor)s, origin_changeset = %(origin_changeset)s,
       local_changeset = %(local_changeset)s, origin_url = %(url)s, updated_at = now()

-- name: mirror_item_revision
SELECT revision FROM {table} WHERE id = %(id)s

-- name: is_mirror
SELECT EXISTS (SELECT 1 FROM mirror_state)
