"""Deep sleep end to end: `micropython main.py` exits to sleep and is woken again by
tools/sleepnode.py with the wall clock moved forward; the project's LwM2M server (same moved
clock, queue mode) sees one Update per wake, never a Register, while the lifetime runs."""
import asyncio
import contextlib
import os
import sys

import lwm2m_server as L
from sleepnode import CUT_EXIT, DEEPSLEEP_EXIT, SleepNode, sleep_config
from util import readme_block

EP = "sleepy-1"
BAD = ("Traceback", "fatal error")


def run(coro, timeout=300):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _start(lifetime=300, interval=30, rtc=True):
    holder = []
    srv = await L.LwM2MServer(clock=lambda: holder[0].clock() if holder else 0.0,
                              queue_window=1.0).start()
    node = SleepNode(sleep_config(EP, srv.port, lifetime=lifetime, interval=interval, awake=1),
                     rtc=rtc)
    holder.append(node)
    return srv, node


@contextlib.asynccontextmanager
async def sleeping(**kw):
    """(server, node) from _start(**kw); on a failure the last wake's output goes to stderr;
    the node is always closed and the server stopped."""
    srv, node = await _start(**kw)
    try:
        yield srv, node
    except BaseException:
        if node.wakes:
            sys.stderr.write("last wake:\n%s\n" % node.wakes[-1].text())
        raise
    finally:
        node.close()
        await srv.stop()


def _events(srv, k):
    return [e.kind for e in srv.events[k:] if e.ep == EP and e.kind in ("register", "update")]


async def _cycle(srv, node, seconds=None, **wake):
    """Sleep (node.sleep(seconds)), wake: (the Wake, the Register/Update events seen meanwhile)."""
    node.sleep(seconds)
    k = len(srv.events)
    w = await node.wake(**wake)
    return w, _events(srv, k)


def _ok(w, rc=DEEPSLEEP_EXIT):
    assert w.rc == rc, "exit %s, wanted %s:\n%s" % (w.rc, rc, w.text())
    for b in BAD:
        assert b not in w.text(), w.text()


# Timezone: a value that changes only when written, so notifications come from pmax alone.
# Current Time (/3/0/13) notifies each second as it changes (issue 12): a node observed there
# never finds a quiet window to sleep in.
OBSERVED = "/3/0/15"


async def _first_wake_observed(srv, node, path=OBSERVED):
    """Cold boot: Register, then (through the server's queue) pmax 20 s and an observation."""

    async def setup():
        await srv.wait_registered(EP, 30)
        r = await srv.write_attributes(EP, path, pmax=20, timeout=60)
        assert r.code == "2.04", r
        return await srv.observe(EP, path, timeout=60)

    task = asyncio.ensure_future(setup())
    k = len(srv.events)
    w = await node.wake()
    _ok(w)
    assert _events(srv, k)[:1] == ["register"]
    while not task.done():  # the client slept before the server asked: it asks on the next wake
        node.sleep()
        _ok(await node.wake())
    obs = task.result()
    assert obs.active and obs.first.code == "2.05", obs.first
    return obs


async def _queued_read(srv, path="/3/0/0"):
    return await _queued(srv, lambda: srv.read(EP, path, timeout=60))


async def _queued(srv, request):
    """A request the server must hold until the sleeping client's next Update. Its queue waits
    for the next "update" event not yet returned by wait_event, so first move past the old ones."""
    while True:
        try:
            await srv.wait_event("update", EP, 0)
        except asyncio.TimeoutError:
            break
    q = asyncio.ensure_future(request())
    await asyncio.sleep(0.2)
    assert not q.done()
    return q


def _drain(obs):
    out = []
    while not obs.queue.empty():
        out.append(obs.queue.get_nowait())
    return out


def test_twenty_deep_sleep_cycles_update_only_and_observations_go_on():
    async def main():
        async with sleeping() as (srv, node):
            obs = await _first_wake_observed(srv, node)
            seqs = [obs.first.message.opt.observe]
            _drain(obs)
            queued = None
            for i in range(20):
                if i == 10:  # the server asks while the client sleeps: answered on this wake
                    node.sleep()
                    queued = await _queued_read(srv)
                    w, got = await _cycle(srv, node, 0)  # 0: it slept above
                else:
                    w, got = await _cycle(srv, node)
                _ok(w)
                assert got == ["update"], (i, got, w.text())
                assert "sleep: state from rtc memory (1 server(s), 1 observation(s))" in w.text()
                assert w.figures["flash_writes"] == 0, w.text()  # RTC memory, no flash
                await asyncio.sleep(0.1)
                notes = _drain(obs)
                # pmax 20 s passed during the 30 s sleep: one notification, delivered once
                assert len(notes) == 1, (i, notes, w.text())
                assert notes[0].code == "2.05"
                seqs.append(notes[0].seq)
                if i == 10:
                    r = await asyncio.wait_for(queued, 10)
                    assert r.code == "2.05" and r.text == "MicroPython", r
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
            assert obs.active and obs.token is not None
            # a sleep longer than the lifetime left: the registration is gone, Register
            w, got = await _cycle(srv, node, 400)
            _ok(w)
            assert got == ["register"], (got, w.text())
            assert "sleep: server 1: lifetime expired during the sleep: Register" in w.text()
            # and sleeping resumes from the new registration
            w, got = await _cycle(srv, node)
            _ok(w)
            assert got == ["update"]

    run(main())


