"""A Python client generated from openapi.yaml by openapi-python-client, used against the running
server for every operation in the document.

The client raises on any status the document does not list for an operation, and every JSON body it
parses is turned back into JSON and compared with what the server sent: a field the document lacks, a
wrong type or a missing required field fails the test. The last test fails if an operationId was never
called.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
import yaml

from api.http.auth import create_token
from api.store.dataset import seed
from api.store.migrate import migrate
from tests.conftest import create_database, drop_database, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
PACKAGE = "proposals_api_client"
OPERATIONS = {
    operation["operationId"]: operation["tags"][0]
    for item in SPEC["paths"].values()
    for method, operation in item.items()
    if method != "parameters"
}
CALLED: set[str] = set()
JSON_TYPES = {"application/json", "application/problem+json", "application/json-patch+json"}
UTC_OFFSET = re.compile(r"\+00:00$")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated afresh from the committed document."""
    folder = tmp_path_factory.mktemp("generated")
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            *("generate", "--path", str(ROOT / "openapi.yaml")),
            *("--meta", "none", "--output-path", str(folder / PACKAGE)),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=300,
    )
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def server(server_url: str) -> Iterator[dict[str, str]]:
    """The production server on a seeded database of its own, with a write and a read token."""
    url = create_database(server_url, "proposals_client")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        seed(conn)
        tokens = {scope: create_token(conn, f"client-{scope}", scope, None) for scope in ("write", "read")}
    base, process = start_server(url)
    yield {"base": base, **tokens}
    stop_server(process)
    drop_database(server_url, url)


@pytest.fixture(scope="module")
def clients(generated: ModuleType, server: dict[str, str]) -> dict[str, Any]:
    options = {"base_url": server["base"], "raise_on_unexpected_status": True, "timeout": 30.0}
    return {
        "anonymous": generated.Client(**options),
        "writer": generated.AuthenticatedClient(token=server["write"], **options),
        "reader": generated.AuthenticatedClient(token=server["read"], **options),
    }


def model(generated: ModuleType, name: str, data: dict) -> Any:
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name).from_dict(data)


def as_json(value: Any) -> Any:
    """What the client's model turns back into JSON, with UTC written as the server writes it."""
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if isinstance(value, str):
        return UTC_OFFSET.sub("Z", value)
    return value


