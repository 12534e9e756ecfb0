"""LwM2M figures on the MicroPython unix port: TLV rate, object heap, client start/heap/notify rate.

    .venv/bin/python tools/bench/bench_lwm2m.py [--quick]
Prints a table; these are measurements for the README, not pass/fail tests. The client figures run
the real client in a board-like directory against tools/lwm2m_server.LwM2MServer on loopback; the
heap and notification figures go through a probe script (APP below, written into that directory)
that subclasses lwm2m.client.Client and then runs main.py unchanged.
"""
# Over ~400 lines on purpose: the LwM2M figures share one board directory, probe and table;
# split, each would repeat them.
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchpath import TOP  # first: tools/ and tools/bench/ on sys.path

import lwm2m_server as L  # noqa: E402
from boardir import AFTER_PASS, make_board_dir  # noqa: E402
from hostenv import micropython  # noqa: E402
from proc import Proc  # noqa: E402

EP = "bench-1"

# TLV codec and object heap, run with `micropython -c`
_DM = r"""
import sys, gc, time
sys.path.insert(0, %(lib)r)
from lwm2m import tlv, provision
from lwm2m import content as ct
from lwm2m.model import Registry
from lwm2m.acl import Acl
from lwm2m.dm import DM
from lwm2m.objects import access, connmon, device, firmware, security, server
from board.host import Platform
cfg = {"endpoint": "b", "servers": [{"uri": "coap://127.0.0.1:5683", "ssid": 1, "lifetime": 300}]}


def build():
    reg = Registry()
    security.make(reg)
    server.make(reg)
    access.make(reg)
    device.make(reg, Platform(root=%(tmp)r))
    connmon.make(reg, None)
    firmware.make(reg)
    provision.factory(reg, cfg)
    return reg


gc.collect()
base = gc.mem_alloc()
reg = build()  # the first build also imports what make() imports on first use
gc.collect()
first = gc.mem_alloc() - base
reg = None
gc.collect()
base = gc.mem_alloc()
reg = build()
gc.collect()
held = gc.mem_alloc() - base
dm = DM(reg, Acl(reg))
o = reg.obj(3)
fmt, pl = dm.read((3, 0), 1, None)
vals = dm._inst_values(o, o.inst(0))
n = %(n)d
t0 = time.ticks_ms()
for i in range(n):
    tlv.encode([tlv.resource_node(rid, typ, v) for rid, typ, v in vals])
enc = time.ticks_diff(time.ticks_ms(), t0)
t0 = time.ticks_ms()
for i in range(n):
    ct.decode(o, [3, 0], 11542, pl)
dec = time.ticks_diff(time.ticks_ms(), t0)
m = n // 4
t0 = time.ticks_ms()
for i in range(m):
    dm.read((3, 0), 1, None)
rd = time.ticks_diff(time.ticks_ms(), t0)
print("DM", held, first, len(vals), len(pl), n, enc, dec, m, rd)
"""

