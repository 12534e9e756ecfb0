"""Boots one simulated board: micropython host_tests/ports/run.py PERSONALITY FS_DIR

boot.py and main.py of FS_DIR run under the personality's fakes, with the real client, until
main.py returns to the "REPL" (SIGINT is the user's Ctrl-C); then the board's events (and what
boot.py/main.py printed) are printed as one JSON line starting with PORTS, and it exits 0.
"""
import json
import sys

_here = __file__.rpartition("/")[0] or "."
if not _here.startswith("/"):
    import os

    _here = os.getcwd() + "/" + _here
_tests = _here.rpartition("/")[0]
sys.path.insert(0, _tests)
sys.path.insert(0, _tests.rpartition("/")[0] + "/lib")

from ports import Board  # noqa: E402

b = Board(sys.argv[1], sys.argv[2])
with b:
    ev = b.power_on()
print("PORTS" + json.dumps({"events": ev, "out": b.out, "wdt": b.wdt, "feeds": b.feeds}))
