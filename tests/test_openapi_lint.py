"""openapi.yaml passes Spectral's `spectral:oas` and Redocly's `recommended` rules with no
problem of any severity; the rules switched off are in .spectral.yaml and redocly.yaml."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "node_modules" / ".bin"


def run_linter(name: str, *args: str) -> subprocess.CompletedProcess:
    executable = BIN / name
    if not executable.exists():
        reason = "npm is not installed" if shutil.which("npm") is None else "run `make test` to install them"
        pytest.skip(f"the OpenAPI linters are not in node_modules/ ({reason})")
    return subprocess.run([str(executable), *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_spectral_finds_nothing():
    result = run_linter("spectral", "lint", "openapi.yaml", "--format", "json", "--quiet")
    problems = json.loads(result.stdout or "[]")
    assert problems == [], "\n".join(f"{p['code']}: {'.'.join(map(str, p['path']))}: {p['message']}" for p in problems)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_redocly_finds_nothing():
    result = run_linter("redocly", "lint", "openapi.yaml", "--format", "json")
    problems = json.loads(result.stdout)["problems"]
    assert problems == [], "\n".join(f"{p['ruleId']}: {p['location'][0]['pointer']}: {p['message']}" for p in problems)
    assert result.returncode == 0, result.stderr


def test_every_operation_is_named_described_and_tagged():
    """What the linters only warn about, or do not check, made a hard rule here."""
    import yaml

    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    seen: set[str] = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("operationId"), where
            assert operation["operationId"] not in seen, where
            seen.add(operation["operationId"])
            assert operation.get("summary") and operation.get("description"), where
            assert operation.get("tags"), where
            assert "security" in operation, where
            errors = [code for code in operation["responses"] if code.startswith(("4", "5"))]
            assert errors, where
            if path != "/healthz":  # liveness never asks the database
                assert "503" in errors, where
