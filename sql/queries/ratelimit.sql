-- name: count_hits
-- One round trip per write: adds a hit to each bucket's counter for the current window (on the
-- database's clock, so every host agrees) and returns each count and the seconds left in the
-- window. The buckets arrive sorted, so concurrent requests lock rows in the same order.
INSERT INTO rate_limit_hits AS c (window_start, bucket, hits)
SELECT date_bin(make_interval(secs => %(window)s), now(), timestamptz '2000-01-01 00:00:00+00'), bucket, 1
  FROM unnest(%(buckets)s::text[]) AS bucket
 ORDER BY bucket
    ON CONFLICT (window_start, bucket) DO UPDATE SET hits = c.hits + 1
RETURNING bucket, hits,
          ceil(extract(epoch FROM c.window_start + make_interval(secs => %(window)s) - now()))::integer AS reset

-- name: forget_old_hits
-- Run by each worker about once a window: counters of windows that have ended are never read again.
DELETE FROM rate_limit_hits WHERE window_start < now() - make_interval(secs => %(window)s)