def call(client: Any, operation_id: str, *args: Any, expect: int, **kwargs: Any) -> Any:
    """Calls one operation through the generated module and checks the answer against the document."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()
    module = importlib.import_module(f"{PACKAGE}.api.{OPERATIONS[operation_id]}.{snake}")
    response = module.sync_detailed(*args, client=client, **kwargs)
    CALLED.add(operation_id)
    assert response.status_code == expect, response.content[:500]
    content_type = response.headers.get("content-type", "")
    if expect >= 400:
        assert content_type == "application/problem+json", content_type
    if content_type.split(";")[0] in JSON_TYPES and response.content:
        sent = json.loads(response.content)
        parsed = response.parsed
        back = [item.to_dict() for item in parsed] if isinstance(parsed, list) else parsed.to_dict()
        assert as_json(back) == sent, f"{operation_id}: the document and the server disagree"
    return response


def test_reads_filters_and_conditional_requests(clients: dict[str, Any]):
    anonymous = clients["anonymous"]
    assert json.loads(call(anonymous, "checkHealth", expect=200).content) == {"status": "ok"}
    assert json.loads(call(anonymous, "checkReadiness", expect=200).content) == {"status": "ready"}

    talks = call(anonymous, "listTalks", expect=200, party="nato").parsed
    assert [talk.id for talk in talks.items] == ["nato-russia-council-2022-01-12"]
    talk = call(anonymous, "getTalk", "geneva-strategic-stability-2022-01-10", expect=200)
    assert talk.parsed.delegations[0].head == "Wendy Sherman"
    call(anonymous, "getTalk", talk.parsed.id, expect=304, if_none_match=talk.headers["etag"])
    then = datetime.datetime(2022, 1, 1, tzinfo=datetime.UTC)
    assert call(anonymous, "getTalk", talk.parsed.id, expect=200, as_of=then).parsed.status == "scheduled"

    parties = call(anonymous, "listParties", expect=200, member_of="nato", limit=200).parsed
    assert len(parties.items) == 30
    assert call(anonymous, "getParty", "nato", expect=200).parsed.kind == "alliance"
    proposals = call(anonymous, "listProposals", expect=200, proposer="russia").parsed
    assert {proposal.id for proposal in proposals.items} >= {"us-russia-security-treaty"}
    treaty = call(anonymous, "getProposal", "us-russia-security-treaty", expect=200).parsed
    assert [clause.position for clause in treaty.clauses] == list(range(1, len(treaty.clauses) + 1))
    statements = call(anonymous, "listStatements", expect=200, speaker="Sergey Lavrov").parsed
    assert statements.items and all(item.speaker == "Sergey Lavrov" for item in statements.items)
    call(anonymous, "getStatement", statements.items[0].id, expect=200)
    sources = call(anonymous, "listSources", expect=200, limit=5).parsed
    call(anonymous, "getSource", sources.items[0].id, expect=200)
    clause = call(anonymous, "getClause", treaty.clauses[4].id, expect=200).parsed
    assert clause.excerpts and clause.proposal_id == treaty.id


def test_search_and_pagination_by_following_the_cursor(clients: dict[str, Any]):
    anonymous = clients["anonymous"]
    found = call(anonymous, "listClauses", expect=200, q="deployment").parsed
    assert found.items and "<mark>" in found.items[0].search.snippet
    assert call(anonymous, "listStatements", expect=200, q="guarantees").parsed.items

    everything = call(anonymous, "listClauses", expect=200, limit=200).parsed.items
    seen, cursor = [], None
    while True:
        kwargs = {"cursor": cursor} if cursor else {}
        page = call(anonymous, "listClauses", expect=200, limit=3, **kwargs).parsed
        seen += [clause.id for clause in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == [clause.id for clause in everything] and len(seen) > 3

    ordered = call(anonymous, "listProposalClauses", "us-russia-security-treaty", expect=200, limit=2).parsed
    assert [clause.position for clause in ordered.items] == [1, 2] and ordered.next_cursor


def test_history_revisions_and_diffs(clients: dict[str, Any]):
    anonymous = clients["anonymous"]
    talk_id = "geneva-strategic-stability-2022-01-10"
    revisions = call(anonymous, "listTalkRevisions", talk_id, expect=200).parsed
    assert [revision.revision for revision in revisions.items] == [2, 1]
    first = call(anonymous, "getTalkRevision", talk_id, 1, expect=200).parsed
    assert first.item.status == "scheduled"
    diff = call(anonymous, "getTalkRevisionDiff", talk_id, 2, expect=200, from_=1).parsed
    assert {"op": "replace", "path": "/status", "value": "held"} in [operation.to_dict() for operation in diff]
    for singular, item_id in [
        ("Party", "nato"),
        ("Proposal", "us-russia-security-treaty"),
        ("Clause", "us-russia-security-treaty-article-5"),
        ("Statement", None),
        ("Source", "sputnik-lavrov-security-guarantees"),
    ]:
        if item_id is None:
            item_id = call(anonymous, f"list{singular}s", expect=200, limit=1).parsed.items[0].id
        listed = call(anonymous, f"list{singular}Revisions", item_id, expect=200).parsed
        newest = listed.items[0].revision
        assert call(anonymous, f"get{singular}Revision", item_id, newest, expect=200).parsed.item.id == item_id
        call(anonymous, f"get{singular}RevisionDiff", item_id, newest, expect=200)


def test_export_is_ndjson_of_changes(clients: dict[str, Any]):
    response = call(clients["anonymous"], "exportDataset", expect=200)
    lines = [json.loads(line) for line in response.content.splitlines()]
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert {line["collection"] for line in lines} == {
        "sources",
        "parties",
        "proposals",
        "talks",
        "statements",
    }


def etag(response: Any) -> str:
    return response.headers["etag"]


def test_an_editor_creates_changes_and_deletes_one_of_everything(generated: ModuleType, clients: dict[str, Any]):
    writer, anonymous = clients["writer"], clients["anonymous"]
    source = {
        "id": "client-source",
        "publisher": "Example Wire",
        "title": "Talks end",
        "url": "https://example.org/talks-end",
        "published_on": "2022-01-14",
        "description": "A made-up report used by the generated-client test.",
    }
    made = call(writer, "createSource", expect=201, body=model(generated, "SourceInput", source))
    assert made.headers["location"].endswith("/v1/sources/client-source")
    changed = call(
        writer,
        "updateSource",
        "client-source",
        expect=200,
        body=model(generated, "SourcePatch", {"title": "The talks end"}),
        if_match=etag(made),
        x_change_note="A better title.",
    )
    assert changed.parsed.title == "The talks end" and changed.parsed.revision == 2

    party = {"id": "client-party", "name": "Republic of Example", "short_name": "Example", "kind": "state"}
    party |= {"member_of": [], "source_ids": ["client-source"]}
    made_party = call(writer, "createParty", expect=201, body=model(generated, "PartyInput", party))
    call(
        writer,
        "updateParty",
        "client-party",
        expect=200,
        body=model(generated, "PartyPatch", {"short_name": "Exampleland"}),
        if_match=etag(made_party),
    )

    proposal = {
        "id": "client-proposal",
        "title": "Draft agreement of the generated-client test",
        "short_title": "Test draft",
        "proposer_id": "client-party",
        "addressee_ids": ["russia"],
        "document_type": "agreement",
        "status": "draft",
        "handed_over_on": None,
        "published_on": None,
        "in_response_to": [],
        "summary": "A made-up draft.",
        "source_ids": ["client-source"],
        "clauses": [],
    }
    made_proposal = call(writer, "createProposal", expect=201, body=model(generated, "ProposalInput", proposal))
    clause = {
        "id": "client-proposal-article-1",
        "proposal_id": "client-proposal",
        "position": 1,
        "label": "Article 1",
        "summary": "The parties meet again.",
        "topics": ["follow-up"],
        "obligated_party_ids": ["client-party", "russia"],
        "excerpts": [],
        "source_ids": ["client-source"],
    }
    made_clause = call(writer, "createClause", expect=201, body=model(generated, "ClauseInput", clause))
    call(
        writer,
        "updateClause",
        clause["id"],
        expect=200,
        body=model(generated, "ClausePatch", {"summary": "The parties meet again within a month."}),
        if_match=etag(made_clause),
    )
    current = call(anonymous, "getProposal", "client-proposal", expect=200)
    assert current.parsed.revision == 3 and current.parsed.clauses[0].summary.endswith("within a month.")
    call(
        writer,
        "updateProposal",
        "client-proposal",
        expect=412,
        body=model(generated, "ProposalPatch", {"status": "delivered"}),
        if_match=etag(made_proposal),
    )

    talk = {
        "id": "client-talk",
        "title": "Test talks",
        "format": "bilateral",
        "starts_on": "2022-02-01",
        "ends_on": "2022-02-01",
        "location": "Example City",
        "status": "scheduled",
        "party_ids": ["client-party", "russia"],
        "proposal_ids": ["client-proposal"],
        "delegations": [],
        "chair": None,
        "summary": "Made-up talks.",
        "source_ids": ["client-source"],
    }
    made_talk = call(writer, "createTalk", expect=201, body=model(generated, "TalkInput", talk))
    held = call(
        writer,
        "updateTalk",
        "client-talk",
        expect=200,
        body=model(generated, "TalkPatch", {"status": "held"}),
        if_match=etag(made_talk),
    )
    statement = {
        "id": "client-statement",
        "speaker": "A. Spokesperson",
        "speaker_role": None,
        "party_id": "client-party",
        "said_on": "2022-02-01",
        "kind": "paraphrase",
        "quote": None,
        "summary": "The spokesperson called the talks useful.",
        "proposal_ids": ["client-proposal"],
        "talk_ids": ["client-talk"],
        "source_ids": ["client-source"],
    }
    made_statement = call(writer, "createStatement", expect=201, body=model(generated, "StatementInput", statement))
    said = call(
        writer,
        "updateStatement",
        "client-statement",
        expect=200,
        body=model(generated, "StatementPatch", {"summary": "The spokesperson called the talks very useful."}),
        if_match=etag(made_statement),
    )

    call(writer, "deleteSource", "client-source", expect=409, if_match=etag(changed))
    call(writer, "deleteStatement", "client-statement", expect=204, if_match=etag(said))
    call(writer, "deleteTalk", "client-talk", expect=204, if_match=etag(held))
    latest_clause = call(anonymous, "getClause", clause["id"], expect=200)
    call(writer, "deleteClause", clause["id"], expect=204, if_match=etag(latest_clause))
    latest_proposal = call(anonymous, "getProposal", "client-proposal", expect=200)
    call(writer, "deleteProposal", "client-proposal", expect=204, if_match=etag(latest_proposal))
    latest_party = call(anonymous, "getParty", "client-party", expect=200)
    call(writer, "deleteParty", "client-party", expect=204, if_match=etag(latest_party))
    call(
        writer,
        "deleteSource",
        "client-source",
        expect=204,
        if_match=etag(call(anonymous, "getSource", "client-source", expect=200)),
    )
    gone = call(anonymous, "getTalk", "client-talk", expect=410).parsed
    assert gone.status == 410
    tombstone = call(anonymous, "listTalkRevisions", "client-talk", expect=200).parsed.items[0]
    assert tombstone.deleted is True


def test_refusals_are_documented_problems(generated: ModuleType, clients: dict[str, Any]):
    anonymous, reader, writer = clients["anonymous"], clients["reader"], clients["writer"]
    missing = call(anonymous, "getTalk", "no-such-talk", expect=404).parsed
    assert missing.status == 404 and "no-such-talk" in missing.detail
    bad_limit = call(anonymous, "listTalks", expect=400, limit=0).parsed
    assert bad_limit.errors[0].parameter == "limit"
    party = {"id": "client-refused", "name": "Refused", "short_name": "Refused", "kind": "state"}
    body = model(generated, "PartyInput", party | {"member_of": [], "source_ids": []})
    call(anonymous, "createParty", expect=401, body=body)
    call(reader, "createParty", expect=403, body=body)
    talk = call(anonymous, "getTalk", "geneva-strategic-stability-2022-01-10", expect=200)
    backwards = model(generated, "TalkPatch", {"ends_on": "2022-01-01"})
    refused = call(writer, "updateTalk", talk.parsed.id, expect=422, body=backwards, if_match=etag(talk)).parsed
    assert refused.errors
    stale = model(generated, "TalkPatch", {"location": "Elsewhere"})
    call(writer, "updateTalk", talk.parsed.id, expect=412, body=stale, if_match='"1.1"')


def test_every_operation_in_the_document_was_called():
    assert len(OPERATIONS) == 52
    assert set(OPERATIONS) - CALLED == set()
