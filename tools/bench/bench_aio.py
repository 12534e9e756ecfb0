"""asyncio driver figures (issue 13): how long the client can hold up the application's tasks, and
what the driver costs in heap next to the blocking runner.

    .venv/bin/python tools/bench/bench_aio.py [--runs N]

Stalls: host_tests/apps/aio_app.py (the client as one task beside a 10 ms ticker and a TCP echo task)
on the unix port against tools/lwm2m_server.py; per phase, the ticker's worst lateness beyond its
period and the driver's longest single step, both from the app's 250 ms status lines, worst of N
runs. Heap: on the 32-bit interpreter (../shared/tools/micropython32, or $MICROPYTHON32) with lib/
as .mpy, gc.mem_alloc() after gc.collect() once registered with one server, measured inside each
driver's loop: lwm2m.client.run() (blocking), lwm2m.aio.AsyncClient.serve() (a program of its
own) and lwm2m.aio.run() (main.py's asyncio path), with the qstr pool pre-grown so a pool
allocation (lumpy: each new pool doubles) does not land in one run only. Prints a
`name  value  how` table; figures only, never pass/fail.
"""
import asyncio
import os
import shutil
import sys
import tempfile

import benchpath  # first: tools/ and tools/bench/ on sys.path
from benchpath import TOP  # noqa: E402

benchpath.add("lib", "tools/cpy")

import lwm2m_server as L  # noqa: E402
from boardir import make_board_dir  # noqa: E402
from hostenv import Echo, micropython  # noqa: E402
from bench_lwm2m import print_table  # noqa: E402
from proc import Proc  # noqa: E402
from testpkg import blob_package  # noqa: E402

EP = "aio-bench"
K = 1024

HEAP_SCRIPT = r'''
import gc
import sys
sys.path.insert(0, "lib")
mode = sys.argv[1]
names = int(sys.argv[2])


class _Q:
    pass


q = _Q()
for i in range(names):  # attribute names are interned: grows the qstr pool up front
    setattr(q, "_q%d" % i, 0)
del q
gc.collect()
base0 = gc.mem_alloc()
import asyncio  # both: the application imports it for its own tasks anyway
gc.collect()
base = gc.mem_alloc()
from lwm2m.config import load
cfg = load("config.json")


def report(where):
    gc.collect()
    print("heap %s %d %d" % (where, base - base0, gc.mem_alloc() - base))


if mode == "aiorun":  # main.py's asyncio path: app.py's main(client) beside the client
    from lwm2m.aio import run

    async def app_main(c):
        await c.registered()
        report("aiorun")
        await c.stop()

    run(cfg, app_main)
elif mode == "aio":
    from lwm2m.aio import AsyncClient

    async def main():
        c = AsyncClient(cfg)
        t = asyncio.create_task(c.serve())
        await c.registered()
        report("aio")
        await c.stop()

    asyncio.run(main())
else:
    from lwm2m.client import run

    def setup(client, runner):
        def hook(now):
            for r in client.regs.values():
                if r.registered and not client.stopped and client._halt is None:
                    report("blocking")
                    client.shutdown(now)
            return 50
        runner.add_hook(hook)

    run(cfg, setup=setup)
'''


def mp32():
    p = os.environ.get("MICROPYTHON32") or os.path.join(
        TOP, "..", "shared", "tools", "micropython32", "micropython32")
    if os.path.exists(p):
        return p
    return shutil.which("micropython32")


def _status(lines):
    out = []
    for x in lines:
        if x.startswith("app: status "):
            out.append([int(v) for v in x.split()[2:]])
    return out


def _package(size):
    """A valid update package: header + application bundle (so the last block's step does the
    whole verification a real update does: the image read back and hashed)."""
    return blob_package(size, b"bench", "bench", "1")[1]


