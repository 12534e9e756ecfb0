"""Request flood: 10,000 server requests at full rate against the real client at a small heap.

    .venv/bin/python tools/bench/flood.py [--heap 268] [--requests 10000] [--window 8]
The client is main.py on the unix port (`-X heapsize=<heap>K`, lib/ as precompiled .mpy, as on a
board), run through a probe (PROBE below) that counts incoming CoAP requests at the endpoint and,
outside request handling (in the client's tick), prints `FLOOD heap <requests> <gc.mem_alloc()
after gc.collect()>` each time the count crosses a multiple of --every, and once more when the
client has been idle for IDLE_MS after new requests (the end-of-flood figure). One
tools/lwm2m_server.LwM2MServer drives it with a bounded window of requests in flight: GET /3/0 as
TLV, GET /1/0/1 as text, PUT /1/0/3 text, GETs of paths that do not exist (4.04), and every 500th
slot an Observe of /3/0/13 followed by its active cancel. Checks: every request answered with the
expected code, the client still registered and answering afterwards, Deregister and exit code 0
on SIGINT, no MemoryError/Traceback in its output, and the heap at the first checkpoint (warm)
equal to the end-of-flood figure within 1 KB. Default heap: the e2e scenario's smallest .mpy heap
(tools/bench/heapfit.py --mpy: 252K) plus 16K.
"""
import asyncio
import collections
import os
import sys
import time

import benchpath  # noqa: F401  first: tools/ and tools/bench/ on sys.path

import bench_lwm2m as B  # noqa: E402
import lwm2m_server as L  # noqa: E402
from boardir import AFTER_PASS  # noqa: E402

EP = "flood-1"
HEAP_KIB = 268
REQUESTS = 10000
WINDOW = 8
EVERY = 1000
OBSERVE_EVERY = 500
FLAT_BYTES = 1024
IDLE_MS = 400
TIMEOUT = 10.0
MAX_ERRORS = 20

PROBE = r'''"""Flood probe written by tools/bench/flood.py: main.py's client plus a request counter."""
import gc
import sys
import time

sys.path.insert(0, "lib")
EVERY = int(sys.argv[1])
IDLE = int(sys.argv[2])

import main
import lwm2m.client as C
''' + AFTER_PASS + r'''

def out(*a):
    print("FLOOD", *a)
    try:
        sys.stdout.flush()
    except AttributeError:
        pass


class Flood(C.Client):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.f_n = 0
        self.f_due = False
        self.f_last = None  # ticks of the last request not yet covered by an idle report
        ep = self.ep
        orig = ep.receive

        def receive(data, peer, now):
            # requests only (code 0.01..0.31): ACKs/RSTs of our notifications are not counted
            if len(data) > 1 and 0 < data[1] < 32:
                self.f_n += 1
                self.f_last = now
                if self.f_n % EVERY == 0:
                    self.f_due = True
            return orig(data, peer, now)

        ep.receive = receive

    def report(self, what):
        after_pass(lambda n=self.f_n: report(what, n))  # every checkpoint the same way

    def tick(self, now):
        nxt = super().tick(now)
        if self.f_due:
            self.f_due = False
            self.report("heap")
        if self.f_last is not None:
            left = IDLE - time.ticks_diff(now, self.f_last)
            if left <= 0:
                self.f_last = None
                self.report("idle")
            elif nxt is None or left < nxt:
                nxt = left
        return nxt


C.Client = Flood  # lwm2m.client.run() looks the class up at call time


def report(what, n):
    gc.collect()
    out(what, n, gc.mem_alloc(), gc.mem_free())


gc.collect()
out("start", 0, gc.mem_alloc(), gc.mem_free())
sys.exit(main.main())
'''


class _Board(B.Board):
    def __init__(self, cfg):
        super().__init__(cfg, mpy=True)
        with open(os.path.join(self.dir, "flood_app.py"), "w") as f:
            f.write(PROBE)


def _plan(n):
    """The request mix: a list of kinds, one per slot; 'observe' slots send two requests."""
    kinds = ("tlv", "text", "put", "tlv", "missing", "text", "put", "missing")
    plan, sent, i = [], 0, 0
    while sent < n:
        if (i + 1) % OBSERVE_EVERY == 0 and n - sent >= 2:
            plan.append("observe")
            sent += 2
        else:
            plan.append(kinds[i % len(kinds)])
            sent += 1
        i += 1
    return plan


MISSING = ("/3/1", "/1234/0", "/3/0/4711", "/1/9/1")


