-- Statement dates the sources only bound (issue 16): an EDTF value and the days it bounds.
--
-- `said_when` is the date as EDTF (ISO 8601-2) of the subset docs/researchers.md gives: a day
-- (`2021-12-30`), a month or a year, an interval (`2021-12-30/2021-12-31`), open on one side
-- (`../2021-12-31`), each end perhaps uncertain or approximate (`?`, `~`, `%`). Postgres derives
-- from it (save_statement_dates in sql/functions/writes.sql) the earliest and latest day it may
-- be, `-infinity`/`infinity` for an open end, so that filters and sorting need no parser, and
-- `said_on`, which now holds the day only when the value fixes exactly one. `said_order` is the
-- sort key of `sort=said_when`: earliest, then latest day, as text that sorts byte by byte.
--
-- Existing rows had only `said_on`: it becomes their `said_when` and both bounds. Each live
-- statement's representation gets the three new fields beside `said_on`, in the order
-- doc_statements writes them, with the values it would give (all equal to `said_on`, a day or
-- null), as a new revision of one changeset by "migration 0015", valid from now: a client that
-- holds the old ETag, or follows /v1/changes, sees that the representation changed. Earlier
-- revisions' snapshots are not touched: history shows what was served at the time.

ALTER TABLE statements
  ADD COLUMN said_when text,
  ADD COLUMN said_earliest date,
  ADD COLUMN said_latest date,
  ADD COLUMN said_order text COLLATE "C" NOT NULL DEFAULT '~';

UPDATE statements
   SET said_when = to_char(said_on, 'YYYY-MM-DD'),
       said_earliest = said_on,
       said_latest = said_on,
       said_order = CASE WHEN said_on IS NULL THEN '~'
                         ELSE to_char(said_on, 'YYYY-MM-DD') || '/' || to_char(said_on, 'YYYY-MM-DD') END;

INSERT INTO changesets (actor)
SELECT 'migration 0015' WHERE EXISTS (SELECT 1 FROM statements WHERE deleted_at IS NULL AND doc IS NOT NULL);

-- `,"said_on":` and `,"revision":` cannot occur inside a JSON string (a quotation mark there is
-- escaped), so these find the members themselves; revision and updated_at end every doc.
UPDATE statements s
   SET revision = s.revision + 1,
       updated_at = c.recorded_at,
       doc = regexp_replace(
               regexp_replace(s.doc::text, ',"said_on":(null|"[0-9]{4}-[0-9]{2}-[0-9]{2}"),',
                              ',"said_on":\1,"said_when":\1,"said_earliest":\1,"said_latest":\1,'),
               ',"revision":[0-9]+,"updated_at":("[^"]*"|null)}$',
               ',"revision":' || (s.revision + 1) || ',"updated_at":"' || rfc3339(c.recorded_at) || '"}')::json
  FROM changesets c
 WHERE c.actor = 'migration 0015' AND c.recorded_at = now() AND s.deleted_at IS NULL AND s.doc IS NOT NULL;

INSERT INTO revisions (collection, item_id, revision, changeset_id, valid_from, note, snapshot)
SELECT 'statements', s.id, s.revision, c.id, c.recorded_at,
       'The representation gains said_when, said_earliest and said_latest (EDTF dates), derived from '
       || 'said_on; what the statement says is unchanged.', s.doc
  FROM statements s JOIN changesets c ON c.actor = 'migration 0015' AND c.recorded_at = now()
 WHERE s.deleted_at IS NULL AND s.doc IS NOT NULL;

ALTER TABLE statements
  ADD CONSTRAINT statements_said_bounds_check CHECK (
    (said_when IS NULL) = (said_earliest IS NULL) AND (said_when IS NULL) = (said_latest IS NULL)
    AND said_earliest <= said_latest);

DROP INDEX statements_said_on_idx;
CREATE INDEX statements_said_order_idx ON statements (said_order, id);
