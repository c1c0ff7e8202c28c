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
-- Existing rows had only `said_on`: it becomes their `said_when` and both bounds. Every stored
-- representation of a statement, the current one and each revision's snapshot, gets the three new
-- fields beside `said_on`, in the order doc_statements writes them, with the values it would give
-- (all equal to `said_on`, a day or null). No revision is added: what each statement says, and
-- when it changed, is as it was; the shape of the JSON changed, which the ETags' representation
-- prefix (api/http/conditional.py) tells clients, as migration 0013 does for person ids.

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

-- `,"said_on":` cannot occur inside a JSON string (a quotation mark there is escaped), so this
-- finds the member itself.
CREATE FUNCTION pg_temp.with_said_when(doc json) RETURNS json LANGUAGE sql IMMUTABLE AS $$
  SELECT regexp_replace(doc::text, ',"said_on":(null|"[0-9]{4}-[0-9]{2}-[0-9]{2}"),',
                        ',"said_on":\1,"said_when":\1,"said_earliest":\1,"said_latest":\1,')::json
$$;

UPDATE statements SET doc = pg_temp.with_said_when(doc) WHERE doc IS NOT NULL;
UPDATE revisions SET snapshot = pg_temp.with_said_when(snapshot) WHERE collection = 'statements';

ALTER TABLE statements
  ADD CONSTRAINT statements_said_bounds_check CHECK (
    (said_when IS NULL) = (said_earliest IS NULL) AND (said_when IS NULL) = (said_latest IS NULL)
    AND said_earliest <= said_latest);

DROP INDEX statements_said_on_idx;
CREATE INDEX statements_said_order_idx ON statements (said_order, id);
