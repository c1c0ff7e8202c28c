"""The `proposals-api` command's entry point.

Loading the app's modules takes a second or more. `serve` stopped in that time (Ctrl-C, SIGTERM
or SIGHUP) exits 0 at once and quietly, as it does later on: nothing has started yet. Without
this, Python would print a KeyboardInterrupt traceback. Other commands keep Python's defaults.
"""

import os
import signal
import sys


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, lambda signum, frame: os._exit(0))
    from api.command.cli import main as command

    command()
