"""A TypeScript client typed from openapi.yaml by openapi-typescript, compiled with `tsc --strict` and
run with node against the production server.

The program reads `talk.id`, `proposal.clauses[0].summary` and `next_cursor` into variables of exact
types, with no optional chaining and no non-null assertion: it compiles only if the document makes
those fields required (and `next_cursor` `string | null`) in the `application/json` answers. The
tools are pinned in package.json; without npm the test skips, but not in CI (`CI=true`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "node_modules" / ".bin"
TALK_ID = "geneva-strategic-stability-2022-01-10"
PROPOSAL_ID = "us-russia-security-treaty"

# openapi-fetch types `data` with every media type the document lists for a 2xx answer, unless the
# client names the one it wants: this client wants JSON, so a list is its page, not "page or CSV text".
PROGRAM = """\
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

declare const process: { argv: string[] };

const client = createClient<paths, "application/json">({ baseUrl: process.argv[2] });

async function main(): Promise<void> {
  const talk = await client.GET("/v1/talks/{talk_id}", { params: { path: { talk_id: "TALK_ID" } } });
  if (talk.data === undefined) throw new Error(`talk: ${talk.response.status}`);
  const id: string = talk.data.id;
  const location: string | null = talk.data.location;

  const proposal = await client.GET("/v1/proposals/{proposal_id}", {
    params: { path: { proposal_id: "PROPOSAL_ID" } },
  });
  if (proposal.data === undefined) throw new Error(`proposal: ${proposal.response.status}`);
  const summary: string = proposal.data.clauses[0].summary;

  const page = await client.GET("/v1/talks", { params: { query: { limit: 2 } } });
  if (page.data === undefined) throw new Error(`talks: ${page.response.status}`);
  const nextCursor: string | null = page.data.next_cursor;
  const firstStarts: string = page.data.items[0].starts_on;

  const csv = await client.GET("/v1/talks", { params: { query: { limit: 2, format: "csv" } }, parseAs: "text" });
  if (csv.data === undefined) throw new Error(`talks as CSV: ${csv.response.status}`);
  const header: string = csv.data.split("\\r\\n")[0];

  console.log(JSON.stringify({ id, location, summary, next_cursor: nextCursor, first_starts: firstStarts, header }));
}

main().catch((error: unknown) => {
  console.error(error);
  throw error;
});
""".replace("TALK_ID", TALK_ID).replace("PROPOSAL_ID", PROPOSAL_ID)

TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "target": "ES2022",
        "module": "NodeNext",
        "moduleResolution": "NodeNext",
        "lib": ["ES2022", "DOM"],
        "skipLibCheck": True,
        "outDir": "out",
    },
    "files": ["client.ts"],
}


def node_tools() -> None:
    """Skips (or fails, in CI) when openapi-typescript, tsc or node are missing."""
    missing = [name for name in ("openapi-typescript", "tsc") if not (BIN / name).exists()]
    if shutil.which("node") is None:
        missing.append("node")
    if not missing:
        return
    reason = "npm is not installed" if shutil.which("npm") is None else "run `make test-deps` to install them"
    message = f"{', '.join(missing)} not found ({reason})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: the TypeScript client must be checked)")
    pytest.skip(message)


def run(*command: str, cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def get(url: str, accept: str = "application/json") -> tuple[str, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}), timeout=30) as response:
        return response.headers["Content-Type"], response.read()


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The program, type-checked and compiled against types generated afresh from openapi.yaml."""
    node_tools()
    folder = tmp_path_factory.mktemp("typescript")
    (folder / "node_modules").symlink_to(ROOT / "node_modules")
    (folder / "package.json").write_text(json.dumps({"type": "module", "private": True}))
    (folder / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    (folder / "client.ts").write_text(PROGRAM)
    run(str(BIN / "openapi-typescript"), str(ROOT / "openapi.yaml"), "--output", "schema.d.ts", cwd=folder)
    run(str(BIN / "tsc"), "--project", "tsconfig.json", cwd=folder)
    return folder / "out" / "client.js"


def test_the_program_uses_neither_optional_chaining_nor_non_null_assertions():
    code = PROGRAM.replace("!==", "").replace("===", "")
    assert "?." not in code and "!" not in code


def test_the_generated_types_make_whole_items_exact_and_keep_sparse_and_csv_apart(compiled: Path):
    types = (compiled.parent.parent / "schema.d.ts").read_text()
    talk = types[types.index("        Talk: {") :]
    talk = talk[: talk.index("\n        };")]
    assert "\n            id: string;" in talk and "\n            location: string | null;" in talk
    assert "id?: string;" not in talk
    sparse = types[types.index("        TalkFields: {") :]
    assert "\n            id?: string;" in sparse[: sparse.index("\n        };")]
    assert '"application/vnd.proposals.sparse+json": components["schemas"]["TalkFieldsPage"];' in types
    assert '"text/csv": string;' in types


def test_the_compiled_client_reads_the_running_server(compiled: Path, live_server: str):
    printed = json.loads(run("node", str(compiled), live_server, cwd=compiled.parent))
    _, talk = get(f"{live_server}/v1/talks/{TALK_ID}")
    _, proposal = get(f"{live_server}/v1/proposals/{PROPOSAL_ID}")
    _, page = get(f"{live_server}/v1/talks?limit=2")
    _, csv = get(f"{live_server}/v1/talks?limit=2", accept="text/csv")
    assert printed == {
        "id": TALK_ID,
        "location": json.loads(talk)["location"],
        "summary": json.loads(proposal)["clauses"][0]["summary"],
        "next_cursor": json.loads(page)["next_cursor"],
        "first_starts": json.loads(page)["items"][0]["starts_on"],
        "header": csv.decode().split("\r\n")[0],
    }
    assert printed["next_cursor"] and printed["header"].startswith("id,title,format,starts_on")


def test_a_sparse_answer_says_so_in_its_content_type(live_server: str):
    whole_type, _ = get(f"{live_server}/v1/talks/{TALK_ID}")
    sparse_type, sparse = get(f"{live_server}/v1/talks/{TALK_ID}?fields=id,status")
    list_type, page = get(f"{live_server}/v1/talks?limit=1&fields=id")
    assert whole_type == "application/json"
    assert sparse_type == list_type == "application/vnd.proposals.sparse+json"
    assert json.loads(sparse) == {"id": TALK_ID, "status": "held"}
    assert list(json.loads(page)["items"][0]) == ["id"]
