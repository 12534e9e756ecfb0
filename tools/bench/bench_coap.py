"""CoAP stack figures on the MicroPython unix port: codec rate, loopback GET round trip, idle heap.

    .venv/bin/python tools/bench/bench_coap.py [--gets 1000]
Prints a table; these are measurements for the README, not pass/fail tests.
"""
import asyncio
import os
import statistics
import subprocess
import sys
import time

from benchpath import TOP  # first: tools/ and tools/bench/ on sys.path
from hostenv import free_udp_port, micropython  # noqa: E402
from proc import Proc  # noqa: E402

APP = os.path.join(TOP, "host_tests", "apps", "coap_demo_app.py")

_CODEC = r"""
import sys, time
sys.path.insert(0, %(lib)r)
from coap import msg as M
req = M.Message(M.CON, M.GET, 0x1234, b"\x01\x02\x03\x04")
req.set_path("/3/0/9")
req.add(M.ACCEPT, 11542)
ACK = 2  # message type (coap.msg names only CON)
resp = M.Message(ACK, M.CONTENT, 0x1234, b"\x01\x02\x03\x04", bytes(range(64)))
resp.add(M.CONTENT_FORMAT, 11542)
resp.add(23, M.block_value(3, True, 6))  # Block2
datas = (req.encode(), resp.encode())
buf = bytearray(1280)
n = %(n)d
t0 = time.ticks_ms()
for i in range(n):
    m = M.decode(datas[i & 1])
    m.encode_into(buf, 0)
dt = time.ticks_diff(time.ticks_ms(), t0)
print("CODEC", n, dt)
"""

_HEAP = r"""
import sys, gc
sys.path.insert(0, %(lib)r)
from coap import msg
from coap.endpoint import Endpoint
from coap.runner import Runner
gc.collect()
base = gc.mem_alloc()
ep = Endpoint(lambda req, peer, now: None)
gc.collect()
a = gc.mem_alloc() - base
r = Runner(ep, 0)
gc.collect()
b = gc.mem_alloc() - base
ep.tick(0)
r.run_once(0)
gc.collect()
c = gc.mem_alloc() - base
print("HEAP", a, b, c)
"""




def _mp(code, mp):
    out = subprocess.run([mp, "-X", "heapsize=2M", "-c", code], capture_output=True, text=True,
                         timeout=120)
    if out.returncode:
        raise SystemExit("bench: micropython failed:\n" + out.stdout + out.stderr)
    return out.stdout.split()




async def _gets(port, count):
    import aiocoap

    ctx = await aiocoap.Context.create_client_context()
    uri = "coap://127.0.0.1:%d/hello" % port
    rtts = []
    try:
        await asyncio.wait_for(ctx.request(aiocoap.Message(code=aiocoap.GET, uri=uri)).response, 10)
        for _ in range(count):
            t0 = time.perf_counter()
            r = await asyncio.wait_for(
                ctx.request(aiocoap.Message(code=aiocoap.GET, uri=uri)).response, 10)
            rtts.append((time.perf_counter() - t0) * 1000)
            if not r.code.is_successful():
                raise SystemExit("bench: GET answered %s" % r.code)
    finally:
        await ctx.shutdown()
    return rtts


def round_trips(mp, count):
    port = free_udp_port()
    p = Proc([mp, "-X", "heapsize=256K", APP, "server", str(port), "100000"], error=SystemExit)
    try:
        p.wait_line("READY", 30)  # SystemExit: the app did not start
        return asyncio.run(_gets(port, count))
    finally:
        p.kill()


def main(argv):
    count = int(argv[argv.index("--gets") + 1]) if "--gets" in argv else 1000
    mp = micropython()
    if not mp:
        raise SystemExit("bench: micropython (unix port) not found")
    lib = os.path.join(TOP, "lib")
    _, n, dt = _mp(_CODEC % {"lib": lib, "n": 20000}, mp)
    rate = int(n) * 1000 // max(1, int(dt))
    _, ep_b, run_b, after_b = _mp(_HEAP % {"lib": lib}, mp)
    rtts = sorted(round_trips(mp, count))
    med = statistics.median(rtts)
    p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
    rows = [
        ("codec: messages decoded+encoded per second (unix port)", "%d msg/s" % rate),
        ("GET round trip, aiocoap -> unix port app, median (n=%d)" % len(rtts), "%.2f ms" % med),
        ("GET round trip, aiocoap -> unix port app, p99", "%.2f ms" % p99),
        ("heap: idle Endpoint", "%s B" % ep_b),
        ("heap: idle Endpoint + Runner (socket, 1280 B rx buffer)", "%s B" % run_b),
        ("heap: the same after one tick and poll", "%s B" % after_b),
    ]
    w = max(len(r[0]) for r in rows)
    print("%-*s  %s" % (w, "CoAP benchmark", "value"))
    print("-" * (w + 14))
    for k, v in rows:
        print("%-*s  %s" % (w, k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
