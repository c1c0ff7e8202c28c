"""Starting and stopping the real server as a user does: `proposals-api serve` and `make run`.

Each start runs in a process group of its own, as a terminal runs a command: Ctrl-C is SIGINT
to that whole group, SIGTERM goes to `serve` alone. The database is always an embedded Postgres
in a folder of this module's (DATABASE_URL is unset for the server, whatever the suite runs
against); the first start creates and seeds it, the later ones reuse it. After every stop the
command must have exited 0 within 5 s, said nothing alarming, and left no process behind:
nothing that carries this module's EMBEDDED_PG_DIR in its environment (serve, its serving
session, granian and its workers, pg_ctl, Postgres), and no Postgres of that folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import psutil
import pytest

from api.command import embedded, lifecycle
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow  # every test here starts and stops real processes
STOP_SECONDS = 5
START_SECONDS = 120  # the first start makes and seeds the database
ALARMING = ("Traceback", "Unexpected exit", "Error", "ERROR", "Exception", "Killing", "did not stop")


@pytest.fixture(scope="module")
def pg_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="proposals-lifecycle-") as folder:
        data_dir = Path(folder) / "pg"
        try:
            yield data_dir
        finally:
            kill_all(leftovers(data_dir))  # a failed test's; its assertions said so already


def leftovers(data_dir: Path) -> list[psutil.Process]:
    """Every live process started for `data_dir`: by its environment, or a Postgres serving it."""
    found = []
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE or process.pid == os.getpid():
            continue
        try:
            ours = process.environ().get("EMBEDDED_PG_DIR") == str(data_dir)
        except psutil.Error:
            ours = False
        if ours or (process.info["name"] == "postgres" and str(data_dir) in (process.info["cmdline"] or [])):
            found.append(process)
    return found


def describe(processes: list[psutil.Process]) -> str:
    """What each process is and where it waits, for a failure message."""
    lines = []
    for process in processes:
        with suppress(psutil.Error):
            wchan = Path(f"/proc/{process.pid}/wchan").read_text() if sys.platform.startswith("linux") else ""
            command = " ".join(process.cmdline())[:160]
            lines.append(f"{process.pid} (parent {process.ppid()}) {process.status()} in {wchan or '?'}: {command}")
    return "\n".join(lines)


def postgres_log_tail(data_dir: Path) -> str:
    log = data_dir / "log"
    return "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else "(none)"


def postgres_of(data_dir: Path) -> list[psutil.Process]:
    return [process for process in leftovers(data_dir) if process.info["name"] == "postgres"]


class Run:
    """One start of a command, in a process group of its own, its output in a file."""

    def __init__(self, argv: list[str], data_dir: Path, port: int) -> None:
        self.port = port
        env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        env |= {"EMBEDDED_PG_DIR": str(data_dir), "PORT": str(port), "WEB_CONCURRENCY": "2", "PYTHONUNBUFFERED": "1"}
        for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # when the suite itself runs under make
            env.pop(name, None)
        self.log = tempfile.NamedTemporaryFile(prefix="proposals-lifecycle-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started = time.monotonic()

    @classmethod
    def serve(cls, data_dir: Path) -> Run:
        return cls([str(Path(sys.executable).with_name("proposals-api")), "serve"], data_dir, free_port())

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def wait_until(self, ready, what: str) -> None:
        deadline = self.started + START_SECONDS
        while not ready():
            assert self.process.poll() is None, f"exited ({self.process.returncode}) before {what}:\n{self.output()}"
            assert time.monotonic() < deadline, f"not {what} after {START_SECONDS} s:\n{self.output()}"
            time.sleep(0.02)

    def wait_until_serving(self) -> None:
        self.wait_until(self.answers, "answering on its port")

    def wait_until_healthy(self) -> None:
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                    return response.status == 200
            except (OSError, urllib.error.URLError):
                return False

        self.wait_until(healthy, "healthy")

    def ctrl_c(self) -> None:
        """What a terminal sends on Ctrl-C: SIGINT to every process of the foreground group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def sigterm(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def runs(pg_dir: Path) -> Iterator[list[Run]]:
    """The runs a test starts: whatever happens, none outlives the test."""
    started: list[Run] = []
    yield started
    for run in started:
        run.close()
    kill_all(leftovers(pg_dir))


def assert_stops_cleanly(run: Run, data_dir: Path, signalled_at: float, *, returncode: int = 0) -> None:
    """Exit status within STOP_SECONDS of the signal, no alarming line, no process left."""
    deadline = signalled_at + STOP_SECONDS
    try:
        run.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"still running {STOP_SECONDS} s after the signal:\n{describe(leftovers(data_dir))}\n{run.output()}"
            f"\nPostgres' log ends:\n{postgres_log_tail(data_dir)}"
        ) from None
    assert run.process.returncode == returncode, run.output()
    while (left := leftovers(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, describe(left)
    output = run.output()
    assert not [line for line in output.splitlines() if any(word in line for word in ALARMING)], output


class Load:
    """Clients reading while the server stops: each request must be answered or refused, never hang."""

    def __init__(self, port: int, clients: int = 4) -> None:
        self.stop = threading.Event()
        self.answered = 0
        paths = ["/v1/clauses?limit=200", "/v1/export", "/v1/statements?q=security", "/v1/talks"]
        self.threads = [
            threading.Thread(target=self._read, args=(f"http://127.0.0.1:{port}{paths[n % len(paths)]}",), daemon=True)
            for n in range(clients)
        ]
        for thread in self.threads:
            thread.start()

    def _read(self, url: str) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    response.read()
                    self.answered += 1
            except (OSError, urllib.error.URLError):
                return  # the server went away under the request, or refused it: that is its right

    def in_flight(self) -> None:
        """Returns once requests are flowing."""
        deadline = time.monotonic() + 30
        while self.answered < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.answered >= 4

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)
            assert not thread.is_alive(), "a request hung after the server stopped"


def session_started(run: Run) -> bool:
    """Whether `serve` has forked its serving session (which starts Postgres, migrates, then granian)."""
    try:
        return bool(psutil.Process(run.process.pid).children())
    except psutil.Error:
        return False


def kill_all(processes: list[psutil.Process]) -> None:
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            process.kill()


# (how to stop, when): eleven stops in a row, Ctrl-C and SIGTERM taking turns.
STOPS = [
    ("ctrl_c", "serving"),  # the first start seeds the database; this stops it as soon as the port answers
    ("sigterm", "serving"),
    ("ctrl_c", "loading"),  # `serve` is still loading the app's modules: nothing has started
    ("ctrl_c", "starting"),  # the serving session has just begun: it is starting Postgres
    ("sigterm", "migrating"),  # Postgres runs: the session migrates, or starts granian
    ("ctrl_c", "busy"),  # clients have requests in flight
    ("sigterm", "busy"),
    ("ctrl_c", "healthy"),
    ("sigterm", "healthy"),
    ("ctrl_c", "busy"),
    ("sigterm", "serving"),
]


def test_eleven_stops_in_a_row_are_quick_quiet_and_complete(pg_dir: Path, runs: list[Run]):
    for number, (stop, moment) in enumerate(STOPS, 1):
        run = Run.serve(pg_dir)
        runs.append(run)
        load = None
        if moment == "loading":
            time.sleep(0.2)
        elif moment == "starting":
            run.wait_until(lambda run=run: session_started(run), "starting its serving session")
        elif moment == "migrating":
            run.wait_until(lambda: bool(postgres_of(pg_dir)), "running Postgres")
        elif moment == "serving":
            run.wait_until_serving()
        else:
            run.wait_until_healthy()
            if moment == "busy":
                load = Load(run.port)
                load.in_flight()
        signalled_at = time.monotonic()
        getattr(run, stop)()
        try:
            assert_stops_cleanly(run, pg_dir, signalled_at)
        except AssertionError as error:
            raise AssertionError(f"stop {number} ({stop} when {moment}): {error}") from None
        if load:
            load.finish()
        assert not run.answers()


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill_tree(run: Run) -> list[psutil.Process]:
    """SIGKILL `serve` and every process under it (granian, its workers), as an OOM killer might."""
    tree = [psutil.Process(run.process.pid), *psutil.Process(run.process.pid).children(recursive=True)]
    for process in tree:
        process.kill()
    run.process.wait()
    deadline = time.monotonic() + STOP_SECONDS
    while any(running(process.pid) for process in tree) and time.monotonic() < deadline:
        time.sleep(0.02)
    return tree


def test_after_serve_is_killed_the_server_stops_and_the_next_start_recovers(pg_dir: Path, runs: list[Run]):
    # SIGKILL to serve's whole group: its serving session, in a session of its own, is told by
    # the kernel that its parent died, and stops granian and Postgres as on a SIGTERM.
    first = Run.serve(pg_dir)
    runs.append(first)
    first.wait_until_healthy()
    killed_at = time.monotonic()
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait()
    while (left := leftovers(pg_dir)) and time.monotonic() < killed_at + STOP_SECONDS:
        time.sleep(0.05)
    assert not left, [process.info for process in left]

    # SIGKILL to every process of the service at once: nothing is left to stop Postgres, and
    # pgserver's list of the server's users keeps the dead serving session.
    second = Run.serve(pg_dir)
    runs.append(second)
    second.wait_until_healthy()
    kill_tree(second)
    assert postgres_of(pg_dir), "Postgres should have outlived the killed service"
    users = json.loads((pg_dir / ".handle_pids.json").read_text())
    assert users and not any(running(pid) for pid in users)

    # The next start joins that Postgres, serves, and its stop stops Postgres too.
    third = Run.serve(pg_dir)
    runs.append(third)
    third.wait_until_healthy()
    with urllib.request.urlopen(f"http://127.0.0.1:{third.port}/v1/talks", timeout=10) as response:
        assert response.status == 200
    signalled_at = time.monotonic()
    third.ctrl_c()
    assert_stops_cleanly(third, pg_dir, signalled_at)
    assert not postgres_of(pg_dir)


def test_make_run_stops_on_ctrl_c_with_nothing_alarming(pg_dir: Path, runs: list[Run]):
    run = Run(["make", "-s", "run"], pg_dir, free_port())
    runs.append(run)
    run.wait_until_healthy()
    signalled_at = time.monotonic()
    run.ctrl_c()
    # make waits for `serve`, then ends itself by the same SIGINT (so that a shell knows the job
    # was interrupted), acknowledging it with one line of its own: no error.
    assert_stops_cleanly(run, pg_dir, signalled_at, returncode=-signal.SIGINT)
    make_lines = [line for line in run.output().splitlines() if line.startswith("make")]
    assert all(re.fullmatch(r"make(\[\d+\])?: \*\*\* \[Makefile:\d+: run\] Interrupt", line) for line in make_lines), (
        make_lines
    )


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "so_reuseport"])
def test_a_busy_port_is_refused_at_once_with_one_line(pg_dir: Path, runs: list[Run], reuse_port: bool):
    # A plain listener, and one like granian's own (SO_REUSEPORT), which a second granian would
    # silently share.
    with socket.socket() as listener:
        if reuse_port:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        run = Run([str(Path(sys.executable).with_name("proposals-api")), "serve"], pg_dir, port)
        runs.append(run)
        run.process.wait(timeout=30)
    assert run.process.returncode == 1
    assert run.output() == f"proposals-api: port {port} on 127.0.0.1 is already in use\n"
    assert time.monotonic() - run.started < 10  # imports only: nothing was started
    assert not leftovers(pg_dir)


