-- Mirrors (issue 18): `proposals-api mirror URL` copies another instance into this database
-- through its public API, the export first, then its change feed.
--
-- A mirror tells one origin from another by its `instance_id` (migration 0017), whatever URL it
-- is reached under: the export and the change feed send it as `Instance-Id`.
--
-- mirror_state holds at most one row: the origin this database mirrors (its URL and its
-- instance_id), the phase (`copying` while the export is fetched and imported: nothing of it is
-- committed until the whole has been; `following` once it has), and the position in the origin's
-- change feed up to which every change is applied. The cursor is written in the transaction that
-- applies the changes it covers, so a mirror stopped at any moment resumes exactly there.
-- origin_changeset/local_changeset let one origin changeset that spans two pages of the feed stay
-- one changeset here.

CREATE TABLE mirror_state (
  only_row         boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  origin_url       text NOT NULL,
  origin_id        text NOT NULL,
  phase            text NOT NULL CHECK (phase IN ('copying', 'following')),
  feed_cursor      text,
  origin_changeset text,
  local_changeset  bigint REFERENCES changesets (id),
  started_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
