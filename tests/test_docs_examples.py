"""The docs' console examples, run against a fresh server and compared with what they show.

A console example is a `$ command` line in a ```console fence (continued on lines ending in `\\`,
or to the end of a heredoc), followed by the output it printed. Each document's commands run in
one bash session, in document order (an editor's write changes what later examples read, and a
`TOKEN=...` made early is used later), against `proposals-api serve` on a database of its own,
migrated and seeded, as `make run` gives on a fresh checkout. Commands name `localhost:8000`;
they reach the test server's port instead.

The output must be the same, but for what cannot be the same from one run to the next (the
NORMALISATIONS below, each with its reason), and one rule of presentation: a `curl -i` example
shows only the response headers it is about, so the comparison keeps only headers of those names.

A block that cannot run here says so just above its fence, with its reason:
`<!-- not tested: needs a server started with RATE_LIMIT_WRITES=3 -->`. Only MAX_NOT_TESTED
blocks may do so.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.config import ENV_NAMES
from tests.conftest import ROOT, start_server, stop_server
from tests.support import create_seeded_database, drop_database

# The documents whose console examples are checked, each on a server and database of its own.
DOCUMENTS = (
    "README.md",
    "docs/researchers.md",
    "docs/changes.md",
    "docs/dataset.md",
    "docs/editors.md",
    "docs/http.md",
    "docs/deploy.md",
)
MAX_NOT_TESTED = 3
TOOLS = ("bash", "curl", "jq")  # what the examples call besides the project's own command
SESSION_TIMEOUT = 120  # seconds for one document's whole session
CURL_MAX_TIME = 20  # seconds for any one curl, so a hung request fails the example instead of the run

FENCE = re.compile(r"^```console\s*$")
FENCE_END = re.compile(r"^```\s*$")
NOT_TESTED = re.compile(r"^<!--\s*not tested:\s*(?P<reason>\S.*?)\s*-->\s*$")
HEREDOC = re.compile(r"(?<!<)<<(?!<)-?\s*(['\"]?)(?P<word>[A-Za-z_]\w*)\1")
DOCUMENTED_ADDRESS = re.compile(r"\b(localhost|127\.0\.0\.1):8000\b")

# What cannot be the same from one run to the next. Each applies to the expected and the actual
# output alike, so what it leaves is still compared.
NORMALISATIONS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    # A cursor is `payload.signature`; the signature is an HMAC under a secret each database makes
    # for itself. The payload (the page's keys and filters) is still compared.
    (
        "cursor signature",
        re.compile(r'((?:"next_cursor": ?"|[?&]cursor=)\.?[A-Za-z0-9_-]+\.)[A-Za-z0-9_-]+'),
        r"\1<signature>",
    ),
    # A change-feed cursor (`c1:<instance>:…` in base64url) and ETag name the database's instance id,
    # which each database draws for itself (migration 0017).
    ("feed cursor", re.compile(r"\bYzE6[A-Za-z0-9_-]+"), "<feed-cursor>"),
    ("feed etag", re.compile(r'"2\.([ac])[0-9a-f]{16}\.'), r'"2.\1<instance>.'),
    # `proposals-api tokens create` makes a new random secret every time.
    ("token", re.compile(r"\bpat_[0-9]+_[A-Za-z0-9_-]+"), "pat_<token>"),
    # A request without X-Request-ID gets a new random one.
    ("request id", re.compile(r"(?im)^(x-request-id:) .+$"), r"\1 <request-id>"),
)
TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")
# An instant the server recorded when an example wrote (an edit's `updated_at`, `valid_from`,
# `recorded_at`) is the clock's. In the document it was the clock of whoever ran the example;
# the API prints such an instant with its microseconds, where the dataset's are whole seconds.
NOW_ON_THE_PAGE = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,6}(?:Z|[+-]\d{2}:\d{2})")
# In this run's output, it is an instant within the run (give or take a clock on another host).
CLOCK_SKEW = timedelta(minutes=10)


@dataclass
class Example:
    document: str
    block_line: int
    line: int
    command: str
    expected: str


@dataclass
class Block:
    document: str
    line: int
    not_tested: str | None = None
    examples: list[Example] = field(default_factory=list)


def console_blocks(document: str, text: str) -> list[Block]:
    """The console fences of a Markdown text, each with its `$` commands and their output."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if FENCE.match(lines[index]):
            end = next((i for i in range(index + 1, len(lines)) if FENCE_END.match(lines[i])), len(lines))
            before = next((line for line in reversed(lines[:index]) if line.strip()), "")
            marker = NOT_TESTED.match(before)
            block = Block(document, index + 1, marker["reason"] if marker else None)
            block.examples = block_examples(block, lines[index + 1 : end], first=index + 2)
            blocks.append(block)
            index = end
        index += 1
    return blocks


