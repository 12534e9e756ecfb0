"""The LwM2M client as one asyncio task among the application's: AsyncClient(cfg).serve().

    import asyncio
    from lwm2m.aio import AsyncClient
    from lwm2m.config import load

    async def main():
        client = AsyncClient(load("config.json"))
        asyncio.create_task(client.serve())  # register, serve, report, re-register
        await client.registered()
        ...                                   # the application's own tasks
        await client.stop()                   # deregister and close

    asyncio.run(main())

The sans-I/O core is lwm2m.client.Client, unchanged; only the driver differs from run(). Setters
and executors bound with Obj.bind() may be coroutine functions: the 2.04 goes out first, then the
coroutine runs as a task. Only apps that import this module load it (run() never does).
"""
import asyncio
import sys
import time

from micropython import const

from coap.aiorunner import AioRunner
from lwm2m.client import Client
from lwm2m.log import Log

_BOARD = sys.platform in ("esp32", "rp2")
_LINK_S = const(2)  # how often a board's Wi-Fi link is checked


class AsyncClient:
    """cfg: a checked config (lwm2m.config.load). platform: board.platform() unless given.
    feed: watchdog feed, called every driver pass (at least once a second). wifi: on a board, an
    object with isconnected() and an `async connect()` (board.aiowifi.Link), watched so an outage
    is ridden out in the background and the servers hear from the new address when it returns."""

    def __init__(self, cfg, platform=None, log=None, feed=None, wifi=None):
        if platform is None:
            import board

            platform = board.platform(root=cfg["data_dir"])
        self.log = log if log is not None else Log(cfg.get("log", "info"))
        c = self.client = Client(cfg, platform, log=self.log)
        self.registry = c.registry
        r = self.runner = AioRunner(c.ep, cfg.get("local_port", 0), log=self.log.warn)
        r.feed = feed
        r.add_hook(c.tick)
        from lwm2m.secure import make_transport_factory  # after add_hook: its hook runs after tick

        c.transport_factory = make_transport_factory(r, c, self.log)
        r.on_rebind.append(c.address_changed)
        # the rebind file is a host/test facility: a board only watches its own address
        r.watch_address(getattr(platform, "ifconfig", None),
                        None if _BOARD else cfg["data_dir"] + "/rebind")
        r.add_hook(self._state)
        c.registry.spawn = self._spawn
        self.wifi = wifi
        self.jobs = []  # coroutine handlers still running
        self._up = asyncio.Event()
        self._done = asyncio.Event()
        self._serving = False
        self.link_drops = 0

    # ---- application API -------------------------------------------------------------------
    def changed(self, oid, iid=None, rid=None):
        """This value changed: observers hear of it at the driver's next pass, not its deadline."""
        self.client.changed(oid, iid, rid)
        self.runner.wake()

    @property
    def is_registered(self):
        for r in self.client.regs.values():
            if r.registered:
                return True
        return False

    async def registered(self):
        """Returns once at least one server has us registered (at once if one has now)."""
        await self._up.wait()

    async def serve(self):
        """Register, serve requests, report, re-register: runs until stop() (or a Reboot)."""
        c = self.client
        self._serving = True
        self.log.info("%s starting under asyncio (local port %d, data in %s)" % (
            c.name, self.runner.udp.local_port, c.cfg["data_dir"]))
        link = None
        if self.wifi is not None:
            link = asyncio.create_task(self._link())
        try:
            await self.runner.serve(lambda: c.stopped)
        finally:
            if link is not None:
                link.cancel()
            self.runner.close()
            self._serving = False
            self._done.set()
            self.log.info("stopped")

    async def stop(self):
        """Deregister from every server (answered, or ~5 s), close the sockets; serve() returns."""
        c = self.client
        if not self._serving:
            self.runner.close()
            return
        c.shutdown(time.ticks_ms())
        self.runner.wake()
        await self._done.wait()

    # ---- the driver's side -----------------------------------------------------------------
    def _state(self, now):
        # a runner hook: registered() waiters learn of a registration in the pass that made it
        if self.is_registered:
            if not self._up.is_set():
                self._up.set()
        elif self._up.is_set():
            self._up.clear()
        return None

    def _spawn(self, coro):
        # called inside the DM handler: the task first runs after this pass has sent the 2.04
        self.jobs.append(asyncio.create_task(self._job(coro)))

    async def _job(self, coro):
        try:
            await coro
        except Exception as e:  # an application handler's fault is logged, never fatal
            self.log.warn("handler task failed: %r" % (e,))
        finally:
            for i, t in enumerate(self.jobs):
                if t is asyncio.current_task():
                    self.jobs.pop(i)
                    break

    async def _link(self):
        """Wi-Fi outage and return without blocking anyone: reconnect in the background; when the
        link is back, a new socket and an Update to every server (a failed Update registers)."""
        w = self.wifi
        down = False
        while True:
            if not w.isconnected():
                if not down:
                    down = True
                    self.link_drops += 1
                    self.log.warn("wifi: link down; reconnecting in the background")
                if await w.connect():
                    down = False
                    self.log.info("wifi: link back")
                    self.runner.rebind(0)
            await asyncio.sleep(_LINK_S)
