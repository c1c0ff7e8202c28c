"""Bearer tokens for writes (RFC 6750).

A token is `pat_<id>_<secret>`. The database keeps only the SHA-256 of the secret: the id
finds the row, and the hashes are compared in constant time. Revocation and expiry are
read from the database on every request, so they count at once in every worker. No token, or
one that is malformed, unknown, revoked or expired, is 401 (`error="invalid_token"` when a
bearer token was sent); 403 is only for a valid token whose scope is too small
(`error="insufficient_scope"`), as RFC 6750 §3.1 has it.

Which requests need which scope is decided here, once, by `access` (`needed_scope`): a read
needs none, and any other method on a route needs `write` (deny by default: a new write route is
guarded without being told). api/http/hooks.py asks for the verdict before any view or other
check reads the request, so nothing about a write is looked at before its token; the rate limits
count the request next (api/http/ratelimit.py: writes by address, and by token id when the token
is good), and only then is a refusal raised, so that 429 wins over 401/403 once an address is over
its limit. A view's own `require_scope` then costs nothing: the verdict is kept for the request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg
from flask import g, request

from api.http.connection import SAFE_METHODS, connection
from api.http.errors import ApiError
from api.store.sql import q

SCOPES = ("read", "write")  # in order of power: a token may do what any scope before its own allows
TOKEN = re.compile(r"pat_([1-9][0-9]{0,17})_([A-Za-z0-9_-]{20,100})")  # used with fullmatch
REALM = 'Bearer realm="proposals-api"'
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "A token made with `proposals-api tokens create NAME --scope write`. Reads need none.",
}
# Compared against when the id is unknown, so an unknown id costs the same as a wrong secret.
_NO_HASH = "0" * 64


def parse_token(text: str) -> tuple[int, str] | None:
    """(id, secret) of a well-formed token, else None; bounds keep junk away from the database."""
    match = TOKEN.fullmatch(text)
    return (int(match.group(1)), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    """What the database stores instead of the secret (hex SHA-256)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _unauthorized(detail: str, *, invalid: bool) -> ApiError:
    # RFC 6750 §3.1: no error code when no bearer token was presented at all.
    challenge = REALM + (', error="invalid_token"' if invalid else "")
    return ApiError(401, detail, headers={"WWW-Authenticate": challenge})


def _insufficient_scope(detail: str, scope: str) -> ApiError:
    """403 (RFC 6750 §3.1): a valid token whose scope does not allow the request."""
    challenge = f'{REALM}, error="insufficient_scope", scope="{scope}"'
    return ApiError(403, detail, headers={"WWW-Authenticate": challenge})


@dataclass(frozen=True)
class Token:
    """A known token that is neither revoked nor expired (`authorize` checks its scope)."""

    id: int
    name: str
    scope: str


@dataclass(frozen=True)
class Access:
    """What a request needs, and what its token allows: decided before the rate limits count the
    request, enforced after them."""

    scope: str | None = None  # None: a public request
    token: Token | None = None  # the token that allows it
    refusal: ApiError | None = None  # why it may not (401, 403)

    def enforce(self) -> None:
        """401 or 403 when the request's token does not allow it."""
        if self.refusal is not None:
            raise self.refusal


PUBLIC = Access()


def needed_scope() -> str | None:
    """The scope the request needs: none to read (GET, HEAD, OPTIONS, and a path or method with no
    route, which answers 404 or 405), `write` for any other method on a route."""
    if request.method in SAFE_METHODS or request.url_rule is None:
        return None
    return "write"


def access() -> Access:
    """The request's needs and its token's verdict, the token read (once) for a request that needs one."""
    scope = needed_scope()
    if scope is None:
        return PUBLIC
    try:
        return Access(scope, token=authorize(scope))
    except ApiError as refusal:
        return Access(scope, refusal=refusal)


def require_scope(scope: str) -> str:
    """The name of the request's token (the actor) when it may act with `scope`; 401 or 403 otherwise."""
    return authorize(scope).name


def authorize(scope: str) -> Token:
    """The request's token when it may act with `scope`; 401 or 403 otherwise.

    The token row is read once per request: later calls (the guard, then the view) reuse it.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    if "auth_token" not in g:
        try:
            g.auth_token = _verified_token()
        except ApiError as error:
            g.auth_token = error
    token = g.auth_token
    if isinstance(token, ApiError):
        raise token
    if SCOPES.index(token.scope) < SCOPES.index(scope):
        raise _insufficient_scope(f"The token may only {token.scope}; this request needs {scope}.", scope)
    return token


def _verified_token() -> Token:
    """The request's bearer token, known, not revoked and not expired; 401 (`invalid_token`) otherwise."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        raise _unauthorized("This request needs a token: send Authorization: Bearer <token>.", invalid=False)
    kind, _, text = header.partition(" ")
    if kind.lower() != "bearer":
        raise _unauthorized(
            f"The Authorization header uses the {kind[:20]!r} scheme; send Authorization: Bearer <token>.",
            invalid=False,
        )
    parsed = parse_token(text.strip())
    if parsed is None:
        raise _unauthorized("The bearer token is malformed: a token looks like pat_<id>_<secret>.", invalid=True)
    token_id, secret = parsed
    row = connection().execute(q("token_by_id"), {"id": token_id}).fetchone()
    stored = row[1] if row is not None else _NO_HASH
    if not hmac.compare_digest(stored, hash_secret(secret)) or row is None:
        raise _unauthorized("The token is not known.", invalid=True)
    name, _, token_scope, expired, revoked = row
    if revoked:
        raise _unauthorized("The token was revoked.", invalid=True)
    if expired:
        raise _unauthorized("The token has expired.", invalid=True)
    return Token(token_id, name, token_scope)


def create_token(conn: psycopg.Connection, name: str, scope: str, expires_at: datetime | None) -> str:
    """Stores a new token's hash; returns the token, which is never shown again."""
    secret = secrets.token_urlsafe(32)
    with conn.transaction():
        token_id = conn.execute(
            q("create_token"),
            {"name": name, "secret_sha256": hash_secret(secret), "scope": scope, "expires_at": expires_at},
        ).fetchone()[0]
    return f"pat_{token_id}_{secret}"


def revoke_token(conn: psycopg.Connection, name: str) -> bool:
    """Revokes the named token for good; False when there is no such token, or it was revoked already."""
    with conn.transaction():
        return conn.execute(q("revoke_token"), {"name": name}).fetchone() is not None


def list_tokens(conn: psycopg.Connection) -> list[dict]:
    """Every token's name, scope and dates, oldest first; never the hash."""
    rows = conn.execute(q("list_tokens")).fetchall()
    return [dict(zip(("name", "scope", "created_at", "expires_at", "revoked_at"), row, strict=True)) for row in rows]