def block_examples(block: Block, lines: list[str], first: int) -> list[Example]:
    """The examples in a block's lines (the first of them being line `first` of the document)."""
    starts = []  # (index of the `$` line, index of its first output line)
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("$ "):
            start, heredoc = index, HEREDOC.search(line)
            while lines[index].endswith("\\") or heredoc:
                index += 1
                if index == len(lines):
                    raise ValueError(f"{block.document}:{first + start}: the command does not end in its block")
                if heredoc and lines[index] == heredoc["word"]:
                    heredoc = None
            starts.append((start, index + 1))
        elif not starts and line.strip():
            raise ValueError(f"{block.document}:{first + index}: output before any `$ command`")
        index += 1
    examples = []
    for number, (start, output) in enumerate(starts):
        end = starts[number + 1][0] if number + 1 < len(starts) else len(lines)
        command = "\n".join(lines[start:output])[2:]
        expected = "\n".join(lines[output:end]).rstrip()
        if command.startswith("#") and not expected:
            continue  # a caption (`$ # no If-Match`), not an example
        examples.append(Example(block.document, block.line, first + start, command, expected))
    return examples


@dataclass(frozen=True)
class Run:
    """What this run's answers carry that the document cannot know: the server's port and clock."""

    port: int
    started: datetime
    ended: datetime


def normalise(text: str) -> str:
    """The text with what cannot repeat between runs replaced by names (see NORMALISATIONS)."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]  # Markdown keeps no trailing blanks
    while lines and not lines[-1]:
        lines.pop()
    text = "\n".join(lines)
    for _name, pattern, replacement in NORMALISATIONS:
        text = pattern.sub(replacement, text)
    return text


def as_shown(expected: str) -> str:
    """The document's output, its instants recorded by the example's writes named."""
    return NOW_ON_THE_PAGE.sub("<now>", normalise(expected))


def as_answered(actual: str, run: Run) -> str:
    """This run's output, named as the document names it."""
    # The commands reached the test server's port where the document says 8000; so do any URLs it answered.
    actual = re.sub(rf"\b(localhost|127\.0\.0\.1):{run.port}\b", r"\1:8000", actual)
    earliest, latest = run.started - CLOCK_SKEW, run.ended + CLOCK_SKEW

    def recorded_now(match: re.Match[str]) -> str:
        instant = datetime.fromisoformat(match[0].replace("Z", "+00:00"))
        return "<now>" if earliest <= instant <= latest else match[0]

    return TIMESTAMP.sub(recorded_now, normalise(actual))


def shown_headers(expected: str, actual: str) -> str:
    """`actual`, keeping of a `curl -i` response's headers only those the example shows."""
    if not expected.startswith("HTTP/") or not actual.startswith("HTTP/"):
        return actual
    expected_head, _, _ = expected.partition("\n\n")
    shown = {line.split(":", 1)[0].lower() for line in expected_head.split("\n")[1:]}
    head, blank, body = actual.partition("\n\n")
    status, *headers = head.split("\n")
    kept = [line for line in headers if line.split(":", 1)[0].lower() in shown]
    return "\n".join([status, *kept]) + blank + body


def difference(example: Example, actual: str, run: Run) -> str | None:
    """None when the example printed what its document shows; else a readable diff."""
    expected = as_shown(example.expected)
    got = shown_headers(expected, as_answered(actual, run))
    if got == expected:
        return None
    diff = difflib.unified_diff(
        expected.split("\n"), got.split("\n"), f"{example.document} (as shown)", "the server's answer", lineterm=""
    )
    where = f"{example.document}:{example.line} (block at line {example.block_line})"
    return f"{where}: $ {example.command}\n" + "\n".join(diff)


def session_script(examples: list[Example], port: int) -> str:
    """One bash script for a document's examples, each after a marker line that splits the output.

    Each command is read as text and run with `eval`, so a command with a syntax error (an
    unclosed quote, say) fails alone instead of swallowing the rest of the script.
    """
    parts = []
    for number, example in enumerate(examples):
        command = DOCUMENTED_ADDRESS.sub(rf"\1:{port}", example.command)
        parts.append(
            f"printf '\\n@@example {number}@@\\n'\n"
            f"IFS= read -r -d '' docs_example <<'@@end of example@@'\n{command}\n@@end of example@@\n"
            'eval "$docs_example" </dev/null 2>&1\n'
        )
    return "".join(parts)


