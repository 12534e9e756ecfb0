"""Wi-Fi station for asyncio apps: connect and reconnect without blocking the event loop."""
import asyncio
import time

from micropython import const

_STEP_MS = const(100)
_PAUSE_MAX_MS = const(30000)
_CHECK_MS = const(2000)  # how often keep() looks at the link


def _sleep_ms(ms):
    f = getattr(asyncio, "sleep_ms", None)  # MicroPython: no float, no allocation
    return f(ms) if f is not None else asyncio.sleep(ms / 1000)


class Link:
    """What lwm2m.aio.AsyncClient(wifi=...) watches: isconnected(), and `await connect()` for one
    attempt (polled with asyncio sleeps, then a growing pause when it failed). platform: the
    board Platform, so /4/0 reads the interface once it is up. wlan: network.WLAN(STA_IF) unless
    given (a test passes a fake)."""

    def __init__(self, ssid, password, platform=None, wlan=None, timeout_ms=15000, log=print):
        self.ssid = ssid
        self.password = password
        self.plat = platform
        self.wlan = wlan
        self.timeout_ms = timeout_ms
        self.log = log
        self.pause = 1000
        self.attempts = 0
        self.drops = 0
        self.check_ms = _CHECK_MS

    def _w(self):
        if self.wlan is None:
            import network

            self.wlan = network.WLAN(network.STA_IF)
            self.wlan.active(True)
        return self.wlan

    def isconnected(self):
        return self._w().isconnected()

    async def connect(self):
        """True once connected; False after one failed attempt and its back-off pause."""
        w = self._w()
        if not w.isconnected():
            self.attempts += 1
            self.log("wifi: connecting to %r (attempt %d)" % (self.ssid, self.attempts))
            try:
                w.connect(self.ssid, self.password)
            except OSError as e:
                self.log("wifi: connect error %r" % (e,))
            start = time.ticks_ms()
            while not w.isconnected():
                if time.ticks_diff(time.ticks_ms(), start) >= self.timeout_ms:
                    break
                await _sleep_ms(_STEP_MS)
        if w.isconnected():
            self.pause = 1000
            if self.plat is not None:
                self.plat._wlan = w  # /4/0 (RSSI, addresses) reads this interface
            return True
        try:
            w.disconnect()
        except OSError:
            pass
        await _sleep_ms(self.pause)
        self.pause = min(self.pause * 2, _PAUSE_MAX_MS)
        return False

    async def keep(self, runner, log):
        """A task beside the client (lwm2m.aio starts it): reconnect in the background after an
        outage; when the link is back, a new socket and an Update to every server from it (an
        Update that fails registers again). Never blocks the other tasks."""
        down = False
        while True:
            if not self.isconnected():
                if not down:
                    down = True
                    self.drops += 1
                    log.warn("wifi: link down; reconnecting in the background")
                if await self.connect():
                    down = False
                    log.info("wifi: link back: new socket, Update to the servers")
                    runner.rebind(0)
            await _sleep_ms(self.check_ms)