def test_power_cut_while_persisting_resumes_or_registers_never_wrong():
    async def main():
        async with sleeping() as (srv, node):
            obs = await _first_wake_observed(srv, node)
            _drain(obs)
            size = os.path.getsize(os.path.join(node.dir, "data", "rtcmem"))
            assert size > 200  # so the cuts at 100 and -100 bytes are both inside the state
            last = obs.first.message.opt.observe
            for cut in (0, 4, 9, 10, 100, -100, -1, "all"):  # -n: all but the last n bytes
                # woke, Updated, then the power went mid-write
                w, got = await _cycle(srv, node, cut=cut)
                _ok(w, CUT_EXIT)
                assert got in (["update"], ["register"]), got
                w, got = await _cycle(srv, node)
                _ok(w)
                if cut != "all":  # torn state: never used, a clean Register
                    assert got == ["register"], (cut, got, w.text())
                    why = "saved state torn" if cut else "no saved state"  # 0 bytes: empty
                    assert "sleep: %s: Register" % why in w.text(), w.text()
                    # the new registration dropped the observation: observe again (queued)
                    node.sleep()
                    q = await _queued(srv, lambda: srv.observe(EP, OBSERVED, timeout=60))
                    _ok(await node.wake())
                    obs = await asyncio.wait_for(q, 10)
                    assert obs.active, w.text()
                    last = obs.first.message.opt.observe
                else:  # the whole state was written before the cut: resumed
                    assert got == ["update"], (cut, got, w.text())
                await asyncio.sleep(0.1)
                for n in _drain(obs):
                    assert n.seq > last, (n.seq, last)
                    last = n.seq
            # whatever happened, the registration works: a queued read is answered on the wake
            node.sleep()
            q = await _queued_read(srv)
            _ok(await node.wake())
            assert (await asyncio.wait_for(q, 10)).code == "2.05"

    run(main())


def test_light_sleep_keeps_ram_update_per_wake_same_observation():
    async def main():
        srv = await L.LwM2MServer(queue_window=1.0).start()
        cfg = sleep_config(EP, srv.port, interval=2, awake=1, mode="light")
        node = SleepNode(cfg)
        task = asyncio.ensure_future(node.wake(timeout=120))
        try:
            await srv.wait_registered(EP, 30)
            r = await srv.write_attributes(EP, "/3/0/13", pmax=1, timeout=30)
            assert r.code == "2.04", r
            obs = await srv.observe(EP, "/3/0/13", timeout=30)
            assert obs.active
            k = len(srv.events)
            for _ in range(3):
                await srv.wait_event("update", EP, 20)
            seqs = [(await obs.next(20)).seq for _ in range(3)]
            assert _events(srv, k).count("register") == 0
            assert seqs == sorted(seqs) and len(set(seqs)) == 3, seqs
            assert not task.done()  # light sleep: the same process all along
            # state never left RAM: nothing written for the sleeps
            assert not os.path.exists(os.path.join(node.dir, "data", "rtcmem"))
        except BaseException:
            sys.stderr.write("client output:\n%s\n" % "\n".join(node.partial))
            raise
        finally:
            task.cancel()
            try:
                await task
            except BaseException:
                pass
            node.close()
            await srv.stop()

    run(main())


README_APP_START = '"""Battery temperature node'


def readme_app():
    return readme_block(README_APP_START)


def test_readme_battery_node_app_reports_only_what_moved():
    async def main():
        async with sleeping(interval=600) as (srv, node):
            with open(os.path.join(node.dir, "app.py"), "w") as f:
                f.write(readme_app())

            def sensor(v):
                with open(os.path.join(node.dir, "sensor.txt"), "w") as f:
                    f.write(str(v))

            sensor(20.0)
            path = "/3303/0/5700"

            async def setup():
                await srv.wait_registered(EP, 30)
                r = await srv.write_attributes(EP, path, st=0.5, pmax=3600, timeout=60)
                assert r.code == "2.04", r
                return await srv.observe(EP, path, timeout=60)

            task = asyncio.ensure_future(setup())
            _ok(await node.wake())
            while not task.done():
                node.sleep()
                _ok(await node.wake())
            obs = task.result()
            assert obs.first.code == "2.05" and float(obs.first.text) == 20.0
            _drain(obs)
            seq = obs.first.message.opt.observe
            # each wake: the sample, whether the server hears of it (moved >= st since the last
            # value it was sent), and the one Update
            for v, told in ((20.2, False), (20.6, True), (20.9, False), (19.9, True),
                            (19.9, False)):
                sensor(v)
                w, got = await _cycle(srv, node)
                _ok(w)
                assert got == ["update"], w.text()
                await asyncio.sleep(0.1)
                notes = _drain(obs)
                assert [float(n.text) for n in notes] == ([v] if told else []), (v, notes)
                for n in notes:
                    assert n.seq > seq
                    seq = n.seq

    run(main())


def test_without_rtc_memory_the_flash_store_carries_the_state():
    async def main():
        async with sleeping(rtc=False) as (srv, node):  # a Pico W: no RTC user memory
            obs = await _first_wake_observed(srv, node)
            seqs = [obs.first.message.opt.observe]
            _drain(obs)
            for i in range(3):
                w, got = await _cycle(srv, node)
                _ok(w)
                assert got == ["update"], w.text()
                assert "sleep: state from flash (1 server(s), 1 observation(s))" in w.text()
                assert "state in flash" in w.text()
                # the record taken (removed), then saved again: temp file and rename
                assert w.figures["flash_writes"] == 3, w.text()
                await asyncio.sleep(0.1)
                seqs += [n.seq for n in _drain(obs)]
            assert len(seqs) == 4 and seqs == sorted(seqs), seqs
            assert not os.path.exists(os.path.join(node.dir, "data", "rtcmem"))

    run(main())
