"""Docs that cannot drift from the code."""

import re
from pathlib import Path

from click.testing import CliRunner

from api.command.cli import granian_command, main
from api.config import ENV_NAMES, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# The settings table and the command's table live on the operators' page.
OPERATORS = (ROOT / "docs" / "operators.md").read_text()


def test_every_setting_is_in_the_operators_table_with_its_default():
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", OPERATORS, re.MULTILINE))
    assert set(rows) == set(ENV_NAMES)
    defaults = Settings()
    for name in ENV_NAMES:
        attribute = name.lower()
        if name in ("DATABASE_URL", "EMBEDDED_PG_DIR", "DATABASE_READ_URL"):
            continue
        default = getattr(defaults, attribute)
        if default == "":
            assert rows[name].startswith("unset"), name
            continue
        shown = ("on" if default else "off") if isinstance(default, bool) else str(default)
        assert f"`{shown}`" in rows[name], name


def test_every_cli_command_is_on_the_operators_page():
    commands = main.list_commands(None)
    assert commands
    for command in commands:
        assert f"`proposals-api {command}" in OPERATORS, command


def test_settings_read_the_environment():
    settings = Settings.from_env({"PORT": "9001", "WEB_CONCURRENCY": "3", "DATABASE_URL": "postgresql://x/y"})
    assert (settings.port, settings.web_concurrency, settings.database_url) == (9001, 3, "postgresql://x/y")
    assert Settings.from_env({}).database_url is None


def test_the_pool_follows_the_threads_unless_it_is_set():
    assert (Settings.from_env({}).web_threads, Settings.from_env({}).pool_max_size) == (1, 2)
    assert Settings.from_env({"WEB_THREADS": "4"}).pool_max_size == 5
    assert Settings.from_env({"WEB_THREADS": "4", "POOL_MAX_SIZE": "3"}).pool_max_size == 3
    assert (Settings(web_threads=4).pool_max_size, Settings(pool_max_size=7).pool_max_size) == (5, 7)


def test_cli_help_lists_the_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "migrate", "seed", "import", "openapi"):
        assert command in result.output


def test_serve_gives_granian_the_workers_and_threads():
    """granian's threads: the app's turns (WEB_THREADS, see api/http/serving.py) and the waiting ones."""
    command = granian_command(Settings(web_io_threads=5), 8123, 3, 2, Path("/tmp/log.json"))
    assert command[command.index("--workers") + 1] == "3"
    assert command[command.index("--blocking-threads") + 1] == "7"
    assert command[command.index("--port") + 1] == "8123" and command[-1] == "api.wsgi:app"


# A distinctive value for each setting whose raw text cannot be told from its type alone, and what it reads as.
DISTINCT = {
    "DATABASE_URL": ("postgresql://elsewhere/db", "postgresql://elsewhere/db"),
    "EMBEDDED_PG_DIR": ("/srv/pg-elsewhere", Path("/srv/pg-elsewhere")),
    "HOST": ("0.0.0.0", "0.0.0.0"),
    "LOG_LEVEL": ("DEBUG", "DEBUG"),
    "DATABASE_READ_URL": ("postgresql://r1/db, postgresql://r2/db", ("postgresql://r1/db", "postgresql://r2/db")),
    "POOL_MAX_SIZE": ("7", 7),
    "PUBLIC_BASE_URL": ("https://api.example.org/proposals/", "https://api.example.org/proposals"),
    "METRICS_TOKEN": ("scrape-secret", "scrape-secret"),
}


def distinct_value(name: str, default: object) -> tuple[str, object]:
    """A valid value for the setting that differs from its default, as text and as read."""
    if name in DISTINCT:
        return DISTINCT[name]
    if isinstance(default, bool):
        return ("off" if default else "on"), not default
    if isinstance(default, int):
        return str(default + 3), default + 3
    if isinstance(default, float):
        return str(default + 0.5), default + 0.5
    raise AssertionError(f"give {name} a distinctive value in DISTINCT")


def test_every_documented_setting_is_read_from_the_environment():
    """Each name in docs/operators.md's table (kept equal to ENV_NAMES above) reaches its Settings field."""
    defaults = Settings.from_env({})
    for name in ENV_NAMES:
        text, expected = distinct_value(name, getattr(defaults, name.lower()))
        assert expected != getattr(defaults, name.lower()), name
        assert getattr(Settings.from_env({name: text}), name.lower()) == expected, name


# The pages a reader moves between: every relative link among them must lead somewhere.
LINKED_PAGES = (
    "README.md",
    "CHANGELOG.md",
    "data/README.md",
    "bench/README.md",
    *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("*.md")),
)
AUDIENCE_PAGES = (
    "researchers.md",
    "changes.md",
    "dataset.md",
    "editors.md",
    "http.md",
    "operators.md",
    "architecture.md",
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {anchor(heading) for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def test_every_relative_link_in_the_docs_reaches_its_file_and_heading():
    broken = []
    for name in LINKED_PAGES:
        page = ROOT / name
        for target in LINK.findall(FENCE.sub("", page.read_text())):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: outside the tree
            path, _, fragment = target.partition("#")
            reached = (page.parent / path).resolve() if path else page
            if not reached.exists():
                broken.append(f"{name}: {target} (no such file)")
            elif fragment and fragment not in anchors(reached):
                broken.append(f"{name}: {target} (no such heading)")
    assert not broken, broken
    assert anchor("Connections against `max_connections`") == "connections-against-max_connections"


def test_each_audience_page_says_who_it_is_for_and_stays_short():
    for name in AUDIENCE_PAGES:
        lines = (ROOT / "docs" / name).read_text().splitlines()
        assert lines[0].startswith("# ") and lines[2].startswith("For "), name
        assert len(lines) <= 400, (name, len(lines))
        assert f"(docs/{name})" in README, f"the README links docs/{name}"


def test_the_code_map_names_every_module_and_only_files_that_exist():
    """docs/architecture.md names files in backticks; each must exist, and each module of api/ be named."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:api|schemas|sql|scripts|tests)/[\w./-]*\w)`", text))
    assert named
    assert [path for path in sorted(named) if not (ROOT / path).exists()] == []
    modules = {str(path.relative_to(ROOT)) for path in (ROOT / "api").rglob("*.py")}
    packages = {f"{path.parent.relative_to(ROOT)}/" for path in (ROOT / "api").glob("*/__init__.py")}
    modules -= {f"{package}__init__.py" for package in packages}  # a package is named by its folder
    assert sorted(modules - named) == []
    assert sorted(package for package in packages if f"`{package}`" not in text) == []
