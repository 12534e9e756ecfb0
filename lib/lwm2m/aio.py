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
from lwm2m.client import Client, _lazy_secure
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
        c.transport_factory = _lazy_secure(r, c, self.log)  # DTLS code only for coaps://
        r.on_rebind.append(c.address_changed)
        r.watch_address(getattr(platform, "ifconfig", None))  # a new DHCP lease: new socket
        # coroutine setters/executors: created inside the DM handler, so the task first runs
        # after this driver pass has sent the 2.04
        c.registry.spawn = asyncio.create_task
        notify = c.registry.listener

        def changed(oid, iid=None, rid=None):
            # from the application's own task: observers hear of it now, not at the next deadline
            notify(oid, iid, rid)
            r.wake()

        c.registry.listener = changed
        self.wifi = wifi
        self._serving = False

    # ---- application API -------------------------------------------------------------------
    def changed(self, oid, iid=None, rid=None):
        """This value changed (so does Registry.changed / Obj.set): observers hear of it at the
        driver's next pass, not at its next deadline."""
        self.client.changed(oid, iid, rid)

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
        ki = False
        try:
            await self.runner.serve(lambda: c.stopped)
        except KeyboardInterrupt:
            ki = True  # run() deregisters from a fresh loop, on these sockets
            raise
        finally:
            if link is not None:
                link.cancel()
            self._serving = False
            if not ki:
                self.runner.close()
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


def run(cfg, app_main, platform=None, feed=None, wifi=None):
    """main.py's asyncio path: `await app_main(client)` beside client.serve() under asyncio.run;
    then the client serves on until stopped. Ctrl-C deregisters (in a fresh loop) and returns."""
    c = AsyncClient(cfg, platform, feed=feed, wifi=wifi)

    async def main():
        t = asyncio.create_task(c.serve())
        await app_main(c)
        await t

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        c.log.info("interrupted: deregistering")
        asyncio.new_event_loop()  # the interrupted loop's tasks stay behind
        c.client.shutdown(time.ticks_ms())
        asyncio.run(c.runner.serve(lambda: c.client.stopped))
        c.log.info("stopped")
    finally:
        c.runner.close()
