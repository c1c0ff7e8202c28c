"""How `proposals-api serve` starts and stops: on time, quietly, leaving nothing behind.

A terminal's Ctrl-C sends SIGINT to every process of its foreground group at once. When granian's
master and its workers all got it, a worker could exit before the master asked it to (granian
then logs "Unexpected exit from worker" and exits 1), and pg_ctl or initdb, still starting the
embedded Postgres, would die halfway. So `serve` is a small supervisor. It forks the serving
session into a session of its own, which no terminal signal reaches, and turns SIGINT, SIGTERM
and SIGHUP into one SIGTERM to it. The serving session stops in order: granian (its master
stops its workers), then the embedded Postgres.

On Linux every child also gets SIGTERM when the process that started it dies, even by SIGKILL
(the parent-death signal of prctl(2)), so a killed `serve` still stops the server."""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import NoReturn

import click

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# granian gets this long to stop after its SIGTERM (its workers finishing the requests in flight;
# they take a tenth of a second as a rule), then every granian process is killed. Not granian's
# own --workers-kill-timeout: its check races with the thread that reaps each worker, and then
# warns of "Killing worker-N after it refused to gracefully stop" for a worker already gone.
GRANIAN_STOP_SECONDS = 3.0
# If granian still runs this long after its master's SIGTERM, the SIGTERM goes to every granian
# process (its workers too). A worker that the master has not signalled yet, for whatever reason,
# then stops by itself, in time; in the common case granian is gone long before.
GRANIAN_NUDGE_SECONDS = 1.0
# The supervisor's last resort, far past the usual second: a session that has not stopped by
# then is killed. Its Postgres, if any, is then stopped by the next start.
SESSION_STOP_SECONDS = 15.0
_POLL_SECONDS = 0.05
_PR_SET_PDEATHSIG = 1


class StopRequested(BaseException):
    """A stop signal arrived while the serving session was preparing: unwind and clean up.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way swallows it."""


def port_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port (in use, or not ours to take), or None.

    granian's workers open their sockets with SO_REUSEPORT, so on a port that another granian
    holds they would share it (the kernel splitting connections between the two servers)
    instead of failing: hence a plain listening socket, tried and closed, before anything starts.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        return f"cannot listen on {host}:{port}: {error.strerror}"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed server's TIME_WAIT is no obstacle
        try:
            probe.bind(address)
            probe.listen()
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use"
            return f"cannot listen on {host}:{port}: {error.strerror}"
    return None


def refuse_busy_port(host: str, port: int) -> None:
    """Exits with status 1 and one line on stderr when host:port cannot be listened on."""
    problem = port_problem(host, port)
    if problem:
        click.echo(f"proposals-api: {problem}", err=True)
        sys.exit(1)


def exit_now(code: int) -> NoReturn:
    """Exits once the output is flushed, without tearing the interpreter down: everything is
    stopped already, and unloading the app's modules took up to half a second on a busy machine."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _ask_for_sigterm_when_the_parent_dies(parent: int) -> None:
    """In a new child: SIGTERM when `parent` dies, even by SIGKILL (Linux only)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # it died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)


def _exit_status(returncode: int) -> int:
    """A child's return code as a shell would report it (128 + N when signal N ended it)."""
    return 128 - returncode if returncode < 0 else returncode


def _kill_group(pgid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):  # none left
        os.killpg(pgid, signal.SIGKILL)


def supervise(session: Callable[[StopSignals], int]) -> int:
    """Runs `session` in a child of its own, in a session of its own, and returns its exit status.

    SIGINT, SIGTERM and SIGHUP each become a SIGTERM to it (a second one hurries it); once asked,
    it gets SESSION_STOP_SECONDS before all of it is killed. A stop that was asked for is a
    success: 0, whatever ended the session. The child is forked, not started afresh, so that
    it need not import the app again.
    """
    received = []
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # until each side has its handlers
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would print what is buffered once more
    parent = os.getpid()
    child = os.fork()
    if child == 0:
        os.setsid()
        _ask_for_sigterm_when_the_parent_dies(parent)
        signals = StopSignals()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        exit_now(session(signals))
    for number in STOP_SIGNALS:
        signal.signal(number, lambda signum, frame: received.append(signum))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    forwarded, deadline, status = 0, None, None
    while status is None:
        if len(received) > forwarded:
            forwarded = len(received)
            os.kill(child, signal.SIGTERM)
            deadline = deadline or time.monotonic() + SESSION_STOP_SECONDS
        if deadline is not None and time.monotonic() > deadline:
            click.echo(f"proposals-api: the server did not stop within {SESSION_STOP_SECONDS:.0f} s: killed", err=True)
            _kill_group(child)
            deadline = float("inf")
        pid, wait_status = os.waitpid(child, os.WNOHANG)
        if pid:
            status = os.waitstatus_to_exitcode(wait_status)
        else:
            time.sleep(_POLL_SECONDS)
    return 0 if received else _exit_status(status)


class StopSignals:
    """The serving session's SIGINT, SIGTERM and SIGHUP: counted, and raised as StopRequested only
    inside `interruptible()`.

    Outside it they wait: while the embedded Postgres starts (pg_ctl and initdb are best not
    cut short), while granian runs (`run_granian` watches the count) and while Postgres stops.
    """

    def __init__(self) -> None:
        self.count = 0
        self._raise = False
        for number in STOP_SIGNALS:
            signal.signal(number, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        if self._raise:
            self._raise = False
            raise StopRequested

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """Raises StopRequested at once if a signal came already, else when one comes inside the block."""
        if self.count:
            raise StopRequested
        self._raise = True
        try:
            yield
        finally:
            self._raise = False


def run_granian(command: Sequence[str], env: dict[str, str], cwd: str, signals: StopSignals) -> int:
    """Runs granian until it exits, or until a stop signal: then SIGTERM to its master, which
    stops its workers (and to every granian process after GRANIAN_NUDGE_SECONDS, should one still
    run); past GRANIAN_STOP_SECONDS, or at a second signal, every granian process is killed.

    granian gets a process group of its own, so that nothing is left of it afterwards.
    Returns 0 after a stop that was asked for, else granian's exit status.
    """
    seen = signals.count
    if seen:
        return 0
    parent = os.getpid()
    server = subprocess.Popen(
        command, env=env, cwd=cwd, process_group=0, preexec_fn=lambda: _ask_for_sigterm_when_the_parent_dies(parent)
    )
    deadline = nudge_at = None
    try:
        while server.poll() is None:
            if signals.count > seen:
                if deadline is None:
                    server.send_signal(signal.SIGTERM)
                    deadline = time.monotonic() + GRANIAN_STOP_SECONDS
                    nudge_at = time.monotonic() + GRANIAN_NUDGE_SECONDS
                else:
                    deadline = time.monotonic()
                seen = signals.count
            if nudge_at is not None and time.monotonic() > nudge_at:
                nudge_at = None
                with suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGTERM)
            if deadline is not None and time.monotonic() > deadline:
                if signals.count == 1:
                    click.echo(
                        f"proposals-api: granian did not stop within {GRANIAN_STOP_SECONDS:.0f} s: killed", err=True
                    )
                _kill_group(server.pid)
                server.wait()
                break
            time.sleep(_POLL_SECONDS)
    finally:
        _kill_group(server.pid)  # a worker whose master died without stopping it
    return 0 if deadline is not None else _exit_status(server.returncode)