# The probe: imports what main.py's client needs, notes the heap, then runs main.main() with a
# Client subclass whose tick() reports (heap mode) or changes a value every pass (notify mode).
APP = r'''"""Benchmark probe written by tools/bench/bench_lwm2m.py: main.py's client plus a tick hook."""
import gc
import sys
import time

sys.path.insert(0, "lib")
MODE = sys.argv[1]
ARG = int(sys.argv[2])

import main
import board
import board.host
import coap.endpoint
import lwm2m.client as C
''' + AFTER_PASS + r'''
import lwm2m.config
from lwm2m.model import object_def, resource

# modules the client loads on first use (found by an earlier run): count them as imports
for _m in (sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[3] != "-" else ()):
    __import__(_m)


def out(*a):
    print("BENCH", *a)
    try:
        sys.stdout.flush()
    except AttributeError:
        pass


class Bench(C.Client):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.b_done = False
        self.b_end = None
        self.b_start = 0
        self.b_sent = 0
        self.b_changes = 0
        if MODE == "notify":
            self.b_obj = self.registry.add(object_def(3303, "Temperature", (
                resource(5700, "Sensor Value", "R", "f"),)))
            self.b_obj.add(0, {5700: 0.0})
            orig = self.ep.notify

            def notify(*a):
                self.b_sent += 1
                return orig(*a)

            self.ep.notify = notify

    def tick(self, now):
        if self.b_end is not None and not self.b_done:
            if time.ticks_diff(now, self.b_end) < 0:
                self.b_changes += 1
                self.b_obj.set(0, 5700, self.b_changes / 4)
                super().tick(now)
                return 0
            self.b_done = True
            out("notify", self.b_sent, self.b_changes, time.ticks_diff(now, self.b_start))
        nxt = super().tick(now)
        if self.b_done or self.b_end is not None or not self.regs:
            return nxt
        for r in self.regs.values():
            if not r.registered:
                return nxt
        # the observations the reporter holds (its own count: Reporter has no accessor for it)
        observed = sum(self.reporter._count.values())
        if MODE == "heap" and observed >= ARG:
            self.b_done = True
            after_pass(lambda r=len(self.regs): report(r, observed))
        elif MODE == "notify" and observed >= 1:
            self.b_start = now
            self.b_end = time.ticks_add(now, ARG)
            self.b_sent = 0
            return 0
        return nxt


C.Client = Bench  # lwm2m.client.run() looks the class up at call time


def report(regs, observed):
    # the heap once the runner's pass is done (after_pass)
    gc.collect()
    late = [m for m in sys.modules if m not in MODS]
    out("heap", BASE, gc.mem_alloc(), regs, observed, ",".join(sorted(late)) or "-", CAP)


CAP = coap.endpoint.Endpoint.max_observations
if CAP < 10:  # the scenario needs ten observations; the default may be lower (reported)
    coap.endpoint.Endpoint.max_observations = 10
MODS = list(sys.modules)
gc.collect()
BASE = gc.mem_alloc()
sys.exit(main.main())
'''


def config(ports, log="info", lifetime=300, ep=EP):
    return {"endpoint": ep, "local_port": 0, "data_dir": "data", "log": log,
            "servers": [{"uri": "coap://127.0.0.1:%d" % p, "ssid": i + 1, "lifetime": lifetime}
                        for i, p in enumerate(ports)]}


class Board:
    """A temporary board-like directory (plus the probe script); removed by close()."""

    def __init__(self, cfg, mpy=False, interp=None):
        self.interp = interp  # another unix port build (the 32-bit one); default: micropython()
        self.dir = tempfile.mkdtemp(prefix="lwm2m-bench-")
        make_board_dir(self.dir, cfg, mpy=mpy)
        with open(os.path.join(self.dir, "bench_app.py"), "w") as f:
            f.write(APP)

    def write_config(self, cfg):
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(cfg, f)

    def fresh(self):
        shutil.rmtree(os.path.join(self.dir, "data"), ignore_errors=True)

    def start(self, args, heap="1M"):
        return Proc([self.interp or micropython(), "-X", "heapsize=" + heap] + list(args),
                    cwd=self.dir, error=TimeoutError)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# Ten observations over two servers, on resources that exist on the host platform.
OBSERVE = {0: ("/3/0/13", "/3/0/10", "/3/0/0", "/3/0/2", "/1/0/1"),
           1: ("/3/0/13", "/3/0/10", "/3/0/16", "/3/0", "/1/1/1")}


async def observe_ten(srvs, ep=EP, timeout=10.0):
    obs = []
    for i, srv in enumerate(srvs):
        for path in OBSERVE[i]:
            o = await srv.observe(ep, path, timeout=timeout)
            if not o.active:
                raise RuntimeError("observe %s on server %d: %s" % (path, i + 1, o.first.code))
            obs.append(o)
    return obs


@contextlib.asynccontextmanager
async def running(board, args, servers, heap="1M"):
    """board.start(args, heap) for the body; its output goes to stderr on a failure; then it is
    killed, the board removed and each of `servers` stopped, whatever happened."""
    p = board.start(args, heap)
    try:
        yield p
    except BaseException:
        sys.stderr.write("client output:\n%s\n" % p.output())
        raise
    finally:
        p.kill()
        board.close()
        for s in servers:
            await s.stop()