async def stall_run():
    """{phase: (worst ticker lateness ms, longest step ms, ticks, echoes)} for one run."""
    srv = await L.LwM2MServer().start()
    port = srv.port
    echo = await Echo().start()
    eport = echo.port
    d = tempfile.mkdtemp(prefix="lwm2m-bench-aio-")
    make_board_dir(d, {"endpoint": EP, "local_port": 0, "data_dir": "data", "log": "warn",
                       "servers": [{"uri": "coap://127.0.0.1:%d" % port, "ssid": 1,
                                    "lifetime": 8}]})
    shutil.copy(os.path.join(TOP, "host_tests", "apps", "aio_app.py"), os.path.join(d, "aio_app.py"))
    p = Proc([micropython(), "-X", "heapsize=1M", "aio_app.py", str(eport)], cwd=d,
             error=RuntimeError)
    out = {}
    servers = [srv]

    async def phase(name, coro):
        a = p.mark()
        await asyncio.sleep(0.3)  # a whole status window inside the phase on each side
        await coro
        await asyncio.sleep(0.3)
        s = _status(p.between(a))
        steps = sorted(x[3] for x in s)
        out[name] = (max(x[2] for x in s), steps[-1], s[-1][0] - s[0][0], s[-1][1] - s[0][1],
                     steps[len(steps) // 2])

    try:
        await srv.wait_registered(EP, 20)
        await p.line("app: registered", 30)

        await phase("idle, registered (2 s)", asyncio.sleep(2))

        async def reads():
            for _ in range(200):
                r = await srv.read(EP, "/3/0")
                assert r.code == "2.05", r

        await phase("200 reads of /3/0 (TLV)", reads())

        async def push():
            r = await srv.push_firmware(EP, _package(256 * K), block_size=1024, timeout=30)
            assert r.code == "2.04", r
            for _ in range(100):
                r = await srv.read(EP, "/5/0/3")
                if bytes(r.payload) == b"2":  # Downloaded: the package checked out
                    return
                await asyncio.sleep(0.05)
            raise RuntimeError("firmware state %r, not Downloaded" % (r,))

        await phase("256 KB firmware push (Block1, 1 KB)", push())

        async def outage():
            nonlocal srv
            await srv.stop()
            servers.remove(srv)
            await asyncio.sleep(9)
            srv = await L.LwM2MServer(port=port).start()
            servers.append(srv)
            await srv.wait_registered(EP, 60)

        await phase("server outage 9 s, back, registered again", outage())
    finally:
        p.kill()
        await echo.stop()
        for s in servers:
            await s.stop()
        shutil.rmtree(d, ignore_errors=True)
    return out


async def heap_one(exe, mode, pre):
    """(asyncio import bytes, heap beyond it once registered) of one HEAP_SCRIPT run."""
    srv = await L.LwM2MServer().start()
    d = tempfile.mkdtemp(prefix="lwm2m-bench-aioheap-")
    try:
        make_board_dir(d, {"endpoint": EP + "-" + mode, "local_port": 0, "data_dir": "data",
                           "log": "warn",
                           "servers": [{"uri": "coap://127.0.0.1:%d" % srv.port, "ssid": 1,
                                        "lifetime": 300}]}, mpy=True)
        with open(os.path.join(d, "heap.py"), "w") as f:
            f.write(HEAP_SCRIPT)
        p = Proc([exe, "-X", "heapsize=320K", "heap.py", mode, str(pre)], cwd=d,
                 error=RuntimeError)
        try:
            line = await p.line("heap ", 60)
        finally:
            p.kill()
        _, _, imp, used = line.split()
        return int(imp), int(used)
    finally:
        await srv.stop()
        shutil.rmtree(d, ignore_errors=True)


def heap_rows():
    exe = mp32()
    names = ("heap once registered: blocking run()",
             "heap once registered: asyncio, own program (AsyncClient)",
             "heap once registered: asyncio, main.py + app.py main() (aio.run)",
             "asyncio driver over the blocking runner (own program / main.py)",
             "the same, qstr pool not pre-grown", "import asyncio (the app's, not counted)")
    if not exe:
        return [(n, "not measured", "no micropython32 (set MICROPYTHON32)") for n in names]
    how = ("micropython32 (v1.28, 32-bit), lib/ as .mpy, gc.mem_alloc() after gc.collect() "
           "inside the driver's loop once registered (1 server), beyond `import asyncio`; qstr "
           "pool pre-grown (1500 names) so neither run allocates a new pool")
    got = {}
    for pre in (1500, 0):
        for mode in ("blocking", "aio", "aiorun"):
            got[mode, pre] = asyncio.run(heap_one(exe, mode, pre))
    blk, aio, run = (got[m, 1500][1] for m in ("blocking", "aio", "aiorun"))
    d0 = [got[m, 0][1] - got["blocking", 0][1] for m in ("aio", "aiorun")]
    return [(names[0], "%d B" % blk, how), (names[1], "%d B" % aio, "the same"),
            (names[2], "%d B" % run, "the same"),
            (names[3], "%+d / %+d B" % (aio - blk, run - blk), "target: at most +4096 B; the "
             "driver's 2 modules' bytecode included (0 when lib/ is frozen)"),
            (names[4], "%+d / %+d B" % tuple(d0), "qstr pools double: whichever code adds the "
             "name that fills the current one pays for the next (the app's own names too)"),
            (names[5], "%d B" % got["aio", 1500][0], "frozen in firmware; module state only")]


def stall_rows(runs):
    res = [asyncio.run(stall_run()) for _ in range(runs)]
    rows = []
    for ph in res[0]:
        gap = [r[ph][0] for r in res]
        step = [r[ph][1] for r in res]
        ticks = min(r[ph][2] for r in res)
        echoes = min(r[ph][3] for r in res)
        med = max(r[ph][4] for r in res)
        rows.append(("worst ticker lateness: " + ph, "%d ms" % max(gap),
                     "runs %s; longest driver step %s ms (median 250 ms window <= %d ms); "
                     ">= %d ticks, %d echoes in the phase" % (
                         "/".join(str(g) for g in gap), "/".join(str(s) for s in step), med,
                         ticks, echoes)))
    return rows


def main(argv):
    runs = 3
    if "--runs" in argv:
        runs = int(argv[argv.index("--runs") + 1])
    rows = stall_rows(runs) + heap_rows()
    print_table(rows, "figure")
    print("(unix port %s, 10 ms ticker + TCP echo task beside the client; 250 ms windows;"
          % micropython())
    print("wall-clock ms: on a shared host, OS preemption shows up in both figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
