# The asyncio driver (coap.aiorunner, lwm2m.aio) on real loopback sockets, under both interpreters:
# requests served while another task runs, coroutine executors after their 2.04, wake(), stop(),
# rebind under the event loop, and the Wi-Fi link watch with a fake interface.
# (Named to run after test_fwupdate in mp_run's alphabetical order: that file's partition test
# needs 256 KB contiguous twice in a 2M heap and fails if `import asyncio` came earlier.)
import asyncio
import socket

from coap import msg as M
from coap.aiorunner import AioRunner
from coap.endpoint import Endpoint
from coap.runner import peer_key
from lwm2m.dm import DM
from lwm2m.acl import Acl
from lwm2m.errors import LwM2MError
from lwm2m.model import Registry, object_def, resource
from test_rebind import _bound

APP = object_def(32770, "T", (resource(0, "Go", "E", "e"), resource(1, "V", "RW", "i")),
                 multiple=False)


def _sleep_ms(ms):
    f = getattr(asyncio, "sleep_ms", None)
    return f(ms) if f is not None else asyncio.sleep(ms / 1000)


async def _end(*tasks):
    """Cancel and wait for them: nothing of this test is left queued for the next one."""
    for t in tasks:
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass


async def _recv(s, tries=500):
    """A datagram on the non-blocking socket s, waiting with asyncio sleeps (never blocking)."""
    for _ in range(tries):
        try:
            return s.recvfrom(1500)
        except OSError:
            await _sleep_ms(10)
    raise AssertionError("nothing received")


def _get(mid, path):
    m = M.Message(M.CON, M.GET, mid, b"t%d" % mid)
    m.set_path(path)
    return m.encode()


def _post(mid, path):
    m = M.Message(M.CON, M.POST, mid, b"p%d" % mid)
    m.set_path(path)
    return m.encode()


class Rig:
    """An AioRunner serving a one-object DM; `peer` is a test socket the runner knows about."""

    def __init__(self, value=None):
        """value: the registry gets APP with instance 0 holding it in resource 1 (.app)."""
        self.reg = Registry()
        if value is not None:
            self.app = self.reg.add(APP)
            self.app.add(0, {1: value})
        self.dm = DM(self.reg, Acl(self.reg))
        self.r = AioRunner(Endpoint(lambda req, peer, now: self.dm.handle(req, 1, now)), 0)
        self.peer, self.addr = _bound()
        self.peer.setblocking(False)

    async def learn(self):
        # the runner's own address, as the peer sees it: it sends the peer one datagram
        self.r.sendto(b"\x50\x00\x00\x00", peer_key(self.addr))
        return (await _recv(self.peer))[1]

    def close(self):
        self.peer.close()
        self.r.close()


def test_requests_are_served_while_another_task_runs():
    async def body():
        rig = Rig(7)
        ticks = [0]

        async def ticker():
            while True:
                await _sleep_ms(5)
                ticks[0] += 1

        try:
            srv = asyncio.create_task(rig.r.serve())
            t = asyncio.create_task(ticker())
            dst = await rig.learn()
            for i in range(5):
                before = ticks[0]
                rig.peer.sendto(_get(10 + i, "/32770/0/1"), dst)
                data, _ = await _recv(rig.peer)
                resp = M.decode(data)
                assert resp.mid == 10 + i and resp.code == M.CONTENT and resp.payload == b"7"
                await _sleep_ms(30)
                assert ticks[0] > before  # the other task ran between requests
            assert rig.r.received == 5
            rig.r.stop()
            await srv
            await _end(t)
        finally:
            rig.close()

    asyncio.run(body())


def test_coroutine_executor_runs_after_its_204_is_sent():
    async def body():
        rig = Rig(0)
        o = rig.app
        jobs = []
        seen = []

        def spawn(coro):
            jobs.append(asyncio.create_task(coro))

        rig.reg.spawn = spawn

        async def go(args):
            seen.append(rig.r.sent)  # what the runner had sent when the work began
            await _sleep_ms(20)
            o.set(0, 1, 42)

        o.bind(0, 0, exe=go)
        try:
            srv = asyncio.create_task(rig.r.serve())
            dst = await rig.learn()
            sent = rig.r.sent
            rig.peer.sendto(_post(3, "/32770/0/0"), dst)
            resp = M.decode((await _recv(rig.peer))[0])
            assert resp.mid == 3 and resp.code == M.CHANGED
            for _ in range(100):
                if o.get(0, 1) == 42:
                    break
                await _sleep_ms(10)
            assert o.get(0, 1) == 42 and len(jobs) == 1
            assert seen == [sent + 1]  # the 2.04 had gone out before the coroutine's first line
            rig.r.stop()
            await srv
        finally:
            rig.close()

    asyncio.run(body())


