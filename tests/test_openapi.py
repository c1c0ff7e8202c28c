"""The OpenAPI document: current, valid, complete, and true of the running server."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml
from openapi_spec_validator import validate

from api.command.cli import openapi_yaml
from api.http.auth import create_token
from tests.conftest import start_server, stop_server
from tests.support import create_seeded_database, drop_database

ROOT = Path(__file__).resolve().parent.parent


def test_openapi_yaml_is_what_the_code_generates():
    assert (ROOT / "openapi.yaml").read_text() == openapi_yaml(), "run `make openapi` and commit openapi.yaml"


def test_openapi_yaml_is_a_valid_openapi_3_1_document():
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_served_document_equals_the_file(client):
    served = client.get("/v1/openapi.json")
    assert served.status_code == 200
    assert served.get_json() == yaml.safe_load((ROOT / "openapi.yaml").read_text())


def test_every_field_has_a_description_and_an_example():
    schemas = yaml.safe_load((ROOT / "openapi.yaml").read_text())["components"]["schemas"]
    missing = [
        f"{name}.{prop}: {key}"
        for name, schema in schemas.items()
        for prop, spec in schema.get("properties", {}).items()
        for key in ("description", "example")
        if key not in spec
    ]
    assert missing == []


def test_every_operation_documents_its_errors_as_problem_json():
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation.get("summary"), f"{method} {path} has no summary"
            errors = [code for code in operation["responses"] if code.startswith(("4", "5"))]
            assert errors or path in ("/healthz",), f"{method} {path} documents no error"
    for name, response in document["components"]["responses"].items():
        if "content" in response:
            assert list(response["content"]) == ["application/problem+json"], name


@pytest.fixture
def scratch_server(server_url):
    """The production server on a seeded database of its own, which schemathesis may write to."""
    url = create_seeded_database(server_url, "proposals_fuzz")
    with psycopg.connect(url, autocommit=True) as conn:
        token = create_token(conn, "schemathesis", "write", None)
    base, process = start_server(url)
    yield base, token, process
    stop_server(process)
    drop_database(server_url, url)


def test_schemathesis_finds_no_failure_against_the_running_server(scratch_server):
    """Every operation, positive and negative data, with a write token (schemathesis.toml)."""
    base, token, server = scratch_server
    env = dict(
        os.environ, SCHEMATHESIS_HOOKS="tests.schemathesis_hooks", PYTHONPATH=str(ROOT), SCHEMATHESIS_TOKEN=token
    )
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{base}/v1/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--workers",
        "2",
        "--seed",
        "1",
        "--suppress-health-check",
        "too_slow",
        "--request-timeout",
        "30",  # a busy 2-core machine is slow, not broken
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    server_log = Path(server.log_path).read_text()[-4000:]
    assert result.returncode == 0, result.stdout[-8000:] + "\n--- server log ---\n" + server_log
    assert "✅ Stateful" in result.stdout, "the stateful phase (sequences along the document's links) did not run"
    assert "✅ Fuzzing" in result.stdout
