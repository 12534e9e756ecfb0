"""Smallest `-X heapsize` at which the client's end-to-end scenario still passes on the unix port.

    .venv/bin/python tools/bench/heapfit.py [--lo 16] [--hi 512] [--step 4]     (sizes in KiB)
The scenario, against two tools/lwm2m_server.LwM2MServer on loopback (and a bootstrap server in
the config, never needed): register with both, ten
observations (five each), reads in TLV and text, writes (one triggering an Update, one
notifying an observer), then SIGINT: both Deregisters and exit code 0, with no MemoryError in the
output. The client runs main.py through the probe of tools/bench/bench_lwm2m.py (bench_app.py, mode
"run": no hook), which only raises coap Endpoint.max_observations to 10 when the default is
lower, so ten observations fit. Bisection assumes passing is monotonic in the heap size; the
result is re-run twice and stepped up until three runs in a row pass.

--scenario one: the issue 11 scenario, one server over coap:// and no bootstrap server, with
main.py run as a board runs it (boot.py, then main.py, in one interpreter): register; Read /3/0
in TLV and in LwM2M JSON; write the lifetime (an Update follows); Write-Attributes pmin/pmax on
/3/0/13 and observe it (two notifications); execute /1/0/8 (an Update follows); Discover /3/0; a
malformed write answered 4.00; a 256 KB firmware package pushed with Block1 to /5/0/0 (State
Downloaded), execute /5/0/2 Update (the client answers 2.04 and exits as a reboot); the second
boot applies the package, registers with Update Result 1; SIGINT: Deregister, exit code 0.

--interp PATH runs another unix port build (the 32-bit one gives board-like figures; the env var
MICROPYTHON32 is the default when set); --at K runs the scenario once at K and exits 0/1 (CI).
"""
import asyncio
import hashlib
import io
import os
import re
import sys
import time

import benchpath  # first: tools/ and tools/bench/ on sys.path
import bench_lwm2m as B
import lwm2m_server as L

EP = B.EP
STEP_TIMEOUT = 8.0
FW_SIZE = 256 * 1024
REBOOT_EXIT = 3  # board.host.REBOOT_EXIT
# A board runs boot.py, then main.py, in one interpreter; boot.py applies a staged update. Both
# are compiled from their files as a board does (exec(open(f).read()) would keep main.py's
# whole source text alive, about 4 KB a board never holds).
BOARD_START = ('"""boot.py then main.py, as a board starts."""\nimport sys\n\n'
               'import boot  # noqa\nimport main\n\nsys.exit(main.main())\n')
PAD = "pad.bin"  # filler that brings the package to FW_SIZE; harmless in lib/ once applied


