"""Smallest `-X heapsize` at which the client's end-to-end scenario still passes on the unix port.

    .venv/bin/python tools/heapfit.py [--lo 16] [--hi 512] [--step 4]     (sizes in KiB)
The scenario, against two tools/lwm2m_server.LwM2MServer on loopback: register with both, ten
observations (five each), reads in TLV and text, writes (one triggering an Update, one
notifying an observer), then SIGINT: both Deregisters and exit code 0, with no MemoryError in the
output. The client runs main.py through the probe of tools/bench_lwm2m.py (bench_app.py, mode
"run": no hook), which only raises coap Endpoint.max_observations to 10 when the default is
lower, so ten observations fit. Bisection assumes passing is monotonic in the heap size; the
result is re-run twice and stepped up until three runs in a row pass.
"""
import asyncio
import re
import sys
import time

import bench_lwm2m as B
import lwm2m_server as L

EP = B.EP
STEP_TIMEOUT = 8.0


async def _scenario(board, heap):
    s1 = await L.LwM2MServer().start()
    s2 = await L.LwM2MServer().start()
    board.fresh()
    board.write_config(B.config([s1.port, s2.port], log="warn"))
    p = board.start(["bench_app.py", "run", "0"], heap=heap)
    try:
        await B._registered((s1, s2), p, timeout=STEP_TIMEOUT)
        obs = await B.observe_ten((s1, s2), timeout=STEP_TIMEOUT)
        for s in (s1, s2):
            r = await s.read(EP, "/3/0", timeout=STEP_TIMEOUT)
            if r.code != "2.05" or L.tlv_str(L.decode_tlv(r.payload)[0]) != "MicroPython":
                raise RuntimeError("read /3/0: %s" % r.code)
        r = await s1.read(EP, "/1/0/1", timeout=STEP_TIMEOUT)
        if r.text != "300":
            raise RuntimeError("read /1/0/1: %s %r" % (r.code, r.payload))
        r = await s1.write(EP, "/1/0/1", "120", timeout=STEP_TIMEOUT)
        if r.code != "2.04":
            raise RuntimeError("write /1/0/1: %s" % r.code)
        u = await s1.wait_event("update", EP, STEP_TIMEOUT)
        if u.info.get("lifetime") != 120:
            raise RuntimeError("update after the lifetime write: %r" % (u.info,))
        # /3/0 is observed by server 2 (OBSERVE[1][3]): this write must notify it
        inst = obs[len(B.OBSERVE[0]) + 3]
        r = await s2.write(EP, "/3/0/15", "Europe/Paris", timeout=STEP_TIMEOUT)
        if r.code != "2.04":
            raise RuntimeError("write /3/0/15: %s" % r.code)
        n = await inst.next(STEP_TIMEOUT)
        if n.code != "2.05" or L.tlv_str(L.decode_tlv(n.payload)[15]) != "Europe/Paris":
            raise RuntimeError("notification of /3/0: %s" % n.code)
        rc = await p.interrupt(STEP_TIMEOUT)
        await s1.wait_event("deregister", EP, 1)
        await s2.wait_event("deregister", EP, 1)
        if rc != 0:
            raise RuntimeError("exit code %s" % rc)
        out = p.output()
        for bad in ("MemoryError", "Traceback", "fatal"):
            if bad in out:
                raise RuntimeError("%s in the output" % bad)
        return True, ""
    except Exception as e:
        why = "%s: %s" % (type(e).__name__, e)
        for line in p.output().splitlines():
            if "MemoryError" in line:
                m = re.search(r"allocating (\d+) bytes", line)
                why = "MemoryError" + (" allocating %s B" % m.group(1) if m else "")
                break
        return False, why
    finally:
        p.kill()
        await s1.stop()
        await s2.stop()


def scenario(board, kib):
    """(passed, why) for one run at -X heapsize=<kib>K."""
    try:
        return asyncio.run(asyncio.wait_for(_scenario(board, "%dK" % kib), 60))
    except asyncio.TimeoutError:
        return False, "scenario timed out"


def smallest(lo=16, hi=512, step=4, log=None, mpy=False):
    """{'kib': smallest passing size or None, 'tried': [(kib, ok, why)], 'runs': n, 's': secs}.
    mpy=True runs lib/ as precompiled .mpy, as a deployed board does."""
    t0 = time.monotonic()
    board = B.Board(B.config([5683], log="warn"), mpy=mpy)  # each run writes its servers' ports
    tried = []

    def run(k):
        ok, why = scenario(board, k)
        tried.append((k, ok, why))
        if log:
            log("heapfit: %4dK %s%s" % (k, "pass" if ok else "FAIL", "" if ok else " - " + why))
        return ok

    try:
        if not run(hi):
            return {"kib": None, "tried": tried, "runs": len(tried), "s": time.monotonic() - t0}
        if run(lo):
            best = lo
        else:
            a, b = lo // step, hi // step  # a fails, b passes (in steps)
            while b - a > 1:
                m = (a + b) // 2
                if run(m * step):
                    b = m
                else:
                    a = m
            best = b * step
            streak = 1
            while streak < 3 and best <= hi:
                if run(best):
                    streak += 1
                else:
                    best += step
                    streak = 0
                    if best > hi:
                        best = None
                        break
    finally:
        board.close()
    return {"kib": best, "tried": tried, "runs": len(tried), "s": time.monotonic() - t0}


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lo", type=int, default=16)
    ap.add_argument("--hi", type=int, default=512)
    ap.add_argument("--step", type=int, default=4)
    ap.add_argument("--mpy", action="store_true", help="lib/ as precompiled .mpy, as on a board")
    a = ap.parse_args(argv)
    r = smallest(a.lo, a.hi, a.step, log=print, mpy=a.mpy)
    if r["kib"] is None:
        print("heapfit: the scenario does not pass even at %dK" % a.hi)
        return 1
    print("heapfit: smallest passing -X heapsize = %dK (%d runs, %.0f s)" % (
        r["kib"], r["runs"], r["s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
