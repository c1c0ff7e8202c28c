"""Tokens: made and revoked with the CLI, stored only as hashes, checked on every write."""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from api.command.tokens import tokens
from api.http.auth import create_token, hash_secret, list_tokens, parse_token, require_scope, revoke_token
from api.http.errors import ApiError

REALM = 'Bearer realm="proposals-api"'
INVALID = REALM + ', error="invalid_token"'
INSUFFICIENT = REALM + ', error="insufficient_scope", scope="write"'


def unique_name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


# Pure helpers


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("pat_1_" + "a" * 43, (1, "a" * 43)),
        ("pat_42_Ab-_" + "z" * 30, (42, "Ab-_" + "z" * 30)),
        ("pat_0_" + "a" * 43, None),  # ids start at 1
        ("pat_01_" + "a" * 43, None),
        ("pat_1_short", None),
        ("pat_1_" + "a" * 101, None),
        ("pat_1_" + "a" * 42 + "=", None),
        ("pat_x_" + "a" * 43, None),
        ("tok_1_" + "a" * 43, None),
        ("pat_1_" + "a" * 43 + "\n", None),
        ("", None),
    ],
)
def test_parse_token(text, parsed):
    assert parse_token(text) == parsed


def test_hash_secret_is_hex_sha256():
    assert hash_secret("abc") == hashlib.sha256(b"abc").hexdigest()
    assert len(hash_secret("x")) == 64


# The CLI


@pytest.fixture
def run(database_url):
    runner = CliRunner()
    return lambda *args: runner.invoke(tokens, list(args), env={"DATABASE_URL": database_url})


def test_create_prints_the_token_once_and_stores_only_its_hash(run, db, app):
    name = unique_name()
    made = run("create", name, "--scope", "read")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert "\n" not in token  # alone on stdout, for TOKEN=$(...)
    assert "will not be shown again" in made.stderr
    token_id, secret = parse_token(token)
    stored = db.execute(
        "SELECT name, scope, secret_sha256, expires_at, revoked_at FROM api_tokens WHERE id = %s", (token_id,)
    ).fetchone()
    assert stored == (name, "read", hash_secret(secret), None, None)
    whole_row = db.execute("SELECT row_to_json(t)::text FROM api_tokens t WHERE id = %s", (token_id,)).fetchone()[0]
    assert secret not in whole_row and token not in whole_row
    with app.test_request_context(headers={"Authorization": f"Bearer {token}"}):
        assert require_scope("read") == name


def test_list_shows_a_table_without_secrets_or_hashes(run, db):
    name = unique_name()
    token = run("create", name, "--expires-in-days", "7").stdout.strip()
    _, secret = parse_token(token)
    listed = run("list")
    assert listed.exit_code == 0, listed.output
    header, *lines = listed.stdout.splitlines()
    assert header.split() == ["name", "scope", "created", "expires", "revoked"]
    (line,) = [line for line in lines if line.startswith(name + " ")]
    expires = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d")
    assert " write " in line and expires in line and line.endswith(" -")
    assert secret not in listed.stdout and hash_secret(secret) not in listed.stdout
    assert all("secret_sha256" not in row for row in list_tokens(db))


def test_revoke(run, db):
    name = unique_name()
    run("create", name)
    revoked = run("revoke", name)
    assert (revoked.exit_code, revoked.stdout.strip()) == (0, f"revoked {name}")
    assert db.execute("SELECT revoked_at IS NOT NULL FROM api_tokens WHERE name = %s", (name,)).fetchone() == (True,)
    line = next(line for line in run("list").stdout.splitlines() if line.startswith(name + " "))
    assert not line.endswith(" -")
    again = run("revoke", name)
    assert again.exit_code == 1 and f"no active token called '{name}'" in again.stderr


def test_revoke_an_unknown_token_fails(run):
    missing = run("revoke", unique_name())
    assert missing.exit_code == 1 and "no active token called" in missing.stderr


def test_create_refuses_duplicate_and_bad_names(run):
    name = unique_name()
    assert run("create", name).exit_code == 0
    duplicate = run("create", name)
    assert duplicate.exit_code == 1 and "exists already" in duplicate.stderr
    for bad in ("Upper", ".dot-first", "with space", "x" * 101):
        refused = run("create", bad)
        assert refused.exit_code == 1 and "a name is 1-100" in refused.stderr, bad
    assert run("create", unique_name(), "--scope", "admin").exit_code == 2


# require_scope


def check(app, header: str | None, scope: str = "write") -> str:
    headers = {"Authorization": header} if header is not None else {}
    with app.test_request_context("/v1/talks", method="POST", headers=headers):
        return require_scope(scope)


def refused(app, header: str | None, scope: str = "write") -> ApiError:
    with pytest.raises(ApiError) as caught:
        check(app, header, scope)
    return caught.value


def test_no_header_is_401_with_a_challenge(app):
    error = refused(app, None)
    assert (error.code, error.description) == (401, "This request needs a token: send Authorization: Bearer <token>.")
    assert error.extra_headers == {"WWW-Authenticate": REALM}


