"""What the test programs here share: lib/ on sys.path (plus the CPython shim) and say().

A program imports it first (`from appenv import say`): run as a script, under the unix port or
CPython, its own folder is on sys.path, so this module is found from anywhere.
"""
import sys

_here = __file__.rpartition("/")[0] or "."
sys.path.insert(0, _here + "/../../lib")

import time  # noqa: E402

try:
    time.ticks_ms
except AttributeError:  # CPython: the host shim gives it the MicroPython time helpers
    sys.path.insert(0, _here + "/../../tools/cpy")
    import mpshim  # noqa: F401


def due(at, now, period):
    """For a job every `period` ms: (ms to wait, 0 when due now; when the one after is due).
    `at` is when this one is due, None before the first call (then one period from now)."""
    if at is None:
        at = time.ticks_add(now, period)
    left = time.ticks_diff(at, now)
    if left > 0:
        return left, at
    return 0, time.ticks_add(now, period)


def say(*a):
    """One event line on stdout, flushed at once: the test reads it as it comes."""
    print(*a)
    try:
        sys.stdout.flush()
    except AttributeError:
        pass
