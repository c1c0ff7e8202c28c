"""`proposals-api mirror URL`: a local copy of a running instance, through its public API only.

First the origin's export (`GET /v1/export`), streamed to a temporary file and imported in one
transaction, each line in the changeset the feed's entry for it names (the feed is read from its
beginning without snapshots for that); then its change feed (`GET /v1/changes`) from the
position that export ends at, page by page, each page applied with the cursor that covers it (api/store/mirror.py). With
`--follow` it then polls the feed's head as often as the origin advises, sending the head's ETag
so that a poll with no news costs a 304. Stopped at any moment (Ctrl-C, SIGTERM, SIGKILL, a lost
connection), it goes on from where its database says it got to when run again.
"""

from __future__ import annotations

import json
import signal
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import click

from api.store import mirror as store
from api.store.dataset import DatasetError
from api.store.db import direct_connection

PAGE = 200  # entries per feed request: the default MAX_PAGE_SIZE
DEFAULT_POLL_SECONDS = 5.0  # when the origin advises nothing
UNKNOWN_POSITION_TRIES = 5  # a 409 (a replica behind the primary) is retried this often
CHUNK = 256 * 1024
TIMEOUT = 60


class OriginError(click.ClickException):
    """The origin answered something a mirror cannot go on with; `transient` when it may pass (the
    origin unreachable, or a 5xx such as its 503 while its database is away): `--follow` waits then."""

    def __init__(self, message: str, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient, self.retry_after = transient, retry_after


@dataclass(frozen=True)
class Page:
    """One answer of the change feed: 200 with entries, or 304 (nothing new at the head)."""

    status: int
    entries: list[dict]
    next_cursor: str | None
    etag: str | None
    instance_id: str | None
    poll_seconds: float | None


def advised_seconds(headers) -> float | None:
    """How long the origin asks a poller to wait: Retry-After, else Cache-Control's max-age."""
    retry_after = headers.get("Retry-After")
    if retry_after and retry_after.strip().isdigit():
        return float(retry_after)
    for directive in (headers.get("Cache-Control") or "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return float(value)
    return None


class Origin:
    """The instance being mirrored, reached over HTTP with the standard library alone."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/").removesuffix("/v1")  # the API's base as the docs show it is fine too
        self.headers = {"Accept": "application/json", "User-Agent": "proposals-api-mirror"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def _open(self, path: str, headers: dict[str, str] | None = None):
        request = urllib.request.Request(self.url + path, headers=self.headers | (headers or {}))
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT)
        except urllib.error.HTTPError as error:
            if error.code == 304:
                return error
            if error.code == 409:
                raise
            raise OriginError(
                f"{self.url}{path.split('?')[0]} answered {error.code}: {_problem(error)}",
                transient=error.code >= 500 or error.code == 429,
                retry_after=advised_seconds(error.headers),
            ) from error
        except (urllib.error.URLError, OSError) as error:
            raise OriginError(f"cannot reach {self.url}: {getattr(error, 'reason', error)}", transient=True) from error

    def open_export(self):
        """The export's response, its headers read and its body not yet."""
        return self._open("/v1/export", {"Accept": "*/*"})  # the export answers 406 to application/x-ndjson

    def changes(self, cursor: str | None, etag: str | None, snapshots: bool = True) -> Page:
        query = (
            ({"include": "snapshot"} if snapshots else {})
            | {"limit": str(PAGE)}
            | ({"since": cursor} if cursor else {})
        )
        try:
            response = self._open("/v1/changes?" + urlencode(query), {"If-None-Match": etag} if etag else None)
        except urllib.error.HTTPError as error:  # 409: the origin does not know this position (yet)
            return Page(409, [], None, None, error.headers.get("Instance-Id"), advised_seconds(error.headers))
        with response:
            headers, status = response.headers, response.status
            body = json.loads(response.read()) if status == 200 else {}
        return Page(
            status,
            body.get("items", []),
            body.get("next_cursor"),
            headers.get("ETag"),
            headers.get("Instance-Id"),
            advised_seconds(headers),
        )


def _problem(error: urllib.error.HTTPError) -> str:
    try:
        problem = json.loads(error.read())
        return problem.get("detail") or problem.get("title") or str(problem)
    except (ValueError, OSError, AttributeError):
        return error.reason


def _origin_id(headers, url: str) -> str:
    found = headers.get("Instance-Id")
    if not found:
        raise OriginError(f"{url} does not name itself (no Instance-Id header): is it an older version?")
    return found


class Mirror:
    """One run of the mirror: say what happens, on `echo`."""

    def __init__(self, conn, origin: Origin, echo: Callable[[str], None] = click.echo) -> None:
        self.conn, self.origin, self.echo = conn, origin, echo
        self.stopping = False

    def copy(self) -> store.MirrorState:
        """The state to follow from: claimed, and the export copied in if it is not yet."""
        state = store.read_state(self.conn)
        if state is not None and state.phase == "following":
            return state  # the first feed answer checks it is still the same origin
        with self.origin.open_export() as response:
            origin_id = _origin_id(response.headers, self.origin.url)
            state = store.claim(self.conn, self.origin.url, origin_id)
            self.echo(f"copying {self.origin.url}/v1/export (instance {origin_id})")
            with tempfile.TemporaryDirectory(prefix="proposals-mirror-") as folder:
                path = Path(folder) / "export.ndjson"
                size = self._download(response, path)
                self.echo(f"downloaded {size / 1e6:.1f} MB; importing it")
                count = store.import_copy(
                    self.conn,
                    path,
                    self._feed_from_start(origin_id),
                    lambda n: self.echo(f"  {n} change(s) checked against the feed"),
                )
        self.echo(f"imported {count} change(s)")
        return store.read_state(self.conn)  # type: ignore[return-value]

    def _feed_from_start(self, origin_id: str) -> Iterator[dict]:
        """The feed's entries from its beginning, without snapshots or clauses: which revision and
        changeset each line of the export is (api/store/mirror.py `import_copy`)."""
        cursor = None
        while True:
            page = self.origin.changes(cursor, None, snapshots=False)
            if page.status != 200 or page.instance_id != origin_id:
                raise OriginError(f"{self.origin.url}/v1/changes did not answer as the export's instance {origin_id}")
            yield from (entry for entry in page.entries if entry.get("collection") != "clauses")
            if len(page.entries) < PAGE:
                return
            cursor = page.next_cursor

    def _download(self, response, path: Path) -> int:
        size, reported = 0, 0
        with path.open("wb") as file:
            while piece := response.read(CHUNK):
                file.write(piece)
                size += len(piece)
                if size - reported >= 10_000_000:
                    self.echo(f"  {size / 1e6:.0f} MB")
                    reported = size
        return size

    def follow(self, state: store.MirrorState, keep_following: bool, interval: float | None) -> None:
        """Applies the feed page by page up to its head; with `keep_following`, polls on until stopped."""
        etag: str | None = None
        unknown = 0
        caught_up = False
        while not self.stopping:
            try:
                page = self.origin.changes(state.cursor, etag)
            except OriginError as error:
                if not (keep_following and error.transient):
                    raise
                wait = error.retry_after or interval or DEFAULT_POLL_SECONDS
                self.echo(f"{error.message}; trying again in {wait:g} s")
                self._wait(wait)
                continue
            if page.instance_id and page.instance_id != state.origin_id:
                raise store.MirrorRefusedError(
                    f"{self.origin.url} is now instance {page.instance_id}, not {state.origin_id} "
                    "that this database mirrors: one database mirrors one origin"
                )
            if page.status == 409:
                unknown += 1
                if unknown > UNKNOWN_POSITION_TRIES:
                    raise OriginError(
                        f"{self.origin.url} does not know this mirror's position in its change feed: it is not the "
                        "history this database copied (was the origin restored from an older backup?)"
                    )
                self._wait(page.poll_seconds or 1.0)
                continue
            unknown = 0
            if page.status == 200 and not page.instance_id:
                raise OriginError(f"{self.origin.url} does not name itself (no Instance-Id header)")
            at_head = page.status == 304 or len(page.entries) < PAGE
            if page.status == 200:
                state, applied, skipped = store.apply_page(
                    self.conn, state, page.entries, page.next_cursor, self.origin.url
                )
                if applied or skipped:
                    caught_up = False
                    last = page.entries[-1]
                    self.echo(
                        f"applied {applied} change(s)"
                        + (f", skipped {skipped} held already" if skipped else "")
                        + f", up to {last.get('collection')} {last.get('id')} revision {last.get('revision')}"
                        f" recorded {last.get('recorded_at')}"
                    )
            etag = page.etag if at_head else None
            if at_head:
                if not caught_up:
                    self.echo("up to date")
                    caught_up = True
                if not keep_following:
                    return
                self._wait(interval or page.poll_seconds or DEFAULT_POLL_SECONDS)

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, deadline - time.monotonic()))