async def _registered(srvs, proc, ep=EP, timeout=20.0):
    for s in srvs:
        waiter = asyncio.ensure_future(s.wait_registered(ep, timeout))
        while not waiter.done():
            if proc.p.poll() is not None:
                waiter.cancel()
                raise RuntimeError("client exited (%s) before registering" % proc.p.poll())
            await asyncio.wait([waiter], timeout=0.2)
        waiter.result()


# ---------------------------------------------------------------- the figures
def dm_figures(mp, n=4000):
    tmp = tempfile.mkdtemp(prefix="lwm2m-bench-dm-")
    try:
        out = subprocess.run([mp, "-X", "heapsize=2M", "-c", _DM % {
            "lib": os.path.join(TOP, "lib"), "tmp": tmp, "n": n}],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if out.returncode or not out.stdout.startswith("DM"):
        raise RuntimeError("micropython failed:\n" + out.stdout + out.stderr)
    held, first, nres, plen, n, enc, dec, m, rd = [int(x) for x in out.stdout.split()[1:]]
    return {"held": held, "first": first, "resources": nres, "bytes": plen,
            "enc": n * 1000 // max(1, enc), "dec": n * 1000 // max(1, dec),
            "read": m * 1000 // max(1, rd)}


async def _startup(runs):
    srv = await L.LwM2MServer().start()
    board = Board(config([srv.port]))
    times, seen = [], []
    try:
        for _ in range(runs):
            board.fresh()  # first boot every time: factory accounts from config.json
            p = board.start(["main.py"])
            try:
                t = p.times[await p.index("lwm2m: registered with", 20)]
                e = await srv.wait_event("register", EP, 5)
                times.append((t - p.t0) * 1000)
                seen.append((srv.t0 + e.t - p.t0) * 1000)
                await p.interrupted()
                await srv.wait_event("deregister", EP, 5)
            finally:
                p.kill()
    finally:
        board.close()
        await srv.stop()
    return times, seen


def startup(runs=5):
    """ms from spawning `micropython main.py` to the client's 'registered' log line."""
    return asyncio.run(_startup(runs))


async def _client_heap(preload="-"):
    s1 = await L.LwM2MServer().start()
    s2 = await L.LwM2MServer().start()
    board = Board(config([s1.port, s2.port], log="warn"))
    async with running(board, ["bench_app.py", "heap", "10", preload], (s1, s2)) as p:
        await _registered((s1, s2), p)
        await observe_ten((s1, s2))
        line = await p.line("BENCH heap", 10)
        rc = await p.interrupted()
        await s1.wait_event("deregister", EP, 5)
        await s2.wait_event("deregister", EP, 5)
    f = line.split()
    return {"imports": int(f[2]), "level": int(f[3]), "servers": int(f[4]), "obs": int(f[5]),
            "late": f[6], "cap": int(f[7]), "exit": rc}


def client_heap():
    """Two runs: the first finds the modules loaded after start, the second preloads them so
    'held beyond imports' is data, not code."""
    first = asyncio.run(_client_heap())
    if first["late"] == "-":
        return first
    h = asyncio.run(_client_heap(first["late"]))
    h["preloaded"] = first["late"]
    return h


async def _notify_rate(ms):
    srv = await L.LwM2MServer().start()
    board = Board(config([srv.port], log="warn"))
    async with running(board, ["bench_app.py", "notify", str(ms)], (srv,)) as p:
        await _registered((srv,), p)
        r = await srv.write_attributes(EP, "/3303/0/5700", pmin=0)
        if r.code != "2.04":
            raise RuntimeError("write-attributes pmin=0: %s" % r.code)
        o = await srv.observe(EP, "/3303/0/5700")
        if not o.active:
            raise RuntimeError("observe /3303/0/5700: %s" % o.first.code)
        line = await p.line("BENCH notify", ms / 1000 + 15)
        await asyncio.sleep(0.5)  # let the server drain its socket
        got = o.queue.qsize()
        await p.interrupted()
    sent, changes, took = [int(x) for x in line.split()[2:5]]
    return {"sent": sent, "changes": changes, "ms": took, "received": got}


def notify_rate(ms=3000):
    return asyncio.run(_notify_rate(ms))


def rows(quick=False):
    """[(figure, value, how measured)] for tools/bench/bench.py; a figure that fails says so."""
    mp = micropython()
    out = []

    def guard(fn, names):
        try:
            return fn()
        except Exception as e:  # one broken figure must not hide the others
            for nm in names:
                out.append((nm, "FAILED", "%s: %s" % (type(e).__name__, str(e).splitlines()[0]
                                                          if str(e) else "")))
            return None

    d = guard(lambda: dm_figures(mp, 1000 if quick else 4000),
              ["TLV encode, Device /3/0", "TLV decode, Device /3/0", "heap: objects 0-5"])
    if d:
        what = "%d resources, %d B TLV" % (d["resources"], d["bytes"])
        out += [
            ("TLV encode, full Device instance /3/0", "%d /s" % d["enc"],
             "tlv.encode of its resource nodes (%s), loop in the unix port" % what),
            ("TLV decode, full Device instance /3/0", "%d /s" % d["dec"],
             "content.decode (TLV parse + typed, checked values), same payload"),
            ("DM Read /3/0 as TLV", "%d /s" % d["read"],
             "DM.read: ACL + gather values from the host platform + encode"),
            ("heap: objects 0-5, one server", "%d B" % d["held"],
             "gc.mem_alloc() delta after gc.collect(), beyond the imports (2nd build)"),
            ("  first build, with modules imported on first use", "%d B" % d["first"],
             "same delta for the first build (fwupdate/fwstore code loads lazily)"),
        ]
    s = guard(lambda: startup(3 if quick else 5), ["start to registered"])
    if s:
        times, seen = s
        out += [
            ("start to registered, loopback (median of %d)" % len(times),
             "%.0f ms" % statistics.median(times),
             "spawn `micropython main.py` -> 'registered' log line (min %.0f, max %.0f); "
             "server got Register at %.0f ms" % (min(times), max(times), statistics.median(seen))),
        ]
    h = guard(client_heap, ["heap after registration, 2 servers, 10 observations"])
    if h:
        out += [
            ("heap after registration, 2 servers, 10 obs", "%d B" % h["level"],
             "probe in main.py's client: gc.mem_alloc() after gc.collect()"),
            ("  level after imports", "%d B" % h["imports"],
             "same, before main.main() runs (preloaded: %s)" % h.get("preloaded", "-")),
            ("  held beyond imports", "%d B" % (h["level"] - h["imports"]),
             "difference; modules imported later (counted in it): %s" % h["late"]),
        ]
        if h["cap"] < 10:
            out.append(("  NOTE coap Endpoint.max_observations", "%d" % h["cap"],
                        "below 10: the probe raised it to 10 for this scenario"))
    n = guard(lambda: notify_rate(2000 if quick else 3000), ["notification rate"])
    if n:
        sec = n["ms"] / 1000.0
        out += [
            ("notifications sent, 1 observation pmin=0", "%d /s" % (n["sent"] / sec),
             "value set every loop pass for %.1f s (%d changes); counted at ep.notify" % (
                 sec, n["changes"])),
            ("  received by the aiocoap server", "%d /s" % (n["received"] / sec),
             "NON notifications that reached LwM2MServer (CPython) in that window"),
        ]
    return out


def print_table(rows_, title="LwM2M benchmark"):
    """The benchmarks' `name  value  how` table (tools/bench/bench.py's parse_table reads it)."""
    w = max(len(r[0]) for r in rows_)
    v = max(len(r[1]) for r in rows_)
    print("%-*s  %*s  %s" % (w, title, v, "value", "how"))
    print("-" * (w + v + 40))
    for k, val, how in rows_:
        print("%-*s  %*s  %s" % (w, k, v, val, how))


def main(argv):
    if not micropython():
        raise SystemExit("bench: micropython (unix port) not found")
    print_table(rows("--quick" in argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