def test_another_scheme_is_401_without_an_error_code(app):
    error = refused(app, "Basic dXNlcjpwYXNz")
    assert error.code == 401
    assert error.description == "The Authorization header uses the 'Basic' scheme; send Authorization: Bearer <token>."
    assert error.extra_headers == {"WWW-Authenticate": REALM}


@pytest.mark.parametrize("header", ["Bearer", "Bearer nonsense", "bearer pat_1_short", "Bearer pat_0_" + "a" * 43])
def test_a_malformed_token_is_401(app, header):
    error = refused(app, header)
    assert error.code == 401
    assert error.description == "The bearer token is malformed: a token looks like pat_<id>_<secret>."
    assert error.extra_headers == {"WWW-Authenticate": INVALID}


def test_an_unknown_id_is_401(app, db):
    unused = db.execute("SELECT coalesce(max(id), 0) + 1000 FROM api_tokens").fetchone()[0]
    error = refused(app, f"Bearer pat_{unused}_{'a' * 43}")
    assert (error.code, error.description) == (401, "The token is not known.")
    assert error.extra_headers == {"WWW-Authenticate": INVALID}


def test_a_wrong_secret_is_401(app, db):
    token_id, secret = parse_token(create_token(db, unique_name(), "write", None))
    wrong = ("b" if secret[0] != "b" else "c") + secret[1:]
    error = refused(app, f"Bearer pat_{token_id}_{wrong}")
    assert (error.code, error.description) == (401, "The token is not known.")
    assert error.extra_headers == {"WWW-Authenticate": INVALID}


def test_a_read_token_cannot_write(app, db):
    name = unique_name()
    token = create_token(db, name, "read", None)
    error = refused(app, f"Bearer {token}")
    assert (error.code, error.description) == (403, "The token may only read; this request needs write.")
    assert error.extra_headers == {"WWW-Authenticate": INSUFFICIENT}
    assert check(app, f"Bearer {token}", scope="read") == name


def test_a_revoked_token_is_401_at_once(app, db):
    name = unique_name()
    token = create_token(db, name, "write", None)
    assert check(app, f"Bearer {token}") == name
    assert revoke_token(db, name)
    assert not revoke_token(db, name)
    error = refused(app, f"Bearer {token}")
    assert (error.code, error.description) == (401, "The token was revoked.")
    assert error.extra_headers == {"WWW-Authenticate": INVALID}


def test_an_expired_token_is_401(app, db):
    token = create_token(db, unique_name(), "write", datetime.now(UTC) - timedelta(seconds=1))
    error = refused(app, f"Bearer {token}")
    assert (error.code, error.description) == (401, "The token has expired.")
    assert error.extra_headers == {"WWW-Authenticate": INVALID}


# Through HTTP (RFC 6750 §3.1): invalid_token is 401, insufficient_scope 403.

TALK = "/v1/talks/geneva-strategic-stability-2022-01-10"


def patch_with(client, token: str):
    return client.patch(
        TALK,
        headers={"Authorization": f"Bearer {token}", "If-Match": '"2.999"', "Content-Type": "application/json"},
        data=b'{"status": "held"}',
    )


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (
            lambda db: create_token(db, unique_name(), "write", datetime.now(UTC) - timedelta(minutes=1)),
            "The token has expired.",
        ),
        (lambda db: _revoked(db), "The token was revoked."),
    ],
    ids=["expired", "revoked"],
)
def test_an_expired_or_revoked_token_gets_401_invalid_token_over_http(client, db, make, detail):
    response = patch_with(client, make(db))
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == INVALID
    assert response.get_json()["detail"] == detail


def _revoked(db) -> str:
    name = unique_name()
    token = create_token(db, name, "write", None)
    assert revoke_token(db, name)
    return token


def test_a_read_only_token_writing_gets_403_insufficient_scope_over_http(client, db):
    response = patch_with(client, create_token(db, unique_name(), "read", None))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == INSUFFICIENT
    assert response.get_json()["detail"] == "The token may only read; this request needs write."


def test_a_valid_write_token_gets_past_the_guard_over_http(client, db):
    response = patch_with(client, create_token(db, unique_name(), "write", None))
    assert response.status_code == 412  # the stale If-Match: the token itself was accepted
    assert "WWW-Authenticate" not in response.headers


def test_a_token_expiring_later_works(app, db):
    name = unique_name()
    token = create_token(db, name, "write", datetime.now(UTC) + timedelta(hours=1))
    assert check(app, f"Bearer {token}") == name


def test_a_write_token_writes_and_reads(app, db):
    name = unique_name()
    token = create_token(db, name, "write", None)
    assert check(app, f"Bearer {token}") == name
    assert check(app, f"Bearer {token}", scope="read") == name
    assert check(app, f"bearer   {token}  ") == name  # the scheme is case-insensitive (RFC 7235)