def test_coroutine_handler_without_the_asyncio_driver_is_a_500():
    reg = Registry()
    dm = DM(reg, Acl(reg))
    o = reg.add(APP)
    o.add(0, {1: 0})

    async def go(args):
        o.set(0, 1, 1)

    o.bind(0, 0, exe=go)
    m = M.decode(_post(4, "/32770/0/0"))
    try:
        resp = dm.handle(m, 1, 0)
        code = resp.code
    except LwM2MError as e:
        code = e.code
    assert code == M.INTERNAL_SERVER_ERROR  # never a silent 2.04 for work that will not run
    assert o.get(0, 1) == 0


def test_wake_brings_the_driver_forward():
    async def body():
        rig = Rig()
        r = rig.r
        r.max_wait_ms = 60000
        calls = [0]

        def hook(now):
            calls[0] += 1
            return 60000  # nothing due for a minute

        r.add_hook(hook)
        try:
            srv = asyncio.create_task(r.serve())
            for _ in range(100):
                if calls[0]:
                    break
                await _sleep_ms(10)
            await _sleep_ms(50)
            n = calls[0]
            r.wake()
            for _ in range(500):  # well under the hook's minute: only wake() can explain it
                if calls[0] > n:
                    break
                await _sleep_ms(10)
            assert calls[0] == n + 1
            r.stop()
            await srv
        finally:
            rig.close()

    asyncio.run(body())


def test_stop_ends_serve_and_rebind_moves_the_watch():
    async def body():
        rig = Rig(5)
        r = rig.r
        try:
            srv = asyncio.create_task(r.serve())
            dst1 = await rig.learn()
            old = r.udp
            r.rebind(0)
            assert old.sock is None and r.udp is not old
            dst2 = await rig.learn()
            assert dst2 != dst1
            rig.peer.sendto(_get(9, "/32770/0/1"), dst2)  # the new socket is watched
            resp = M.decode((await _recv(rig.peer))[0])
            assert resp.mid == 9 and resp.payload == b"5"
            r.stop()
            await srv
            assert not [t for t in r._w.values() if t is not None]  # no reader left
        finally:
            rig.close()

    asyncio.run(body())


class FakeWlan:
    """network.WLAN's station calls Link uses; `fail` connect() calls never come up."""

    def __init__(self):
        self.up = True
        self.fail = 0
        self.connects = 0

    def isconnected(self):
        return self.up

    def connect(self, ssid, password):
        self.connects += 1
        if self.fail:
            self.fail -= 1
        else:
            self.up = True

    def disconnect(self):
        pass


class _Log:
    def __init__(self):
        self.lines = []

    def warn(self, s):
        self.lines.append(s)

    info = warn


def test_wifi_outage_reconnects_in_the_background_then_rebinds():
    from board.aiowifi import Link

    async def body():
        rig = Rig()
        r = rig.r
        w = FakeWlan()
        link = Link("lab", "pw", wlan=w, timeout_ms=100, log=lambda s: None)
        link.check_ms = 20
        link.pause = 50
        log = _Log()
        ticks = [0]

        async def ticker():
            while True:
                await _sleep_ms(5)
                ticks[0] += 1

        try:
            srv = asyncio.create_task(r.serve())
            keep = asyncio.create_task(link.keep(r, log))
            t = asyncio.create_task(ticker())
            await _sleep_ms(60)
            assert link.drops == 0 and w.connects == 0  # up: nothing to do
            old = r.udp
            w.fail = 2
            w.up = False  # the outage: two attempts fail, the third brings it back
            n = ticks[0]
            for _ in range(300):
                if r.udp is not old:
                    break
                await _sleep_ms(10)
            assert w.connects == 3 and link.drops == 1
            assert r.udp is not old and old.sock is None  # back: a new socket
            assert ticks[0] > n + 10  # the other task ran all through the outage
            assert log.lines[0].startswith("wifi: link down") and "link back" in log.lines[-1]
            # the new socket serves
            dst = await rig.learn()
            rig.peer.sendto(b"\x40\x00\x00\x07", dst)  # CoAP ping: answered with a RST
            data = (await _recv(rig.peer))[0]
            assert data[0] >> 4 & 3 == 3 and data[2:4] == b"\x00\x07"
            await _end(keep, t)
            r.stop()
            await srv
        finally:
            rig.close()

    asyncio.run(body())
