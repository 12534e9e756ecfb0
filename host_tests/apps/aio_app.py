"""An asyncio application with the LwM2M client as one of its tasks (test_peer_asyncio, bench_aio).

    micropython aio_app.py ECHO_PORT      (in a board-like dir: lib/, config.json)

Tasks: the client (lwm2m.aio), a 10 ms ticker, a TCP echo client to 127.0.0.1:ECHO_PORT, and a
status line every 250 ms. Object 32769 "App" (instance 0) shows the app to the server:
0 ticks, 1 echoes, 2 jobs done (R); 3 Work (E, coroutine: sleeps 300 ms, then counts a job and
notifies); 4 Stop (E, coroutine: `await client.stop()`, which deregisters); 5 Label (RW, coroutine
setter: keeps the value after a 100 ms await).
Stdout, flushed lines: "app: registered", "app: status T E GAP STALL JOBS" every 250 ms (ticks and
echoes so far; the ticker's worst lateness beyond its 10 ms period and the driver's longest single
step, both in ms over the 250 ms since the previous status line; jobs), "app: done T E".
"""
import sys

sys.path.insert(0, "lib")

import asyncio  # noqa: E402
import time  # noqa: E402

from lwm2m.aio import AsyncClient  # noqa: E402
from lwm2m.config import load  # noqa: E402
from lwm2m.model import object_def, resource  # noqa: E402

APP = object_def(32769, "App", (
    resource(0, "Ticks", "R", "i"),
    resource(1, "Echoes", "R", "i"),
    resource(2, "Jobs", "R", "i"),
    resource(3, "Work", "E", "e"),
    resource(4, "Stop", "E", "e"),
    resource(5, "Label", "RW", "s"),
), multiple=False)

st = {"ticks": 0, "echoes": 0, "gap": 0, "jobs": 0, "label": "none"}


def out(line):
    print(line)
    try:
        sys.stdout.flush()
    except AttributeError:
        pass


async def ticker():
    period = 10
    last = time.ticks_ms()
    while True:
        await asyncio.sleep_ms(period)
        now = time.ticks_ms()
        late = time.ticks_diff(now, last) - period
        if late > st["gap"]:
            st["gap"] = late
        last = now
        st["ticks"] += 1


async def echo(port):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    while True:
        msg = b"ping %d\n" % n
        w.write(msg)
        await w.drain()
        got = await r.readline()
        if got != msg:
            raise RuntimeError("echo: sent %r, got %r" % (msg, got))
        n += 1
        st["echoes"] = n
        await asyncio.sleep_ms(20)


async def status(client):
    while True:
        r = client.runner
        out("app: status %d %d %d %d %d" % (st["ticks"], st["echoes"], st["gap"], r.stall_ms,
                                            st["jobs"]))
        st["gap"] = r.stall_ms = 0  # both are per status window
        await asyncio.sleep_ms(250)


async def main():
    client = AsyncClient(load("config.json"))
    o = client.registry.add(APP)
    o.add(0, {})
    o.bind(0, 0, get=lambda: st["ticks"])
    o.bind(0, 1, get=lambda: st["echoes"])
    o.bind(0, 2, get=lambda: st["jobs"])

    async def work(args):
        await asyncio.sleep_ms(300)
        st["jobs"] += 1
        client.registry.changed(32769, 0, 2)  # wakes the driver: notified at once

    async def stop(args):
        await client.stop()

    async def label(v):
        await asyncio.sleep_ms(100)
        st["label"] = v

    o.bind(0, 3, exe=work)
    o.bind(0, 4, exe=stop)
    o.bind(0, 5, get=lambda: st["label"], set=label)

    srv = asyncio.create_task(client.serve())
    tasks = [asyncio.create_task(ticker()), asyncio.create_task(echo(int(sys.argv[1]))),
             asyncio.create_task(status(client))]
    await client.registered()
    out("app: registered")
    await srv
    for t in tasks:
        t.cancel()
    out("app: done %d %d" % (st["ticks"], st["echoes"]))


asyncio.run(main())
