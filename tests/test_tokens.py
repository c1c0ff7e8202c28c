"""Tokens: made and revoked with the CLI, stored only as hashes, checked on every write."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from api.auth import create_token, hash_secret, parse_token, require_scope
from api.cli import main
from api.errors import ApiError


def name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def test_cli_makes_lists_and_revokes_tokens_storing_only_a_hash(database_url, db):
    runner = CliRunner()
    env = {"DATABASE_URL": database_url}
    token_name = name()
    made = runner.invoke(main, ["tokens", "create", token_name, "--scope", "read"], env=env)
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    token_id, secret = parse_token(token)
    stored = db.execute("SELECT name, scope, secret_sha256 FROM api_tokens WHERE id = %s", (token_id,)).fetchone()
    assert stored == (token_name, "read", hash_secret(secret))
    assert secret not in str(stored)
    listed = runner.invoke(main, ["tokens", "list"], env=env)
    assert token_name in listed.stdout and secret not in listed.stdout
    assert runner.invoke(main, ["tokens", "revoke", token_name], env=env).exit_code == 0
    again = runner.invoke(main, ["tokens", "revoke", token_name], env=env)
    assert again.exit_code == 1 and "no active token" in again.output
    duplicate = runner.invoke(main, ["tokens", "create", token_name], env=env)
    assert duplicate.exit_code == 1 and "exists already" in duplicate.output


def check(app, header: str | None, scope: str = "write") -> str:
    headers = {"Authorization": header} if header is not None else {}
    with app.test_request_context("/v1/talks", method="POST", headers=headers):
        return require_scope(scope)


def refused(app, header: str | None, scope: str = "write") -> ApiError:
    with pytest.raises(ApiError) as caught:
        check(app, header, scope)
    return caught.value


@pytest.mark.parametrize(
    "header",
    [None, "Basic abc", "Bearer", "Bearer nonsense", "Bearer pat_0_" + "a" * 43, "Bearer pat_999999_" + "a" * 43],
)
def test_missing_malformed_or_unknown_tokens_are_401(app, header):
    error = refused(app, header)
    assert error.code == 401
    assert error.extra_headers["WWW-Authenticate"].startswith('Bearer realm="proposals-api"')


def test_a_wrong_secret_is_401(app, db):
    token_id, _ = parse_token(create_token(db, name(), "write", None))
    error = refused(app, f"Bearer pat_{token_id}_{'b' * 43}")
    assert (error.code, error.description) == (401, "The token is not known.")
    assert 'error="invalid_token"' in error.extra_headers["WWW-Authenticate"]


def test_scopes_revocation_and_expiry(app, db):
    writer, reader, expired = name(), name(), name()
    write_token = create_token(db, writer, "write", None)
    read_token = create_token(db, reader, "read", None)
    expired_token = create_token(db, expired, "write", datetime.now(UTC) - timedelta(seconds=1))
    assert check(app, f"Bearer {write_token}") == writer
    assert check(app, f"Bearer {write_token}", scope="read") == writer
    assert check(app, f"Bearer {read_token}", scope="read") == reader
    assert refused(app, f"Bearer {read_token}").code == 403
    assert refused(app, f"Bearer {expired_token}").description == "The token has expired."
    from api.auth import revoke_token

    assert revoke_token(db, writer)
    assert (refused(app, f"Bearer {write_token}").code, refused(app, f"Bearer {write_token}").description) == (
        403,
        "The token was revoked.",
    )
