-- name: token_by_id
-- Read on every write request, so a revocation counts at once in every worker.
SELECT name, secret_sha256, scope, expires_at <= now() AS expired, revoked_at IS NOT NULL AS revoked
  FROM api_tokens WHERE id = %(id)s

-- name: create_token
INSERT INTO api_tokens (name, secret_sha256, scope, expires_at)
VALUES (%(name)s, %(secret_sha256)s, %(scope)s, %(expires_at)s)
RETURNING id

-- name: revoke_token
UPDATE api_tokens SET revoked_at = now() WHERE name = %(name)s AND revoked_at IS NULL RETURNING id

-- name: list_tokens
SELECT name, scope, created_at, expires_at, revoked_at FROM api_tokens ORDER BY created_at, name
