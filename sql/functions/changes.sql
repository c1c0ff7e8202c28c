-- The change feed's cursors (`GET /v1/changes`, api/resources/changes.py, which decodes them).
--
-- A cursor names a position by the identity of the revision just before it: this database's
-- instance id (app_settings), the revision's collection, item id and number, and its seq as a
-- hint, as `c1:<instance>:<collection>:<item>:<revision>:<seq>` in URL-safe base64 without padding.
-- Not signed: it carries nothing secret, and a database rebuilt from an export (which has another
-- cursor secret) must still read it. Built here so that a page is one query whose rows go out as
-- they are.
CREATE OR REPLACE FUNCTION change_cursor(instance text, coll text, item text, rev integer, seq bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT translate(encode(convert_to(concat_ws(':', 'c1', instance, coll, item, rev, seq), 'UTF8'), 'base64'),
                   E'+/=\n', '-_')
$$;
