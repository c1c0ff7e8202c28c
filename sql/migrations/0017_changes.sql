-- The change feed (`GET /v1/changes`, api/resources/changes.py).
--
-- Its order is `revisions.seq`. Every writer now draws its changeset through new_changeset()
-- (sql/functions/writes.sql), which first takes one transaction-scoped advisory lock: writers
-- commit one at a time, so seq order is commit order and a reader that has seen seq N never
-- later meets a smaller seq committing. `recorded_at` is taken after that lock
-- (clock_timestamp()), so it rises in commit order too, and `since=<instant>` finds its place
-- through this index.
CREATE INDEX changesets_recorded_at_idx ON changesets (recorded_at, id);

-- Names this database's history: a feed cursor made here resumes exactly; one made on another
-- database (an import of an export, a mirror) resumes at the start of the commit that holds the
-- revision it names there. A streaming replica shares it with its primary, as it shares the seqs.
INSERT INTO app_settings (name, value)
VALUES ('instance_id', substr(replace(gen_random_uuid()::text, '-', ''), 1, 16))
ON CONFLICT (name) DO NOTHING;
