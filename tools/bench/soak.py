"""Long soak on the fake clock: the host_tests/test_soak.py simulation for N days; prints figures.

Usage: .venv/bin/micropython -X heapsize=2M tools/bench/soak.py [days] [queue|plain] [seed]
   or: .venv/bin/python tools/bench/soak.py [days] [queue|plain] [seed]
Exit status 1 when a check fails (late Update, notification outside pmin/pmax, duplicate or
out-of-order notification, loss not explained by an outage, heap growth > 1 KB on MicroPython).
"""
import sys

_here = __file__.rpartition("/")[0] or "."
_top = _here + "/../.."  # soak.py lives in tools/bench
for p in (_top + "/host_tests", _top + "/lib", _top + "/tools/cpy"):
    sys.path.insert(0, p)
try:
    import micropython  # noqa: F401  (the unix port has it; CPython gets the shim)
except ImportError:
    pass
if sys.implementation.name != "micropython":
    import mpshim  # noqa: F401

import test_soak as T  # noqa: E402
from util import heap_used  # noqa: E402


def _mem():
    """Heap in use on MicroPython; None under CPython, whose figure says nothing of a board."""
    return heap_used() if sys.implementation.name == "micropython" else None


def main(argv):
    days = float(argv[0]) if argv else 30
    mode = argv[1] if len(argv) > 1 else "queue"
    seed = int(argv[2]) if len(argv) > 2 else 7
    queue = mode == "queue"
    sim = T.Soak(seed=seed, queue=queue, outage_max_s=25 if queue else 400)
    ok = True
    try:
        sim.run(3600000)
        start = _mem()
        done = 1
        total = int(days * 24)
        while done < total:
            step = min(24, total - done)
            sim.run(step * 3600000)
            done += step
            print("hour %d: sent %d delivered %d registers %d updates %d heap %s" % (
                done, sim.f["sent"], sim.f["delivered"], sim.f["registers"], sim.f["updates"],
                _mem()))
        end = _mem()
        f = sim.f
        lost = f["sent"] - f["delivered"]
        print("soak: %.1f simulated days, mode %s, seed %d" % (days, mode, seed))
        for k in sorted(f):
            print("  %-14s %d" % (k, f[k]))
        print("  server requests sent: %d (observations accepted %d); Register/Update seen: %d" % (
            f["requests"], f["answered"], f["registers"] + f["updates"]))
        print("  notifications lost: %d (sent into outages the client could not see: %d; "
              "stored then dropped at the bound: %d)" % (lost, f["sent_down"], f["store_dropped"]))
        print("  heap at start/end: %s / %s" % (start, end))
        bad = []
        if f["update_late"]:
            bad.append("late Updates")
        if f["late"] or f["early"]:
            bad.append("notifications outside pmin/pmax")
        if f["dup"] or f["order"]:
            bad.append("duplicate/out-of-order notifications")
        if lost > f["sent_down"] or (queue and lost):
            bad.append("unexplained loss")
        if start is not None and end - start > 1024:
            bad.append("heap growth %d" % (end - start))
        if sim.n.c.ep.errors:
            bad.append("endpoint errors %d" % sim.n.c.ep.errors)
        ok = not bad
        print("soak: " + ("OK" if ok else "FAILED: " + ", ".join(bad)))
    finally:
        sim.close()
    return 0 if ok else 1


sys.exit(main(sys.argv[1:]))