def fw_package(lib, size=FW_SIZE):
    """Header + bundle of the board dir's lib/ (what boot.py swaps in) padded to `size` bytes."""
    benchpath.add("lib", "tools/cpy")  # tools/cpy: the micropython shim for CPython
    from board.fwboot import write_bundle
    from lwm2m.fwpkg import make_header

    items = []
    for root, dirs, files in os.walk(lib):
        dirs.sort()
        for f in sorted(files):
            if f != PAD:
                p = os.path.join(root, f)
                with open(p, "rb") as fh:
                    items.append((os.path.relpath(p, lib).replace(os.sep, "/"), fh.read()))
    used = sum(len(d) + len(p) + 16 for p, d in items) + 128 + 100
    items.append((PAD, bytes(range(256)) * ((size - used) // 256)))
    buf = io.BytesIO()
    write_bundle(buf, items)
    image = buf.getvalue()
    return make_header(len(image), hashlib.sha256(image).digest(), "heapfit", "2") + image


def _clean(p):
    out = p.output()
    for bad in ("MemoryError", "Traceback", "fatal"):
        if bad in out:
            raise RuntimeError("%s in the output" % bad)


async def _until_exit(p, timeout):
    try:
        return await p.exited(timeout)
    except Exception:
        return None


async def _one(board, heap):
    """The one-server scenario (module docstring); raises on the first step that fails."""
    s = await L.LwM2MServer().start()
    p = None
    try:
        board.fresh()
        board.write_config(B.config([s.port], log="warn"))
        p = board.start(["board_start.py"], heap=heap)
        board.step = "second boot: register"
        await B._registered((s,), p, timeout=STEP_TIMEOUT)
        board.step = "read /3/0"
        r = await s.read(EP, "/3/0", timeout=STEP_TIMEOUT)
        if r.code != "2.05" or L.tlv_str(L.decode_tlv(r.payload)[0]) != "MicroPython":
            raise RuntimeError("read /3/0 TLV: %s" % r.code)
        board.step = "read /3/0 JSON"
        r = await s.read(EP, "/3/0", accept=L.CF_JSON, timeout=STEP_TIMEOUT)
        if r.code != "2.05" or r.content_format != L.CF_JSON or b'"MicroPython"' not in r.payload:
            raise RuntimeError("read /3/0 JSON: %s %r" % (r.code, r.payload[:60]))
        board.step = "write /1/0/1"
        r = await s.write(EP, "/1/0/1", "120", timeout=STEP_TIMEOUT)
        if r.code != "2.04":
            raise RuntimeError("write /1/0/1: %s" % r.code)
        board.step = "wait_event update"
        u = await s.wait_event("update", EP, STEP_TIMEOUT)
        if u.info.get("lifetime") != 120:
            raise RuntimeError("update after the lifetime write: %r" % (u.info,))
        board.step = "write_attributes /3/0/13"
        r = await s.write_attributes(EP, "/3/0/13", pmin=1, pmax=2, timeout=STEP_TIMEOUT)
        if r.code != "2.04":
            raise RuntimeError("write-attributes /3/0/13: %s" % r.code)
        board.step = "observe /3/0/13"
        o = await s.observe(EP, "/3/0/13", timeout=STEP_TIMEOUT)
        if not o.active:
            raise RuntimeError("observe /3/0/13: %s" % o.first.code)
        seen = int(o.first.text)
        for _ in range(2):
            n = await o.next(STEP_TIMEOUT)
            if n.code != "2.05" or int(n.text) < seen:
                raise RuntimeError("notification of /3/0/13: %s %r" % (n.code, n.payload))
            seen = int(n.text)
        board.step = "execute /1/0/8"
        r = await s.execute(EP, "/1/0/8", timeout=STEP_TIMEOUT)
        if r.code != "2.04":
            raise RuntimeError("execute /1/0/8: %s" % r.code)
        await s.wait_event("update", EP, STEP_TIMEOUT)
        board.step = "discover /3/0"
        r = await s.discover(EP, "/3/0", timeout=STEP_TIMEOUT)
        if r.code != "2.05" or b"</3/0/13>" not in r.payload:
            raise RuntimeError("discover /3/0: %s %r" % (r.code, r.payload[:60]))
        board.step = "malformed write /1/0/1"
        r = await s.write(EP, "/1/0/1", b"\xff\x01", content_format=L.CF_TLV,
                          timeout=STEP_TIMEOUT)
        if r.code != "4.00":
            raise RuntimeError("malformed write: %s, not 4.00" % r.code)
        board.step = "push_firmware"
        r = await s.push_firmware(EP, board.fw, block_size=1024, timeout=STEP_TIMEOUT)
        if r.code != "2.04":
            raise RuntimeError("firmware push: %s" % r.code)
        board.step = "read /5/0/3"
        r = await s.read(EP, "/5/0/3", timeout=STEP_TIMEOUT)
        if r.text != "2":
            raise RuntimeError("state after the push: %s %r, not Downloaded" % (r.code, r.payload))
        board.step = "execute /5/0/2"
        r = await s.execute(EP, "/5/0/2", timeout=STEP_TIMEOUT)
        if r.code != "2.04":
            raise RuntimeError("execute /5/0/2: %s" % r.code)
        rc = await _until_exit(p, STEP_TIMEOUT)
        if rc != REBOOT_EXIT:
            raise RuntimeError("after Update the client exited with %s, not %d" % (
                rc, REBOOT_EXIT))
        _clean(p)
        # second boot: boot.py applies the package, the client registers and reports the result
        s.clients.pop(EP, None)
        p = board.start(["board_start.py"], heap=heap)
        board.step = "second boot: register"
        await B._registered((s,), p, timeout=STEP_TIMEOUT)
        board.step = "read /5/0/5"
        r = await s.read(EP, "/5/0/5", timeout=STEP_TIMEOUT)
        if r.text != "1":
            raise RuntimeError("update result after the reboot: %s %r" % (r.code, r.payload))
        board.step = "interrupt"
        rc = await p.interrupted(STEP_TIMEOUT)
        await s.wait_event("deregister", EP, 1)
        if rc != 0:
            raise RuntimeError("exit code %s" % rc)
        _clean(p)
    except Exception:
        if p is not None:
            board.last = p.output()
        raise
    finally:
        if p is not None:
            p.kill()
        await s.stop()


async def _two(board, heap):
    s1 = await L.LwM2MServer().start()
    s2 = await L.LwM2MServer().start()
    bs = await L.BootstrapServer().start()  # configured, so bootstrap code is present; unused
    cfg = B.config([s1.port, s2.port], log="warn")
    cfg["bootstrap"] = {"uri": "coap://127.0.0.1:%d" % bs.port, "hold_off": 0}
    board.fresh()
    board.write_config(cfg)
    p = board.start(["bench_app.py", "run", "0"], heap=heap)
    try:
        board.step = "register"
        await B._registered((s1, s2), p, timeout=STEP_TIMEOUT)
        obs = await B.observe_ten((s1, s2), timeout=STEP_TIMEOUT)
        for s in (s1, s2):
            board.step = "read /3/0"
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
        board.step = "interrupt"
        rc = await p.interrupted(STEP_TIMEOUT)
        await s1.wait_event("deregister", EP, 1)
        await s2.wait_event("deregister", EP, 1)
        if rc != 0:
            raise RuntimeError("exit code %s" % rc)
        _clean(p)
    except Exception:
        board.last = p.output()
        raise
    finally:
        p.kill()
        await s1.stop()
        await s2.stop()
        await bs.stop()


SCENARIOS = {"two": _two, "one": _one}


def scenario(board, kib, which="two"):
    """(passed, why) for one run at -X heapsize=<kib>K."""
    board.last = board.step = ""
    try:
        asyncio.run(asyncio.wait_for(SCENARIOS[which](board, "%dK" % kib), 120))
        return True, ""
    except asyncio.TimeoutError:
        why = "scenario timed out at step %r" % board.step
    except Exception as e:
        why = "%s: %s" % (type(e).__name__, e)
    for line in board.last.splitlines():
        if "MemoryError" in line:
            m = re.search(r"allocating (\d+) bytes", line)
            return False, "MemoryError%s at step %r" % (
                " allocating %s B" % m.group(1) if m else "", board.step)
    return False, why


def make_board(which="two", mpy=False, interp=None):
    if interp and os.sep in interp:
        interp = os.path.abspath(interp)  # the client runs in the board dir
    board = B.Board(B.config([5683], log="warn"), mpy=mpy, interp=interp)
    if which == "one":
        board.fw = fw_package(os.path.join(board.dir, "lib"))
        with open(os.path.join(board.dir, "board_start.py"), "w") as f:
            f.write(BOARD_START)
    return board


def smallest(lo=16, hi=512, step=4, log=None, mpy=False, which="two", interp=None):
    """{'kib': smallest passing size or None, 'tried': [(kib, ok, why)], 'runs': n, 's': secs}.
    mpy=True runs lib/ as precompiled .mpy, as a deployed board does."""
    t0 = time.monotonic()
    board = make_board(which, mpy, interp)  # each run writes its servers' ports
    tried = []

    def run(k):
        ok, why = scenario(board, k, which)
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
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="two")
    ap.add_argument("--interp", default=os.environ.get("MICROPYTHON32") or None,
                    help="unix port to run (default: $MICROPYTHON32, else .venv's micropython)")
    ap.add_argument("--at", type=int, help="run once at this heap size (KiB): exit 0 pass, 1 fail")
    ap.add_argument("-v", "--verbose", action="store_true", help="--at: the client's output too")
    a = ap.parse_args(argv)
    if a.at:
        board = make_board(a.scenario, a.mpy, a.interp)
        try:
            ok, why = scenario(board, a.at, a.scenario)
            if not ok and a.verbose:
                print(board.last)
        finally:
            board.close()
        print("heapfit: scenario %s%s at -X heapsize=%dK: %s" % (
            a.scenario, " (.mpy)" if a.mpy else "", a.at, "pass" if ok else "FAIL - " + why))
        return 0 if ok else 1
    r = smallest(a.lo, a.hi, a.step, log=print, mpy=a.mpy, which=a.scenario, interp=a.interp)
    if r["kib"] is None:
        print("heapfit: the scenario does not pass even at %dK" % a.hi)
        return 1
    print("heapfit: smallest passing -X heapsize = %dK (%d runs, %.0f s)" % (
        r["kib"], r["runs"], r["s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
