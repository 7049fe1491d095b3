"""The `panoptui` command: the console script and `python -m panoptui` both call run().

Why run() and not panoptui.cli.main directly: a Ctrl-C can come at any moment, also while Python
is still importing panoptui.cli and, through it, DuckDB, Arrow and numpy (a few tenths of a
second). Python's own handler raises KeyboardInterrupt wherever the import happens to be: a
traceback, or, inside DuckDB's extension module (nanobind), an abort of the whole process.

So run()'s first action, before it imports panoptui.cli, installs a handler that only records
a Ctrl-C (it raises nothing). cli.main keeps recording into the same list while its modules
load, then, if one came, says "panoptui: interrupted" and exits 130 without running the
command; only then does a Ctrl-C raise KeyboardInterrupt, for the command to end cleanly. No
KeyboardInterrupt is ever raised inside an extension module's import.

Once the command is over, Ctrl-C is ignored: Python's shutdown puts back the default handler,
and a Ctrl-C in that last moment would kill the process with no word and an exit status that
says "killed", after a command that finished.
"""

import signal
import sys


def run() -> int:
    held: list[int] = []  # the Ctrl-Cs that came before the command started
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    from panoptui.cli import main

    code = main(held=held)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(run())
