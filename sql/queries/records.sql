-- Writing records; {function} is save_<collection>, filled in with sql.Identifier.

-- name: save_record
SELECT {function}(%(record)s::jsonb, %(changeset)s, %(valid_from)s, %(note)s)

-- name: new_changeset
INSERT INTO changesets (actor) VALUES (%(actor)s) RETURNING id

-- name: current_doc
SELECT doc::jsonb, deleted_at IS NOT NULL FROM {table} WHERE id = %(id)s

-- name: dataset_import_digest
SELECT sha256 FROM dataset_imports WHERE name = %(name)s

-- name: record_dataset_import
INSERT INTO dataset_imports (name, sha256) VALUES (%(name)s, %(sha256)s)
ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, imported_at = now()
