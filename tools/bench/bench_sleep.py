"""Per-wake cost of a deep-sleeping node: resume with an Update vs the naive reboot-and-Register.

    .venv/bin/python tools/bench/bench_sleep.py [--wakes 5]
The client runs on the unix port in a board dir (tools/sleepnode.py) against tools/lwm2m_server.py
on loopback, queue mode, awake window 1 s, lifetime 300 s, one observation (/3/0/15 Timezone, pmax 20 s)
and a 30 s sleep between wakes. resume: the state kept in RTC memory (a file on the host) gives
one Update per wake and the due notification on the same token; the same with no RTC memory
(as on a Pico W: the state is a flash store record). naive: the RTC memory is lost
before every wake (what a client without this feature does: boot, Register), and the server
observes again after each Register, as it must to keep its data coming. Figures are what the
client counted in its "wake done" line (datagrams and bytes through its socket, flash writes
through the store, ms from start of the cycle to sleep, including the 1 s window) and the host
process lifetime. Printed, never asserted. CPython only.
"""
import asyncio
import os
import sys

import benchpath  # noqa: F401  first: tools/ and tools/bench/ on sys.path

import lwm2m_server as L  # noqa: E402
from sleepnode import DEEPSLEEP_EXIT, SleepNode, sleep_config  # noqa: E402

EP = "bench-sleep"
PATH = "/3/0/15"  # notifies on pmax alone (Current Time would notify every second)


async def _observe_when_registered(srv, k):
    await srv.wait_event("register", EP, 30)
    await srv.write_attributes(EP, PATH, pmax=20, timeout=30)
    return await srv.observe(EP, PATH, timeout=30)


async def measure(naive, wakes, rtc=True):
    """Average figures over `wakes` wakes after the first (cold) one, plus the notifications."""
    holder = []
    srv = await L.LwM2MServer(clock=lambda: holder[0].clock() if holder else 0.0,
                              queue_window=1.0).start()
    node = SleepNode(sleep_config(EP, srv.port, interval=30, awake=1), rtc=rtc)
    holder.append(node)
    got = []
    try:
        first = asyncio.ensure_future(_observe_when_registered(srv, 0))
        w = await node.wake()
        if w.rc != DEEPSLEEP_EXIT:
            raise RuntimeError("first wake exited %s:\n%s" % (w.rc, w.text()))
        obs = await asyncio.wait_for(first, 30)
        rows = []
        f = os.path.join(node.dir, "data", "rtcmem" if rtc else "sleep.rec")
        size = os.path.getsize(f) if os.path.exists(f) else 0
        for _ in range(wakes):
            node.sleep()
            if naive:
                node.forget()
                obs_task = asyncio.ensure_future(_observe_when_registered(srv, 0))
            w = await node.wake()
            if w.rc != DEEPSLEEP_EXIT or w.figures is None:
                raise RuntimeError("wake exited %s:\n%s" % (w.rc, w.text()))
            if naive:
                obs = await asyncio.wait_for(obs_task, 30)
            await asyncio.sleep(0.1)
            while not obs.queue.empty():
                got.append(obs.queue.get_nowait())
            f = dict(w.figures)
            f["host_ms"] = w.host_ms
            rows.append(f)
        avg = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        kinds = [e.kind for e in srv.events if e.ep == EP and e.kind in ("register", "update")]
        return avg, kinds, size, len(got)
    finally:
        node.close()
        await srv.stop()


def rows(quick=False, wakes=None):
    """(name, value, how) rows for tools/bench/bench.py."""
    n = wakes or (3 if quick else 5)
    out = []
    res = {}
    for label, naive, rtc in (("resume + Update", False, True),
                              ("resume + Update, no RTC memory", False, False),
                              ("reboot + Register", True, True)):
        try:
            res[label] = asyncio.run(asyncio.wait_for(measure(naive, n, rtc), 240))
        except Exception as e:
            out.append(("deep-sleep wake, %s" % label, "FAILED", repr(e)[:80]))
    how = ("per wake, mean of %d wakes; client counts, unix port, loopback, window 1 s "
           "(tools/bench/bench_sleep.py)" % n)
    for label, (a, kinds, size, notes) in res.items():
        p = "deep-sleep wake, %s: " % label
        out.append((p + "datagrams sent/received", "%.1f / %.1f" % (a["tx"], a["rx"]), how))
        out.append((p + "bytes sent/received", "%.0f / %.0f B" % (a["txb"], a["rxb"]), how))
        out.append((p + "time awake (client)", "%.0f ms" % a["awake_ms"],
                    "cycle start to sleep, incl. the 1 s window; host ms"))
        out.append((p + "time to the last exchange", "%.0f ms" % (a["awake_ms"] - 1000),
                    "time awake minus the 1 s window that follows the last exchange"))
        out.append((p + "process lifetime", "%.0f ms" % a["host_ms"],
                    "interpreter start, imports, cycle, exit; host ms"))
        out.append((p + "flash writes", "%.1f" % a["flash_writes"],
                    "files written/renamed/removed through the store, per wake"))
        out.append((p + "Register/Update seen", "%d / %d" % (kinds.count("register"),
                                                             kinds.count("update")),
                    "server events over the run (first wake registers)"))
        out.append((p + "notifications received", "%d" % notes, "server side, over %d wakes" % n))
        if label == "resume + Update":
            out.append(("deep-sleep state in RTC memory", "%d B" % size,
                        "1 server, 1 observation (ESP32 RTC user memory holds 2048 B)"))
        elif label.startswith("resume"):
            out.append(("deep-sleep state as a flash store record", "%d B" % size,
                        "1 server, 1 observation (Pico W: LWM2M_RTC=none on the host)"))
    return out


def main(argv):
    n = 5
    if "--wakes" in argv:
        n = int(argv[argv.index("--wakes") + 1])
    rs = rows(wakes=n)
    w = max(len(r[0]) for r in rs)
    for name, val, how in rs:
        print("%-*s  %14s  %s" % (w, name, val, how))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
