"""An embedded Postgres for running without DATABASE_URL.

The `pgserver` package ships real Postgres binaries in a wheel. The server lives in a
per-user data folder, listens only on a Unix socket inside it, and is stopped when the
process that started it exits (unless another process still uses it).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger("proposals_api")
_started: dict[Path, object] = {}


def start(data_dir: Path, *, delete_on_exit: bool = False) -> str:
    """Starts (or joins) the embedded server; returns its connection URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless here.
        warnings.simplefilter("ignore")
        import pgserver  # imported here: only this path needs the binaries

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="delete" if delete_on_exit else "stop")
    _started[data_dir] = server
    url = server.get_uri()
    log.info("embedded Postgres running in %s", data_dir)
    return url


def stop(data_dir: Path) -> None:
    """Stops the server this process started in `data_dir` now, while its folder still exists:
    pgserver's own clean-up at exit finds nothing to stop once the folder is gone."""
    server = _started.pop(data_dir, None)
    if server is not None:
        server.cleanup()
