"""Deep-sleep harness: the client on the unix port in a board dir, woken again after every sleep.

Deep sleep on the host is the process exiting with board.sleep.DEEPSLEEP_EXIT after printing
"board: deep sleep <ms> ms"; wake() starts it again (RTC memory is a file in the data dir, so it
survives, as on an ESP32) with LWM2M_CLOCK_OFFSET moved forward by the sleep (or by what the
caller says), and `clock()` gives a server the same moved clock. CPython only (asyncio).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

_TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (os.path.join(_TOP, "lib"), os.path.join(_TOP, "tools")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from boardir import make_board_dir  # noqa: E402
from hostenv import free_udp_port, micropython  # noqa: E402
from proc import Proc  # noqa: E402

DEEPSLEEP_EXIT = 4  # board.sleep.DEEPSLEEP_EXIT
CUT_EXIT = 5  # board.sleep.CUT_EXIT
_SLEEP = re.compile(r"board: deep sleep (\d+) ms")
_DONE = re.compile(r"sleep: wake done: awake (\d+) ms, sent (\d+) datagrams (\d+) B, received "
                   r"(\d+) datagrams (\d+) B, flash writes (\d+)")


def sleep_config(ep, server_port, lifetime=300, interval=30, awake=1, log="info", mode="deep"):
    return {"endpoint": ep, "local_port": free_udp_port(), "data_dir": "data", "log": log,
            "queue_mode": True,
            "servers": [{"uri": "coap://127.0.0.1:%d" % server_port, "ssid": 1,
                         "lifetime": lifetime, "binding": "UQ"}],
            "sleep": {"mode": mode, "interval": interval, "awake": awake}}


class Wake:
    """One process run: exit code, output lines, host ms from start to exit, and what the client
    reported (sleep_ms, awake_ms, tx, txb, rx, rxb, flash_writes; None when absent)."""

    def __init__(self, rc, lines, host_ms):
        self.rc = rc
        self.lines = lines
        self.host_ms = host_ms
        self.sleep_ms = None
        self.figures = None
        for ln in lines:
            m = _SLEEP.search(ln)
            if m:
                self.sleep_ms = int(m.group(1))
            m = _DONE.search(ln)
            if m:
                self.figures = dict(zip(("awake_ms", "tx", "txb", "rx", "rxb", "flash_writes"),
                                        (int(g) for g in m.groups())))

    def text(self):
        return "\n".join(self.lines)


class SleepNode:
    """A board dir whose client sleeps; wake() runs one wake cycle and returns a Wake."""

    def __init__(self, cfg, mpy=False, heap="1M", rtc=True, interp=None):
        self.dir = tempfile.mkdtemp(prefix="lwm2m-sleep-")
        make_board_dir(self.dir, cfg, mpy=mpy)
        self.cfg = cfg
        self.heap = heap
        self.interp = interp  # another MicroPython build (e.g. the 32-bit one) instead
        self.rtc = rtc  # False: no RTC memory, as on a Pico W (LWM2M_RTC=none)
        self.offset = 0  # seconds the wall clock has been moved forward
        self.wakes = []
        self.proc = None

    def clock(self):
        """time.monotonic() moved forward with the node's wall clock: a server's clock."""
        return time.monotonic() + self.offset

    def forget(self):
        """Lose the saved state (RTC memory on a power cut; the store record too): the next wake
        registers."""
        for f in ("rtcmem", "sleep.rec"):
            try:
                os.remove(os.path.join(self.dir, "data", f))
            except OSError:
                pass

    async def wake(self, timeout=60, cut=None):
        """Start the client and wait for it to exit; cut=n: the power goes after n bytes of the
        RTC memory write (LWM2M_CUT_RTC)."""
        env = dict(os.environ, LWM2M_CLOCK_OFFSET=str(int(self.offset)))
        env.pop("LWM2M_CUT_RTC", None)
        env.pop("LWM2M_RTC", None)
        if not self.rtc:
            env["LWM2M_RTC"] = "none"
        if cut is not None:
            env["LWM2M_CUT_RTC"] = str(cut)
        t0 = time.monotonic()
        self.proc = p = Proc([self.interp or micropython(), "-X", "heapsize=" + self.heap,
                              "main.py"], cwd=self.dir, env=env)
        self.partial = lines = p.lines
        try:
            rc = await p.exited(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("wake did not end; output:\n" + p.output())
        finally:
            p.kill()
        w = Wake(rc, lines, round((time.monotonic() - t0) * 1000))
        self.wakes.append(w)
        return w

    def sleep(self, seconds=None):
        """Move the wall clock over the sleep the last wake asked for (or `seconds`)."""
        if seconds is None:
            ms = self.wakes[-1].sleep_ms if self.wakes else None
            # a wake cut before it said how long: the configured interval
            seconds = self.cfg["sleep"]["interval"] if ms is None else ms // 1000
        self.offset += seconds

    def close(self):
        if self.proc is not None:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