async def _one(srv, kind, i, st):
    """One slot; records codes and counts what was not as expected."""
    def got(r, want, path):
        st["answered"] += 1
        st["codes"][r.code] += 1
        if r.code != want:
            st["bad"].append("%s %s -> %s" % (kind, path, r.code))
        return r

    try:
        if kind == "tlv":
            st["sent"] += 1
            r = got(await srv.read(EP, "/3/0", accept=L.CF_TLV, timeout=TIMEOUT), "2.05", "/3/0")
            if r.code == "2.05" and r.content_format != L.CF_TLV:
                st["bad"].append("/3/0 content format %s" % r.content_format)
        elif kind == "text":
            st["sent"] += 1
            r = got(await srv.read(EP, "/1/0/1", accept=L.CF_TEXT, timeout=TIMEOUT), "2.05",
                    "/1/0/1")
            if r.code == "2.05" and r.payload != b"300":
                st["bad"].append("/1/0/1 = %r" % r.payload)
        elif kind == "put":
            st["sent"] += 1
            got(await srv.write(EP, "/1/0/3", str(i % 7 + 1), timeout=TIMEOUT), "2.04", "/1/0/3")
        elif kind == "missing":
            p = MISSING[i % len(MISSING)]
            st["sent"] += 1
            got(await srv.read(EP, p, timeout=TIMEOUT), "4.04", p)
        else:
            st["sent"] += 1
            o = await srv.observe(EP, "/3/0/13", timeout=TIMEOUT)
            got(o.first, "2.05", "observe /3/0/13")
            st["sent"] += 1
            if not o.active:
                st["bad"].append("observe /3/0/13 not active")
                o._req = None
                st["answered"] += 1  # nothing to cancel: count it as the cancel's answer
                return
            got(await o.cancel(timeout=TIMEOUT), "2.05", "cancel /3/0/13")
            st["observes"] += 1
    except Exception as e:  # a timeout is an unanswered request
        st["errors"].append("%s #%d: %s: %s" % (kind, i, type(e).__name__, e))


async def _drive(srv, n, window):
    st = {"sent": 0, "answered": 0, "codes": collections.Counter(), "bad": [], "errors": [],
          "observes": 0}
    plan = _plan(n)
    it = iter(enumerate(plan))

    async def worker():
        for i, kind in it:  # a shared iterator: each slot is taken by exactly one worker
            if len(st["errors"]) > MAX_ERRORS:
                break  # the client is gone: report, do not wait out every timeout
            await _one(srv, kind, i, st)

    t0 = time.monotonic()
    await asyncio.gather(*[worker() for _ in range(window)])
    st["s"] = time.monotonic() - t0
    return st


def _heap_lines(p):
    """[(kind, requests, mem_alloc, mem_free)] from the probe's FLOOD lines."""
    res = []
    for line in p.between(0):
        f = line.split()
        if len(f) == 5 and f[0] == "FLOOD":
            res.append((f[1], int(f[2]), int(f[3]), int(f[4])))
    return res


