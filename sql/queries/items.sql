-- Generic item lookups; {table} is a collection's table, filled in with sql.Identifier.

-- name: item_revision
SELECT revision, deleted_at IS NOT NULL AS deleted FROM {table} WHERE id = %(id)s

-- name: item_doc
SELECT doc::text, revision, deleted_at IS NOT NULL AS deleted, updated_at FROM {table} WHERE id = %(id)s

-- name: collection_version
SELECT coalesce(max(seq), 0) FROM revisions WHERE collection = %(collection)s

-- name: cursor_secret
SELECT value FROM app_settings WHERE name = 'cursor_secret'
