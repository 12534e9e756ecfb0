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
import time

from micropython import const

from coap.aiorunner import AioRunner
from lwm2m.client import Client
from lwm2m.log import Log

_POLL_MS = const(50)  # registered() / stop() look again this often (no asyncio.Event to import)


class AsyncClient:
    """cfg: a checked config (lwm2m.config.load). platform: board.platform() unless given.
    feed: watchdog feed, called every driver pass (at least once a second). wifi: on a board, a
    board.aiowifi.Link: serve() runs its keep() beside the client, so a Wi-Fi outage is ridden out
    in the background and the servers hear from the new address when the link returns."""

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
        r.watch_address(getattr(platform, "ifconfig", None))  # a new DHCP lease: new socket
        # coroutine setters/executors: created inside the DM handler, so the task first runs
        # after this driver pass has sent the 2.04
        c.registry.spawn = asyncio.create_task
        self.wifi = wifi
        self._serving = False

    # ---- application API -------------------------------------------------------------------
    def changed(self, oid, iid=None, rid=None):
        """This value changed: observers hear of it at the driver's next pass, not its deadline."""
        self.client.changed(oid, iid, rid)
        self.runner.wake()

    async def registered(self):
        """Returns once at least one server has us registered (at once if one has now)."""
        regs = self.client.regs
        while not any(r.registered for r in regs.values()):
            await asyncio.sleep_ms(_POLL_MS)

    async def serve(self):
        """Register, serve requests, report, re-register: runs until stop() (or a Reboot)."""
        c = self.client
        self._serving = True
        self.log.info("%s starting (asyncio)" % c.name)
        link = None
        if self.wifi is not None:
            link = asyncio.create_task(self.wifi.keep(self.runner, self.log))
        try:
            await self.runner.serve(lambda: c.stopped)
        finally:
            if link is not None:
                link.cancel()
            self.runner.close()
            self._serving = False
            self.log.info("stopped")

    async def stop(self):
        """Deregister from every server (answered, or ~5 s), close the sockets; serve() returns."""
        c = self.client
        if not self._serving:
            self.runner.close()
            return
        c.shutdown(time.ticks_ms())
        self.runner.wake()
        while self._serving:
            await asyncio.sleep_ms(_POLL_MS)
