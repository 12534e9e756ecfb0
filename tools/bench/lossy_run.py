"""Long lossy run: the client behind tools/bench/lossy_relay.py against LwM2MServer, looping DM requests.

    python tools/bench/lossy_run.py --minutes 10 --drop 0.2 --dup 0.1 --seed 1

Starts `micropython main.py` in a fresh board dir whose server is the relay, observes /3/0/13
(pmin 1 pmax 2) and loops: read /3/0, POST partial write of the lifetime to /1/0 (one Update
with lt each), execute /1/0/8 (one Update without lt each). Prints requests attempted /
completed, executes sent against the Updates they caused (duplicates executed must be 0),
notifications received and the relay counters. Exit 1 when a check fails. CPython only."""
import argparse
import asyncio
import sys
import time

import benchpath  # first: tools/ and tools/bench/ on sys.path

benchpath.add("lib", "tools/cpy", "host_tests")

import mpshim  # noqa: E402,F401
import aiocoap.numbers.constants as AC  # noqa: E402
import lwm2m_server as L  # noqa: E402
from lossy_relay import Impairment, LossyRelay  # noqa: E402
from test_peer_client import Client  # noqa: E402

EP = "lossy-run-1"
OP_TIMEOUT = 60.0
LIFETIMES = (3000, 3010)  # long: the writes renew the registration, so no periodic Update mixes in


def config(port):
    return {"endpoint": EP, "local_port": 0, "data_dir": "data", "log": "info",
            "servers": [{"uri": "coap://127.0.0.1:%d" % port, "ssid": 1, "lifetime": 300}]}


class Stats:
    def __init__(self):
        self.att = {"read": 0, "write": 0, "execute": 0, "observe": 0}
        self.ok = {"read": 0, "write": 0, "execute": 0, "observe": 0}
        self.notes = 0
        self.obs_restarts = 0


async def _op(st, kind, coro, want="2.04"):
    st.att[kind] += 1
    try:
        r = await coro
    except asyncio.TimeoutError:
        return None
    if r.code == want:
        st.ok[kind] += 1
    return r


async def _wait_update(srv):
    try:
        await srv.wait_event("update", EP, 40)
    except asyncio.TimeoutError:
        pass


async def _observe(srv, st, stop):
    while not stop.is_set():
        await _op(st, "write", srv.write_attributes(EP, "/3/0/13", pmin=1, pmax=2, timeout=OP_TIMEOUT))
        st.att["observe"] += 1
        try:
            obs = await srv.observe(EP, "/3/0/13", timeout=OP_TIMEOUT)
        except asyncio.TimeoutError:
            continue
        if not (obs.active and obs.first.code == "2.05"):
            await asyncio.sleep(1)
            continue
        st.ok["observe"] += 1
        while not stop.is_set():
            try:
                n = await obs.next(10)
            except asyncio.TimeoutError:
                break  # silent past pmax under loss: the client may have dropped it, observe again
            except Exception:
                break
            if n is None or n.code != "2.05":
                break
            st.notes += 1
        obs.cancel_local()
        if not stop.is_set():
            st.obs_restarts += 1


async def main_async(a):
    T = AC.TransportTuning
    T.ACK_TIMEOUT, T.MAX_RETRANSMIT = 0.6, 8  # server-side CON retries, as test_peer_lossy does
    srv = await L.LwM2MServer().start()
    relay = await LossyRelay(("127.0.0.1", srv.port),
                             up=Impairment(a.drop, a.dup, seed=a.seed * 2 + 1),
                             down=Impairment(a.drop, a.dup, seed=a.seed * 2 + 2)).start()
    c = Client(config(relay.port))
    st = Stats()
    stop = asyncio.Event()
    obs_task = None
    loops = 0
    t0 = time.monotonic()
    try:
        await srv.wait_registered(EP, 60)
        obs_task = asyncio.ensure_future(_observe(srv, st, stop))
        end = t0 + a.minutes * 60
        while time.monotonic() < end:
            loops += 1
            await _op(st, "read", srv.read(EP, "/3/0", timeout=OP_TIMEOUT), "2.05")
            lt = LIFETIMES[loops % 2]
            # wait for each Update before the next request: back-to-back triggers may share one
            if await _op(st, "write", srv.write(EP, "/1/0", L.encode_tlv({1: lt}), L.CF_TLV,
                                                partial=True, timeout=OP_TIMEOUT)):
                await _wait_update(srv)
            if await _op(st, "execute", srv.execute(EP, "/1/0/8", timeout=OP_TIMEOUT)):
                await _wait_update(srv)
        stop.set()
        await asyncio.sleep(3)  # late duplicates would arrive now
    finally:
        stop.set()
        if obs_task is not None:
            obs_task.cancel()
        elapsed = time.monotonic() - t0
        ups = [e for e in srv.events if e.kind == "update" and e.ep == EP]
        regs = [e for e in srv.events if e.kind == "register" and e.ep == EP]
        exec_ups = sum(1 for e in ups if "lifetime" not in e.info)
        lt_ups = sum(1 for e in ups if "lifetime" in e.info)
        dup_exec = max(0, exec_ups - st.att["execute"])
        dup_write = max(0, lt_ups - st.att["write"] + st.att["observe"])
        cnt = relay.counters()
        out = c.output()
        c.close()
        await relay.stop()
        await srv.stop()
    rows = [
        ("run", "%.0f s, %d loops, drop %.2f dup %.2f seed %d" % (elapsed, loops, a.drop, a.dup, a.seed)),
        ("requests attempted / completed", "%d / %d" % (sum(st.att.values()), sum(st.ok.values()))),
    ]
    for k in ("read", "write", "execute", "observe"):
        rows.append(("  %s" % k, "%d / %d" % (st.att[k], st.ok[k])))
    rows += [
        ("executes sent / Updates caused", "%d / %d" % (st.att["execute"], exec_ups)),
        ("duplicates executed (must be 0)", "%d" % dup_exec),
        ("lifetime writes / Updates with lt", "%d / %d" % (st.att["write"] - st.att["observe"], lt_ups)),
        ("registrations", "%d" % len(regs)),
        ("notifications received", "%d (observe restarts %d)" % (st.notes, st.obs_restarts)),
    ]
    for d in ("up", "down"):
        x = cnt[d]
        rows.append(("relay %s" % d, "passed %d dropped %d duplicated %d reordered %d" % (
            x["passed"], x["dropped"], x["duplicated"], x["reordered"])))
    w = max(len(r[0]) for r in rows)
    for k, v in rows:
        print("%-*s  %s" % (w, k, v))
    bad = []
    if dup_exec or dup_write:
        bad.append("duplicate effects: execute %d write %d" % (dup_exec, dup_write))
    if "Traceback" in out:
        bad.append("client traceback")
    if st.att["execute"] and st.ok["execute"] == 0:
        bad.append("no execute completed")
    for b in bad:
        print("FAIL:", b)
    if bad and a.verbose:
        print(out)
    return 1 if bad else 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--drop", type=float, default=0.2)
    ap.add_argument("--dup", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true", help="print the client output on failure")
    a = ap.parse_args(argv)
    return asyncio.run(main_async(a))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