@click.command("mirror")
@click.argument("url")
@click.option("--follow", is_flag=True, help="Keep polling the origin's change feed until stopped (Ctrl-C).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds between polls with --follow (default: as the origin advises, else 5).",
)
@click.option(
    "--token", envvar="MIRROR_TOKEN", default=None, help="A token for the origin ($MIRROR_TOKEN); reads need none."
)
def mirror_command(url: str, follow: bool, interval: float | None, token: str | None) -> None:
    """Copy the instance at URL (its address, or its API base ending in /v1) into the local database,
    then apply its change feed.

    The local database is the embedded one, or DATABASE_URL's. It takes the origin's export, then
    every change since, through the public API only. Run again, it goes on from where it stopped
    (after Ctrl-C, a crash or a lost connection). A database mirrors one origin: one that holds
    another origin's mirror, or data of its own, is refused. Do not write to a mirror.
    """
    from api.command.cli import database_url, migrated
    from api.config import Settings

    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="URL")
    settings = Settings.from_env()
    interrupted = False
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with direct_connection(database_url(settings)) as conn:
            migrated(conn)
            if not store.take_lock(conn):
                raise click.ClickException("another mirror is running on this database")
            run = Mirror(conn, Origin(url, token))
            try:
                state = run.copy()
                run.follow(state, follow, interval)
            except KeyboardInterrupt:
                interrupted = True
            except (store.MirrorRefusedError, store.MirrorDivergedError, DatasetError) as error:
                raise click.ClickException(str(error)) from error
    finally:
        signal.signal(signal.SIGTERM, previous)
    if interrupted:
        click.echo("stopped; run the same command again to go on from here")
