"""The `proposals-api` command: serve, migrate, seed, import, export, mirror, openapi."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import click
import yaml

from api.command import embedded, lifecycle
from api.command.mirror import mirror_command
from api.command.tokens import tokens
from api.config import Settings
from api.http.headers import HEAD_BUFFER_BYTES
from api.resources.export import export_lines
from api.store.dataset import DatasetError, import_dataset, seed
from api.store.db import direct_connection
from api.store.migrate import migrate

ROOT = Path(__file__).resolve().parents[2]


def database_url(settings: Settings) -> str:
    """DATABASE_URL when set, else the embedded server (started on demand)."""
    return settings.database_url or embedded.start(settings.embedded_pg_dir)


def migrated(conn) -> list[str]:
    """Applies pending migrations, turning a refusal into a plain error message."""
    try:
        return migrate(conn)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from error


@click.group()
def main() -> None:
    """Proposals API: a versioned, source-cited data API for diplomatic draft proposals."""


main.add_command(tokens)
main.add_command(mirror_command)


@main.command("migrate")
def migrate_command() -> None:
    """Apply pending migrations from sql/migrations, then the functions in sql/functions."""
    with direct_connection(database_url(Settings.from_env())) as conn:
        applied = migrated(conn)
    click.echo(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))


@main.command("seed")
def seed_command() -> None:
    """Load the bundled dataset (once; running it again changes nothing)."""
    with direct_connection(database_url(Settings.from_env())) as conn:
        migrated(conn)
        for name, count in seed(conn):
            click.echo(f"{name}: " + ("already loaded" if count is None else f"{count} change(s) applied"))


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(file: Path) -> None:
    """Load a dataset file (JSON or NDJSON, as `export` writes it), all or nothing."""

    def progress(changes):
        with click.progressbar(changes, label=f"importing {file.name}", file=sys.stderr) as bar:
            yield from bar

    with direct_connection(database_url(Settings.from_env())) as conn:
        migrated(conn)
        try:
            count = import_dataset(conn, file, progress=progress if sys.stderr.isatty() else None)
        except DatasetError as error:
            raise click.ClickException(str(error)) from error
    click.echo(f"{file.name}: " + ("already loaded" if count is None else f"{count} change(s) applied"))


@main.command("export")
@click.argument("file", type=click.File("wb"))
def export_command(file) -> None:
    """Write the whole dataset with its history as NDJSON (`-` for standard output)."""
    with direct_connection(database_url(Settings.from_env())) as conn:
        for line in export_lines(conn):
            file.write(line)


@main.command("openapi")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "openapi.yaml", show_default=True
)
@click.option("--check", is_flag=True, help="Fail if the file differs from what the code generates.")
def openapi_command(output: Path, check: bool) -> None:
    """Write the OpenAPI document generated from the schemas."""
    text = openapi_yaml()
    if check:
        if not output.exists() or output.read_text() != text:
            raise click.ClickException(f"{output} is stale: run `proposals-api openapi`")
        click.echo(f"{output} is current")
        return
    output.write_text(text)
    click.echo(f"wrote {output}")


def openapi_yaml() -> str:
    from api import create_app

    app = create_app(Settings(database_url=None))
    with app.app_context():
        spec = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


@main.command("serve")
@click.option("--port", type=int, default=None, help="Port (default: $PORT or 8000).")
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: $WEB_CONCURRENCY or 2)."
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Threads per worker (default: $WEB_THREADS or 1)."
)
def serve_command(port: int | None, workers: int | None, threads: int | None) -> None:
    """Serve the API with granian; start, migrate and seed an embedded Postgres if needed.

    Ctrl-C, SIGTERM or SIGHUP stop the server, then the embedded Postgres, and exit 0.
    """
    settings = Settings.from_env()
    port, workers, threads = port or settings.port, workers or settings.web_concurrency, threads or settings.web_threads
    lifecycle.refuse_busy_port(settings.host, port)  # before anything starts
    lifecycle.exit_now(lifecycle.supervise(lambda signals: serving_session(settings, port, workers, threads, signals)))


def serving_session(settings: Settings, port: int, workers: int, threads: int, signals: lifecycle.StopSignals) -> int:
    """Database, migrations, seed, then granian until a stop signal; then Postgres is stopped.
    Returns the exit status."""
    # A fresh folder per run: the workers' metric files (summed at /metrics) and granian's log
    # config. Files left from an earlier run would add its counts to this one's.
    run_dir = Path(tempfile.mkdtemp(prefix="proposals-api-run-"))
    try:
        url = database_url(settings)  # a stop signal waits until the embedded Postgres is up
        with signals.interruptible(), direct_connection(url) as conn:
            migrated(conn)
            for name, count in seed(conn):
                if count is not None:
                    click.echo(f"seeded {name}: {count} change(s)")
        lifecycle.refuse_busy_port(settings.host, port)  # again: the port may have been taken meanwhile
        metrics_dir = run_dir / "metrics"
        metrics_dir.mkdir()
        log_config = run_dir / "granian-logging.json"
        log_config.write_text(json.dumps(granian_log_config()))
        # The workers read WEB_THREADS too: it sizes their connection pools and their turns.
        env = dict(os.environ, DATABASE_URL=url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), WEB_THREADS=str(threads))
        command = granian_command(settings, port, workers, threads, log_config)
        click.echo(f"serving on http://{settings.host}:{port} (Ctrl-C stops it)")
        return lifecycle.run_granian(command, env, str(ROOT), signals)
    except lifecycle.StopRequested:
        return 0
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        if not settings.database_url:
            embedded.stop(settings.embedded_pg_dir)


# granian's command line with its workers spawned (new interpreters) rather than forked. A forked
# worker keeps the master's signal handlers until it has loaded the app and set its own: a SIGTERM
# from the master in that second was swallowed, and the worker went on serving while the master
# waited for it forever. A spawned worker has Python's default handlers until then, so that
# SIGTERM simply ends it. (`-c`, not a module of ours: the master need not import the app.)
GRANIAN_SPAWNING = (
    "import multiprocessing, sys; from granian.cli import entrypoint; "
    "multiprocessing.set_start_method('spawn'); sys.argv[0] = 'granian'; entrypoint()"
)


def granian_command(settings: Settings, port: int, workers: int, threads: int, log_config: Path) -> list[str]:
    """granian, running `api.wsgi:app` in `workers` spawned processes, each running the app in `threads`
    threads at a time, with WEB_IO_THREADS more threads for waiting on slow clients (api/http/serving.py)."""
    return [
        sys.executable,
        "-c",
        GRANIAN_SPAWNING,
        "--interface",
        "wsgi",
        "--no-ws",
        "--host",
        settings.host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads + settings.web_io_threads),
        "--http1-buffer-size",  # request heads larger than this are refused (431) before Python sees them
        str(HEAD_BUFFER_BYTES),
        "--http2-max-headers-size",
        str(HEAD_BUFFER_BYTES),
        "--log-level",
        "warning",
        "--log-config",
        str(log_config),
        "api.wsgi:app",
    ]


def granian_log_config() -> dict:
    """granian's own records (start, stop, a worker that died) as JSON lines on stderr, like ours."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "api.http.logs.JsonFormatter"}},
        "filters": {"threads": {"()": "api.http.logs.WithoutThreadCountAdvice"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["threads"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "_granian": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "granian.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        },
    }