def run_session(examples: list[Example], port: int, database_url: str, folder: Path) -> list[str | None]:
    """Runs the examples in one bash session; each one's output (stdout and stderr, as a terminal
    shows them), or None for those the session never reached."""
    (folder / ".venv").symlink_to(sys.prefix)  # the examples call `.venv/bin/proposals-api`
    (folder / ".curlrc").write_text(f"max-time = {CURL_MAX_TIME}\n")  # and not the user's own curlrc
    env = {name: os.environ[name] for name in ENV_NAMES if name in os.environ}
    env |= {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "CURL_HOME": str(folder),
        "LC_ALL": "C.UTF-8",
        "DATABASE_URL": database_url,
    }
    process = subprocess.Popen(
        ["bash", "--noprofile", "--norc"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=folder,
        env=env,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(session_script(examples, port).encode(), timeout=SESSION_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    outputs: list[str | None] = [None] * len(examples)
    chunks = re.split(r"\n@@example (\d+)@@\n", "\n" + output.decode(errors="replace"))
    for number, chunk in zip(chunks[1::2], chunks[2::2], strict=True):
        outputs[int(number)] = chunk
    return outputs


def tools_or_skip() -> None:
    """The examples need curl and jq; a machine without them skips, CI (CI=true) fails."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    reason = f"the docs' console examples need {', '.join(missing)}, not installed here"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: install it, as .ci/run does)")
    pytest.skip(reason)


def read_blocks(document: str) -> list[Block]:
    return console_blocks(document, (ROOT / document).read_text())


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS)
def test_console_examples_print_what_the_document_shows(document, server_url, capsys):
    blocks = read_blocks(document)
    examples = [example for block in blocks if block.not_tested is None for example in block.examples]
    not_tested = sum(len(block.examples) for block in blocks if block.not_tested is not None)
    with capsys.disabled():
        print(f"\n{document}: {len(examples)} console examples to run, {not_tested} not tested (marked)")
    if not examples:
        return
    tools_or_skip()
    database_url = create_seeded_database(server_url, "proposals_docs")
    base, process = start_server(database_url)
    try:
        port = int(base.rsplit(":", 1)[1])
        started = datetime.now(UTC)
        with tempfile.TemporaryDirectory(prefix="proposals-docs-") as folder:
            outputs = run_session(examples, port, database_url, Path(folder))
        run = Run(port, started, datetime.now(UTC))
    finally:
        stop_server(process)
        drop_database(server_url, database_url)
    failures = []
    for example, output in zip(examples, outputs, strict=True):
        if output is None:
            failures.append(f"{example.document}:{example.line}: never ran (the session stopped or timed out)")
        elif (diff := difference(example, output, run)) is not None:
            failures.append(diff)
    with capsys.disabled():
        print(f"{document}: {len(examples) - len(failures)} of {len(examples)} console examples printed what it shows")
    assert not failures, f"{len(failures)} example(s) in {document} differ:\n\n" + "\n\n".join(failures)


def test_few_examples_are_not_tested_and_each_says_why():
    marked = [block for document in DOCUMENTS for block in read_blocks(document) if block.not_tested is not None]
    assert len(marked) <= MAX_NOT_TESTED, [f"{block.document}:{block.line}" for block in marked]
    assert all(block.examples for block in marked)


def test_every_document_with_console_examples_is_checked():
    documents = {"README.md", *(str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("**/*.md"))}
    with_examples = {document for document in documents if any(block.examples for block in read_blocks(document))}
    assert with_examples <= set(DOCUMENTS)
    assert read_blocks("README.md"), "the README has console examples"


# The machinery itself, on small texts.

SAMPLE = """Intro.

```console
$ TOKEN=$(make-token) \\
    && echo made
made

$ cat > talk.json <<'EOF'
{"id": "x",
 "status": "scheduled"}
EOF
$ curl -si localhost:8000/v1/talks/x
HTTP/1.1 200 OK
etag: "2.1"

{"id":"x"}
```

<!-- not tested: needs another server -->

```console
$ curl -s 127.0.0.1:8000/metrics
# HELP
```
"""


def test_console_blocks_find_commands_continuations_heredocs_and_markers():
    first, second = console_blocks("SAMPLE.md", SAMPLE)
    assert (first.line, first.not_tested, second.line, second.not_tested) == (3, None, 21, "needs another server")
    token, heredoc, curl = first.examples
    assert (token.line, token.command, token.expected) == (4, "TOKEN=$(make-token) \\\n    && echo made", "made")
    assert heredoc.command.endswith("\nEOF") and heredoc.expected == ""
    assert (curl.line, curl.expected) == (12, 'HTTP/1.1 200 OK\netag: "2.1"\n\n{"id":"x"}')
    assert second.examples[0].command == "curl -s 127.0.0.1:8000/metrics"
    here_string = console_blocks("T.md", "```console\n$ jq -c . <<< '{}'\n{}\n```\n")[0].examples[0]
    assert (here_string.command, here_string.expected) == ("jq -c . <<< '{}'", "{}")


def test_a_block_whose_command_never_ends_is_an_error():
    with pytest.raises(ValueError, match=r"SAMPLE\.md:2"):
        console_blocks("SAMPLE.md", "```console\n$ curl -s \\\n```\n")


@pytest.mark.slow
def test_the_session_reaches_the_test_port_and_keeps_variables(tmp_path):
    examples = console_blocks("SAMPLE.md", SAMPLE)[0].examples
    script = session_script(examples, 43210)
    assert "localhost:43210/v1/talks/x" in script and "8000" not in script
    text = "```console\n$ NAME=world\n$ echo 'unclosed\n$ echo hello \\\n  $NAME; echo oops >&2\n```\n"
    outputs = run_session(console_blocks("T.md", text)[0].examples, 1, "postgresql://unused", tmp_path)
    assert outputs[0] == "" and "unexpected EOF" in outputs[1] and outputs[2] == "hello world\noops\n"


RUN = Run(43210, datetime(2030, 5, 1, 12, 0, tzinfo=UTC), datetime(2030, 5, 1, 12, 1, tzinfo=UTC))


def example(expected: str) -> Example:
    return Example("SAMPLE.md", 1, 2, "curl", expected)


def test_instants_of_this_run_match_the_pages_instants_and_no_others():
    page = example('{"updated_at":"2026-11-28T18:45:46.477099Z","valid_from":"2022-01-10T00:00:00Z"}')
    assert (
        difference(page, '{"updated_at":"2030-05-01T12:00:30.5Z","valid_from":"2022-01-10T00:00:00Z"}\n', RUN) is None
    )
    assert difference(page, '{"updated_at":"2030-05-01T12:00:30.5Z","valid_from":"2022-01-11T00:00:00Z"}', RUN)
    # An instant from the data must match, with or without microseconds
    assert difference(page, '{"updated_at":"2021-12-30T00:00:00.5Z","valid_from":"2022-01-10T00:00:00Z"}', RUN)
    whole = example('{"valid_from":"2022-01-10T00:00:00Z"}')
    assert difference(whole, '{"valid_from":"2030-05-01T12:00:30Z"}', RUN)


def test_cursor_signatures_are_ignored_but_not_their_pages():
    page = example('{"next_cursor":".eJyrVspW.I031lZ90Xc0c4MSKKlCLJAR8-44"}')
    assert difference(page, '{"next_cursor":".eJyrVspW.Zm9vYmFyZm9vYmFy"}', RUN) is None
    diff = difference(page, '{"next_cursor":".eJyrVspX.I031lZ90Xc0c4MSKKlCLJAR8-44"}', RUN)
    assert diff and "SAMPLE.md:2 (block at line 1)" in diff and '+{"next_cursor":".eJyrVspX.<signature>"}' in diff


def test_a_curl_i_example_is_compared_on_the_headers_it_shows():
    page = example('HTTP/1.1 201 Created\netag: "2.1"\nlocation: /v1/talks/x\n\n{"id":"x"}')
    answer = 'HTTP/1.1 201 Created\r\ndate: Fri\r\netag: "2.1"\r\nx-request-id: abc\r\nlocation: /v1/talks/x\r\n\r\n{"id":"x"}'
    assert difference(page, answer, RUN) is None
    assert difference(page, answer.replace('"2.1"', '"2.2"'), RUN)
    assert difference(page, answer.replace("location: /v1/talks/x\r\n", ""), RUN)
    assert difference(page, answer.replace("201 Created", "200 OK"), RUN)
    assert difference(page, answer + "\n", RUN) is None
    assert difference(example("HTTP/1.1 204 No Content"), "HTTP/1.1 204 No Content\r\ndate: Fri\r\n\r\n", RUN) is None


def test_the_test_port_tokens_and_request_ids_are_named():
    page = example(
        'HTTP/1.1 200 OK\nlink: <http://localhost:8000/v1/talks?cursor=eyJr.abc>; rel="next"\nx-request-id: 1f'
    )
    answer = 'HTTP/1.1 200 OK\nlink: <http://localhost:43210/v1/talks?cursor=eyJr.xyz>; rel="next"\nx-request-id: 9a'
    assert difference(page, answer, RUN) is None
    assert difference(page, answer.replace("43210", "43211"), RUN)
    assert difference(example("pat_3_Zm9v-YmFy"), "pat_4_cXV4_enp6\n", RUN) is None


def test_without_curl_or_jq_the_examples_skip_but_fail_in_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="need bash, curl, jq"):
        tools_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        tools_or_skip()
