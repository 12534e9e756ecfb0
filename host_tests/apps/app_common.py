"""What coap_demo_app and dm_app share: lib/ on the path, the CPython time shim, event lines, a period."""
# Imported first by those apps (from their own directory, which both ports put on sys.path).
import sys

_here = __file__.rpartition("/")[0] or "."
sys.path.insert(0, _here + "/../../lib")

import time  # noqa: E402

try:
    time.ticks_ms
except AttributeError:  # CPython: the host shim gives it the MicroPython time helpers
    sys.path.insert(0, _here + "/../../tools/cpy")
    import mpshim  # noqa: F401


def say(*a):
    print(*a)
    try:
        sys.stdout.flush()
    except AttributeError:
        pass


class Period:
    """A runner hook's clock: left(now) is the ms until the period ends, or 0 once it has ended (and
    the next one starts then); the first call starts the first period."""

    def __init__(self, ms):
        self.ms = ms
        self.next = None

    def left(self, now):
        if self.next is None:
            self.next = time.ticks_add(now, self.ms)
        left = time.ticks_diff(self.next, now)
        if left > 0:
            return left
        self.next = time.ticks_add(now, self.ms)
        return 0
