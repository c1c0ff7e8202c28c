-- Rate-limit counters for writes: one row per bucket (a token, a client address) per fixed
-- window, shared by every worker and host. UNLOGGED: counters are not worth WAL, survive a
-- clean restart, and are emptied after a crash, which only forgives a minute of writes.
-- The key starts with the window so that forgetting old windows is an index range scan.
CREATE UNLOGGED TABLE rate_limit_hits (
  window_start timestamptz NOT NULL,
  bucket       text NOT NULL,
  hits         integer NOT NULL,
  PRIMARY KEY (window_start, bucket)
);
