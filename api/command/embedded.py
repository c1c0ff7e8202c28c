"""An embedded Postgres for running without DATABASE_URL.

The `pgserver` package ships real Postgres binaries in a wheel. The server lives in a
per-user data folder, listens only on a Unix socket inside it, and is stopped when the
process that started it exits (unless another process still uses it).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import subprocess
import sys
import warnings
from contextlib import suppress
from pathlib import Path

import psutil

log = logging.getLogger("proposals_api")
_started: dict[Path, object] = {}
_locks: dict[Path, object] = {}
FAST_STOP_SECONDS = 2


def start(data_dir: Path, *, delete_on_exit: bool = False) -> str:
    """Starts (or joins) the embedded server; returns its connection URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless here.
        warnings.simplefilter("ignore")
        import pgserver  # imported here: only this path needs the binaries

    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _folder_lock(data_dir.resolve())
    with lock:
        forget_dead_processes(data_dir.resolve())
        server = pgserver.get_server(data_dir, cleanup_mode="delete" if delete_on_exit else "stop")
    # pgserver starts and stops every server of an OS user under one lock, so a stop could wait
    # seconds for another project's initdb. This folder's own lock, which every start above
    # takes too, keeps the users list and the server of this folder just as consistent.
    server._lock = lock
    _started[data_dir] = server
    url = server.get_uri()
    log.info("embedded Postgres running in %s", data_dir)
    return url


def stop(data_dir: Path) -> None:
    """Leaves the server this process joined in `data_dir` and, if no other process uses it,
    stops it now, while its folder still exists (pgserver's own clean-up at exit finds nothing
    to stop once the folder is gone), and within a few seconds.

    pgserver's own clean-up waits for Postgres without limit: here a fast shutdown (0.1 s as a
    rule) gets FAST_STOP_SECONDS, then Postgres is stopped at once (immediate mode; the next
    start replays what was written since the last checkpoint, as after a crash).
    """
    server = _started.pop(data_dir, None)
    if server is None:
        return
    atexit.unregister(server._cleanup)  # done here instead
    with server._lock:
        users = server.global_process_id_list.get_and_remove(os.getpid())
        type(server)._instances.pop(server.pgdata, None)
        if users != [os.getpid()]:
            return  # another process uses it; the last one to leave stops it
        postmaster = server._postmaster_info
        if postmaster is not None and postmaster.is_running():
            _stop_postgres(server.pgdata, server.system_user)
        if server.cleanup_mode == "delete":
            shutil.rmtree(server.pgdata, ignore_errors=True)


def _stop_postgres(pgdata: Path, user: str | None) -> None:
    from pgserver._commands import pg_ctl

    try:
        pg_ctl(["-w", "-t", str(FAST_STOP_SECONDS), "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        print(
            f"proposals-api: the embedded Postgres did not stop within {FAST_STOP_SECONDS} s: stopping it at once",
            file=sys.stderr,
        )
        with suppress(subprocess.CalledProcessError):
            pg_ctl(["-w", "-t", str(FAST_STOP_SECONDS), "-m", "immediate", "stop"], pgdata=pgdata, user=user)


def _folder_lock(data_dir: Path):
    """An inter-process lock of the data folder's own, in a file beside it (initdb wants the
    folder empty). One object per folder: POSIX locks belong to the process, not the object."""
    import fasteners  # pgserver's own dependency

    if data_dir not in _locks:
        _locks[data_dir] = fasteners.InterProcessLock(str(data_dir.parent / f".{data_dir.name}.lock"))
    return _locks[data_dir]


def forget_dead_processes(data_dir: Path) -> None:
    """Drops what pgserver 0.1.4 still records in `data_dir` about processes a crash killed.

    pgserver lists the processes using the server in `.handle_pids.json` and stops it only
    when the last of them leaves. A process killed outright never leaves, so the server would
    outlive every later user: a PID that is gone, or that now names a process started after
    the list was written, is dropped. And when `postmaster.pid` names a live process other than
    this folder's Postgres (its number reused after a crash), pgserver would take the server
    for running and Postgres would refuse to start: that file is removed. Call it under the
    folder's lock.
    """
    users = data_dir / ".handle_pids.json"
    if users.exists():
        written_at = users.stat().st_mtime
        try:
            listed = [int(pid) for pid in json.loads(users.read_text())]
        except ValueError:  # a file cut short by the crash
            listed = []
        alive = [pid for pid in listed if _alive_since(pid, written_at)]
        if alive != listed:
            log.info("embedded Postgres: forgetting dead users %s", sorted(set(listed) - set(alive)))
            users.write_text(json.dumps(alive))
    postmaster = data_dir / "postmaster.pid"
    if postmaster.exists():
        try:
            pid = int(postmaster.read_text().split("\n", 1)[0])
        except ValueError:
            return  # being written: Postgres is starting
        if _is_someone_else(pid, data_dir):
            log.info("embedded Postgres: removing a stale postmaster.pid (PID %s is another process)", pid)
            postmaster.unlink(missing_ok=True)


def _alive_since(pid: int, moment: float) -> bool:
    """Whether `pid` runs and was started before `moment` (so it is the process once listed)."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= moment + 1
    except psutil.Error:
        return False


def _is_someone_else(pid: int, data_dir: Path) -> bool:
    """Whether `pid` runs, but is not the Postgres serving `data_dir`."""
    try:
        process = psutil.Process(pid)
        return process.name() != "postgres" or str(data_dir) not in process.cmdline()
    except psutil.Error:
        return False  # gone: pgserver and Postgres both handle that
