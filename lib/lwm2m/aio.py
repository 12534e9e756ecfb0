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
from lwm2m.servers import lazy_secure

_POLL_MS = const(50)  # registered() / stop() look again this often (no asyncio.Event to import)


class AsyncClient:
    """cfg: a checked config (lwm2m.config.load). platform: board.platform() unless given.
    feed: watchdog feed, called every driver pass (at least once a second). On a board, run
    board.aiowifi.Link(...).keep(client.runner, client.log) as a task beside serve(), so a Wi-Fi
    outage is ridden out in the background and the servers hear from the new address after it."""

    def __init__(self, cfg, platform=None, log=None, feed=None):
        if platform is None:
            import board

            platform = board.platform(root=cfg["data_dir"])
        self.log = log if log is not None else Log(cfg.get("log", "info"))
        c = self.client = Client(cfg, platform, log=self.log)
        self.registry = c.registry
        r = self.runner = AioRunner(c.ep, cfg.get("local_port", 0), log=self.log.warn)
        r.feed = feed
        r.add_hook(c.tick)
        c.transport_factory = lazy_secure(r, c, self.log)  # DTLS code only for coaps://
        r.on_rebind.append(c.address_changed)
        r.watch_address(getattr(platform, "ifconfig", None))  # a new DHCP lease: new socket
        # coroutine setters/executors: created inside the DM handler, so the task first runs
        # after this driver pass has sent the 2.04
        c.registry.spawn = asyncio.create_task
        notify = c.registry.listener

        def changed(oid, iid=None, rid=None):
            # Registry.changed / Obj.set / Client.changed from the application's own task:
            # observers hear of it at the driver's next pass, not at its next deadline
            notify(oid, iid, rid)
            r.wake()

        c.registry.listener = changed

    async def registered(self):
        """Returns once at least one server has us registered (at once if one has now)."""
        while True:
            for r in self.client.regs.values():
                if r.registered:
                    return
            await asyncio.sleep_ms(_POLL_MS)

    def serve(self):
        """The client's task: register, serve requests, report, re-register, until stop() (or a
        Reboot). `asyncio.create_task(client.serve())`."""
        c = self.client
        return self.runner.serve(lambda: c.stopped)

    async def stop(self):
        """Deregister from every server (answered, or ~5 s), close the sockets; serve() returns."""
        r = self.runner
        if r._task is not None:  # serving
            self.client.shutdown(time.ticks_ms())
            r.wake()
            while r._task is not None:
                await asyncio.sleep_ms(_POLL_MS)
        r.close()
        self.log.info("stopped")

def run(cfg, app_main, platform=None, feed=None, wifi=None):
    """main.py's asyncio path: `await app_main(client)` beside client.serve() under asyncio.run;
    then the client serves on until stopped. Ctrl-C deregisters (in a fresh loop) and returns."""
    c = AsyncClient(cfg, platform, feed=feed)

    async def main():
        t = asyncio.create_task(c.serve())
        if wifi is not None:
            asyncio.create_task(wifi.keep(c.runner, c.log))
        await app_main(c)
        await t

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        from lwm2m import unlock_heap

        unlock_heap()
        c.log.info("interrupted: deregistering")
        asyncio.new_event_loop()  # the interrupted loop's tasks stay behind
        c.client.shutdown(time.ticks_ms())
        asyncio.run(c.runner.serve(lambda: c.client.stopped))
    finally:
        c.runner.close()