def test_port_problem_names_what_is_wrong():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert lifecycle.port_problem("127.0.0.1", port) == f"port {port} on 127.0.0.1 is already in use"
    assert lifecycle.port_problem("127.0.0.1", port) is None
    assert lifecycle.port_problem("192.0.2.1", port).startswith(f"cannot listen on 192.0.2.1:{port}: ")


def test_forget_dead_processes_drops_dead_users_and_a_reused_postmaster_pid(tmp_path: Path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    data_dir = tmp_path / "pg"
    data_dir.mkdir()
    (data_dir / ".handle_pids.json").write_text(json.dumps([dead.pid, os.getpid()]))
    # The first line of postmaster.pid is the server's PID: here a live process that is no Postgres.
    (data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{data_dir}\n1\n5432\n{data_dir}\n\n  1  2\nready\n")
    embedded.forget_dead_processes(data_dir)
    assert json.loads((data_dir / ".handle_pids.json").read_text()) == [os.getpid()]
    assert not (data_dir / "postmaster.pid").exists()

    # A PID that no longer runs is left to pgserver and Postgres, which handle it themselves.
    (data_dir / "postmaster.pid").write_text(f"{dead.pid}\n{data_dir}\n")
    embedded.forget_dead_processes(data_dir)
    assert (data_dir / "postmaster.pid").exists()


# A granian stand-in whose master ignores SIGTERM and never passes it on, while its worker
# (Python's default handler) would stop at one.
MASTER_THAT_KEEPS_THE_STOP_TO_ITSELF = """
import signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
worker = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"],
    preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL),
)
worker.wait()
"""


def test_workers_get_the_stop_themselves_when_the_master_does_not_pass_it_on(capsys):
    """After GRANIAN_NUDGE_SECONDS every granian process gets the SIGTERM: the stop is quiet and in time."""

    class Signals:
        count = 0

    signals = Signals()
    stop_at: list[float] = []

    def ask_to_stop() -> None:
        time.sleep(0.5)
        stop_at.append(time.monotonic())
        signals.count = 1

    threading.Thread(target=ask_to_stop, daemon=True).start()
    status = lifecycle.run_granian(
        [sys.executable, "-c", MASTER_THAT_KEEPS_THE_STOP_TO_ITSELF], dict(os.environ), str(ROOT), signals
    )
    took = time.monotonic() - stop_at[0]
    assert status == 0
    assert lifecycle.GRANIAN_NUDGE_SECONDS <= took < lifecycle.GRANIAN_STOP_SECONDS, took
    assert capsys.readouterr().err == ""