async def _flood(heap_kib, n, window, every):
    srv = await L.LwM2MServer().start()
    board = _Board(B.config([srv.port], log="warn", ep=EP))
    p = board.start(["flood_app.py", str(every), str(IDLE_MS)], heap="%dK" % heap_kib)
    res = {"heap_kib": heap_kib, "requests": n, "window": window, "problems": []}
    probs = res["problems"]
    try:
        await B._registered((srv,), p, ep=EP, timeout=20)
        pm = await srv.read(EP, "/1/0/3", accept=L.CF_TEXT, timeout=TIMEOUT)
        st = await _drive(srv, n, window)
        res.update(st)
        try:
            # back to the value the account started with: the flood leaves no trace in the store
            await srv.write(EP, "/1/0/3", pm.payload or b"1", timeout=TIMEOUT)
            await asyncio.sleep(IDLE_MS / 1000 * 2.5)  # the probe's end-of-flood (idle) report
            res["alive"] = p.p.poll() is None
            res["registered"] = EP in srv.clients
            r = await srv.read(EP, "/3/0", accept=L.CF_TLV, timeout=TIMEOUT)
            res["answering"] = r.code == "2.05" and \
                L.tlv_str(L.decode_tlv(r.payload)[0]) == "MicroPython"
        except Exception as e:  # a dead or deaf client is a finding, not a crash of the tool
            probs.append("after the flood: %s: %s" % (type(e).__name__, e))
        res["exit"] = await p.interrupted(TIMEOUT)
        try:
            await srv.wait_event("deregister", EP, 3)
            res["deregistered"] = True
        except asyncio.TimeoutError:
            res["deregistered"] = False
    finally:
        p.kill()
        out = p.output()
        board.close()
        await srv.stop()
    res["output"] = out
    res["heaps"] = _heap_lines(p)
    # figures and verdict
    if res.get("sent") != n:
        probs.append("sent %s of %d" % (res.get("sent"), n))
    if res.get("answered") != res.get("sent"):
        probs.append("answered %s of %s" % (res.get("answered"), res.get("sent")))
    if res.get("bad"):
        probs.append("%d unexpected answers, first: %s" % (len(res["bad"]), res["bad"][0]))
    if res.get("errors"):
        probs.append("%d errors, first: %s" % (len(res["errors"]), res["errors"][0]))
    for k in ("alive", "registered", "answering", "deregistered"):
        if not res.get(k):
            probs.append("client not %s at the end" % k)
    if res.get("exit") != 0:
        probs.append("exit code %s" % res.get("exit"))
    for bad in ("MemoryError", "Traceback", "fatal"):
        if bad in out:
            probs.append("%s in the client output" % bad)
    marks = [h for h in res["heaps"] if h[0] == "heap"]
    ends = [h for h in res["heaps"] if h[0] == "idle" and h[1] >= n]
    res["first"] = marks[0] if marks else None
    res["last"] = ends[-1] if ends else None
    if res["first"] is None or res["last"] is None:
        probs.append("missing heap checkpoints: %r" % (res["heaps"],))
        res["delta"] = None
    else:
        res["delta"] = res["last"][2] - res["first"][2]
        if abs(res["delta"]) > FLAT_BYTES:
            probs.append("heap not flat: %+d B" % res["delta"])
    res["ok"] = not probs
    return res


def flood(heap_kib=HEAP_KIB, requests=REQUESTS, window=WINDOW, every=EVERY, limit=300):
    """Run one flood; a dict of figures with 'ok' and 'problems' (empty when every check held)."""
    return asyncio.run(asyncio.wait_for(_flood(heap_kib, requests, window, every), limit))


def table(r):
    rows = [
        ("client heap (-X heapsize)", "%dK" % r["heap_kib"]),
        ("requests sent / answered", "%s / %s" % (r.get("sent"), r.get("answered"))),
        ("window (in flight)", "%d" % r["window"]),
        ("observe+cancel pairs", "%s" % r.get("observes")),
        ("codes", " ".join("%s:%d" % kv for kv in sorted(r.get("codes", {}).items()))),
        ("unexpected / errors", "%d / %d" % (len(r.get("bad", ())), len(r.get("errors", ())))),
        ("duration", "%.1f s" % r.get("s", 0)),
        ("rate", "%.0f req/s" % (r.get("sent", 0) / max(r.get("s", 0), 1e-9))),
    ]
    for h in r["heaps"]:
        rows.append(("heap %s @%d requests" % (h[0], h[1]), "%d B (free %d)" % (h[2], h[3])))
    if r.get("delta") is not None:
        rows.append(("heap first checkpoint -> end", "%d -> %d B (%+d B, limit %d)" % (
            r["first"][2], r["last"][2], r["delta"], FLAT_BYTES)))
    rows.append(("alive / registered / answering", "%s / %s / %s" % (
        r.get("alive"), r.get("registered"), r.get("answering"))))
    rows.append(("deregistered, exit code", "%s, %s" % (r.get("deregistered"), r.get("exit"))))
    rows.append(("verdict", "PASS" if r["ok"] else "FAIL: " + "; ".join(r["problems"])))
    w = max(len(k) for k, _ in rows)
    print("flood on the unix port")
    print("-" * (w + 40))
    for k, v in rows:
        print("%-*s  %s" % (w, k, v))


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heap", type=int, default=HEAP_KIB, help="client heap in KiB")
    ap.add_argument("--requests", type=int, default=REQUESTS)
    ap.add_argument("--window", type=int, default=WINDOW, help="requests in flight")
    ap.add_argument("--every", type=int, default=EVERY, help="heap checkpoint period (requests)")
    a = ap.parse_args(argv)
    r = flood(a.heap, a.requests, a.window, a.every)
    table(r)
    if not r["ok"]:
        tail = r["output"].splitlines()[-15:]
        if tail:
            print("client output (tail):\n  " + "\n  ".join(tail))
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
