-- Idempotency records expire after IDEMPOTENCY_TTL seconds: an expired one is never replayed,
-- and writes delete expired ones now and then, oldest first, found through this index.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
