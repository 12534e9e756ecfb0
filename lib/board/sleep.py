"""Sleep primitives per port: RTC user memory, light and deep sleep, the wall clock.

ESP32: RTC user memory (machine.RTC().memory(), 2048 B) survives deep sleep and soft reset, not
power loss; machine.deepsleep(ms) resets the chip on wake. rp2: no RTC user memory (rtc_memory()
is None: the flash store is the only place) and deepsleep is lightsleep then machine.reset().
Host: RTC memory is a file under the data dir (it survives the process, like RTC memory survives
the reset), deep sleep is the process exiting with DEEPSLEEP_EXIT so a harness restarts it, and
LWM2M_CLOCK_OFFSET (seconds) moves the wall clock forward, as the sleep would have.

Watchdog: an armed WDT keeps running through light sleep (rp2: at most 8388 ms), so with a feed
callable a long sleep is taken in chunks of chunk_ms with a feed between them. ESP32 deep sleep
powers the cores down, so machine.deepsleep needs no feeding; rp2 "deep" sleep is light sleep,
so it is chunked and fed the same way before the reset.
"""
import sys

DEEPSLEEP_EXIT = 4  # host: the process ends with this code; the harness starts it again
CUT_EXIT = 5  # host: LWM2M_CUT_RTC cut the power in the middle of an RTC memory write
CLOCK_ENV = "LWM2M_CLOCK_OFFSET"
RTC_ENV = "LWM2M_RTC"  # host: "none" behaves like rp2 (no RTC memory: the flash store only)
# host fault injection: the next RTC memory write stops after n bytes ("-n": all but the last n,
# "all": complete) and the process exits with CUT_EXIT, as if the power went there
CUT_ENV = "LWM2M_CUT_RTC"
RTC_MEMORY_MAX = 2048  # ESP32 MICROPY_HW_RTC_USER_MEM_MAX


def _getenv(name):
    try:
        import os

        return os.getenv(name)
    except (ImportError, AttributeError):
        return None


class _McuRtc:
    """ESP32 machine.RTC().memory(): read() -> bytes, write(bytes); up to 2048 bytes."""

    size = RTC_MEMORY_MAX

    def read(self):
        import machine

        return bytes(machine.RTC().memory())

    def write(self, data):
        import machine

        machine.RTC().memory(data)


class FileRtc:
    """RTC user memory on the host: a file written in place (no temp + rename: the real memory is
    written in place too, so a cut leaves a torn copy that the reader must reject)."""

    size = RTC_MEMORY_MAX

    def __init__(self, path):
        self.path = path
        self.writes = 0

    def read(self):
        try:
            with open(self.path, "rb") as f:
                return f.read(self.size)
        except OSError:
            return b""

    def write(self, data):
        if len(data) > self.size:
            raise ValueError("rtc memory: %d bytes > %d" % (len(data), self.size))
        self.writes += 1
        cut = _getenv(CUT_ENV)
        with open(self.path, "wb") as f:
            if cut and data:
                n = len(data) if cut == "all" else int(cut)
                f.write(data[:n if n >= 0 else len(data) + n])
                f.flush()
                raise SystemExit(CUT_EXIT)  # the power went here: nothing after this runs
            f.write(data)


def rtc_memory(root):
    """Memory that survives deep sleep but needs no flash write, or None (rp2)."""
    p = sys.platform
    if p == "esp32":
        return _McuRtc()
    if p == "rp2" or _getenv(RTC_ENV) == "none":
        return None
    return FileRtc(root + "/rtcmem")


def wall():
    """Wall-clock seconds (the board's own epoch: 2000 on ESP32, 1970 on rp2 and the host); only
    differences are used, on the same board."""
    import time

    t = int(time.time())
    off = _getenv(CLOCK_ENV)
    return t + int(off) if off else t


def _chunked(ms, feed, chunk_ms, sleep):
    while ms > 0:
        n = min(ms, chunk_ms) if feed is not None else ms
        sleep(n)
        ms -= n
        if feed is not None:
            feed()


def lightsleep(ms, feed=None, chunk_ms=4000):
    """Sleep ms with RAM kept; with feed (an armed watchdog) in chunks of chunk_ms, fed between."""
    p = sys.platform
    if p in ("esp32", "rp2"):
        import machine

        _chunked(ms, feed, chunk_ms, machine.lightsleep)
        return
    import time

    _chunked(ms, feed, chunk_ms, lambda n: time.sleep(n / 1000))


def deepsleep(ms, feed=None, chunk_ms=4000):
    """Sleep ms and wake through a reset (RAM gone); never returns."""
    p = sys.platform
    if p == "esp32":
        import machine

        machine.deepsleep(ms)
    if p == "rp2":
        import machine

        _chunked(ms, feed, chunk_ms, machine.lightsleep)
        machine.reset()
    print("board: deep sleep %d ms (exit %d)" % (ms, DEEPSLEEP_EXIT))
    raise SystemExit(DEEPSLEEP_EXIT)
