"""The client as one asyncio task among the application's (lwm2m.aio), on the unix port.

host_tests/apps/aio_app.py runs the client beside a 10 ms ticker and a TCP echo client, against
tools/lwm2m_server.py: register, reads, observe, a coroutine Execute and Write, a 256 KB firmware
push, a server outage and return, and a Stop that deregisters. After every phase the test checks
that the ticker and the echo task kept making progress (counts from the app's status lines); the
time figures (worst ticker stall) are tools/bench/bench_aio.py's, never asserted here.
"""
import asyncio
import hashlib
import os
import shutil
import signal
import sys
import tempfile

import lwm2m_server as L
from boardir import make_board_dir
from hostenv import Echo, micropython
from proc import Proc
from test_peer_client import one_server, with_client
from test_peer_fw import lib_bundle
from testpkg import package
from util import readme_block

EP = "aio-node"
HERE = os.path.dirname(os.path.abspath(__file__))


def statuses(p, start=0):
    """(ticks, echoes, gap, stall, jobs) of every status line from index start."""
    out = []
    for line in p.lines[start:]:
        if line.startswith("app: status "):
            out.append(tuple(int(x) for x in line.split()[2:]))
    return out


class App:
    def __init__(self, srv_port, lifetime=300):
        self.dir = tempfile.mkdtemp(prefix="lwm2m-aio-")
        make_board_dir(self.dir, dict(one_server(EP, "coap://127.0.0.1:%d" % srv_port,
                                                 lifetime=lifetime), log="info"))
        shutil.copy(os.path.join(HERE, "apps", "aio_app.py"), os.path.join(self.dir, "aio_app.py"))
        self.p = None

    def start(self, echo_port):
        self.p = Proc([micropython(), "-X", "heapsize=1M", "aio_app.py", str(echo_port)],
                      cwd=self.dir)

    def mark(self):
        return len(self.p.lines)

    async def progressed(self, since, what):
        """The ticker and the echo task both moved on since line index `since` (two status lines
        at least 250 ms apart, each count strictly higher)."""
        for _ in range(100):
            s = statuses(self.p, since)
            if len(s) >= 2 and s[-1][0] > s[0][0] and s[-1][1] > s[0][1]:
                return s[-1]
            await asyncio.sleep(0.1)
        raise AssertionError("%s: the app's tasks stalled: %r\n%s" % (
            what, statuses(self.p, since)[-3:], "\n".join(self.p.lines[-30:])))

    def close(self):
        if self.p is not None:
            self.p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


async def text(srv, path):
    r = await srv.read(EP, path)
    assert r.code == "2.05", (path, r)
    return bytes(r.payload).decode()


def test_asyncio_app_register_read_observe_push_outage_deregister():
    async def body():
        srv = await L.LwM2MServer().start()
        port = srv.port
        echo = await Echo().start()
        app = App(port, lifetime=8)  # an Update every 7.2 s: at least one falls in the outage
        servers = [srv]
        try:
            app.start(echo.port)
            m = app.mark()
            await srv.wait_registered(EP, 20)
            await asyncio.to_thread(app.p.wait_line, "app: registered", 10)
            await app.progressed(m, "register")

            # reads: the core's objects and the app's own, with live counts from its tasks
            m = app.mark()
            assert await text(srv, "/3/0/0") == "MicroPython"
            t1 = int(await text(srv, "/32769/0/0"))
            e1 = int(await text(srv, "/32769/0/1"))
            await asyncio.sleep(0.5)
            assert int(await text(srv, "/32769/0/0")) > t1
            assert int(await text(srv, "/32769/0/1")) > e1
            await app.progressed(m, "reads")

            # a coroutine Execute: 2.04 first, the work after it (its notification proves it ran)
            m = app.mark()
            obs = await srv.observe(EP, "/32769/0/2")
            assert obs.active and bytes(obs.first.payload) == b"0"
            r = await srv.execute(EP, "/32769/0/3")
            assert r.code == "2.04", r
            assert await text(srv, "/32769/0/2") == "0"  # answered before the 300 ms job ended
            n = await obs.next(5)
            assert bytes(n.payload) == b"1"
            await obs.cancel()
            # a coroutine setter: 2.04, then the value lands after its own await
            r = await srv.write(EP, "/32769/0/5", "hello")
            assert r.code == "2.04", r
            for _ in range(50):
                if await text(srv, "/32769/0/5") == "hello":
                    break
                await asyncio.sleep(0.05)
            assert await text(srv, "/32769/0/5") == "hello"
            await app.progressed(m, "execute/observe")

            # a 256 KB firmware push while the app's tasks run
            m = app.mark()
            img = lib_bundle(b"2.0.0\n")
            assert len(img) >= 256 * 1024
            # pmin 0: every state is reported (the default 1 s, issue 12, would fold a
            # sub-second push's Downloading into Downloaded)
            assert (await srv.write_attributes(EP, "/5/0/3", pmin=0)).code == "2.04"
            obs = await srv.observe(EP, "/5/0/3")
            r = await srv.push_firmware(EP, package(img), block_size=1024, timeout=30)
            assert r.code == "2.04", r
            states = []
            while not states or states[-1] != 2:
                states.append(int(bytes((await obs.next(10)).payload)))
            assert states == [1, 2], states
            with open(os.path.join(app.dir, "data", "fw", "staged.bundle"), "rb") as f:
                assert hashlib.sha256(f.read()).digest() == hashlib.sha256(img).digest()
            await obs.cancel()
            await app.progressed(m, "firmware push")

            # server outage longer than the Update interval: the app's tasks keep running; the
            # server comes back on the same port with no registrations, the retried Update gets
            # 4.04 there and the client registers again
            await srv.stop()
            servers.remove(srv)
            m = app.mark()
            await asyncio.sleep(8)
            await app.progressed(m, "server outage")
            srv = await L.LwM2MServer(port=port).start()
            servers.append(srv)
            m = app.mark()
            await srv.wait_registered(EP, 60)
            assert any("registering again" in x for x in app.p.lines[m:]), app.p.lines[m:]
            assert await text(srv, "/32769/0/2") == "1"
            await app.progressed(m, "server back")

            # Stop (a coroutine Execute awaiting client.stop()): 2.04, Deregister, the app ends
            m = app.mark()
            r = await srv.execute(EP, "/32769/0/4")
            assert r.code == "2.04", r
            await srv.wait_event("deregister", EP, 15)
            await asyncio.to_thread(app.p.wait_line, "app: done", 15, m)
            assert await asyncio.to_thread(app.p.wait_exit, 15) == 0
            assert EP not in srv.clients
        except BaseException:
            if app.p is not None:
                sys.stderr.write("app output:\n%s\n" % "\n".join(app.p.lines))
            raise
        finally:
            app.close()
            await echo.stop()
            for s in servers:
                await s.stop()

    asyncio.run(asyncio.wait_for(body(), 240))


ASYNC_START = "### asyncio quick start"
SENSOR = '''

_sensor = [21.5]


def read_sensor():  # a rising sensor
    _sensor[0] += 0.5
    return _sensor[0]

'''


def readme_asyncio_app():
    """The Thermometer class and the asyncio app.py of the README, verbatim."""
    from test_peer_app import readme_example

    return readme_example() + SENSOR + readme_block(ASYNC_START, fenced=True)


def test_readme_asyncio_app_py_through_main_py():
    async def main():
        srv = await L.LwM2MServer().start()

        async def body(c):
            reg = await srv.wait_registered("aio-readme", timeout=20)
            assert "/3303/0" in reg.object_paths()
            await srv.write_attributes("aio-readme", "/3303/0/5700", pmin=0, pmax=60)
            obs = await srv.observe("aio-readme", "/3303/0/5700")
            a = float(bytes(obs.first.payload))
            b = float(bytes((await obs.next(12)).payload))
            assert b > a  # the app's own loop polled, and the observer heard of it
            await obs.cancel()
            r = await srv.execute("aio-readme", "/3303/0/5605")
            assert r.code == "2.04", r
            for _ in range(60):  # the coroutine resets min/max a second after its 2.04
                lo = float(await text_of(srv, "aio-readme", "/3303/0/5601"))
                if lo > b:
                    break
                await asyncio.sleep(0.1)
            assert lo > b, (lo, b)  # min was the first reading (22.0), below every notified one
            c.p.p.send_signal(signal.SIGINT)  # Ctrl-C: deregister, exit 0
            await srv.wait_event("deregister", "aio-readme", 15)
            assert await c.p.exited(15) == 0

        await with_client(one_server("aio-readme", "coap://127.0.0.1:%d" % srv.port), body,
                          [srv], {"app.py": readme_asyncio_app()})

    asyncio.run(asyncio.wait_for(main(), 90))


async def text_of(srv, ep, path):
    r = await srv.read(ep, path)
    assert r.code == "2.05", (path, r)
    return bytes(r.payload).decode()


DTLS_APP = '''
import asyncio


async def main(client):
    await client.registered()
    print("app: registered")
    n = 0
    while True:  # the application's own loop keeps going beside the DTLS session
        n += 1
        await asyncio.sleep_ms(10)
        if n % 50 == 0:
            print("app: tick", n)
'''


def test_asyncio_client_over_dtls_psk():
    from dtls_relay import DtlsRelay

    ident, key = "aio-dev", b"aio-relay-psk-0123456789"

    async def main():
        srv = await L.LwM2MServer().start()
        relay = await DtlsRelay(("127.0.0.1", srv.port), {ident.encode(): key}).start()

        async def body(c):
            p = c.p
            await srv.wait_registered("aio-dtls", 30)
            assert relay.kinds("ready")  # the Register came through a DTLS session
            await p.line("app: registered", 10)
            r = await srv.read("aio-dtls", "/3/0/0")
            assert (r.code, bytes(r.payload)) == ("2.05", b"MicroPython")
            await srv.write_attributes("aio-dtls", "/3/0/13", pmin=1, pmax=2)
            obs = await srv.observe("aio-dtls", "/3/0/13")
            n1 = await obs.next(5)
            n2 = await obs.next(5)
            assert n2.seq > n1.seq
            m = p.mark()
            await p.line("app: tick", 10, m)  # the app's loop runs
            p.p.send_signal(signal.SIGINT)
            await srv.wait_event("deregister", "aio-dtls", 15)
            assert await p.exited(15) == 0
            assert key.hex() not in p.output()

        await with_client(one_server("aio-dtls", "coaps://127.0.0.1:%d" % relay.port,
                                     psk_identity=ident, psk_key=key.hex()),
                          body, [relay, srv], {"app.py": DTLS_APP})

    asyncio.run(asyncio.wait_for(main(), 90))


def test_asyncio_reboot_answers_then_deregisters_and_exits():
    from board.host import REBOOT_EXIT

    async def main():
        srv = await L.LwM2MServer().start()

        async def body(c):
            await srv.wait_registered("aio-reboot", 20)
            await c.p.line("app: registered", 10)
            r = await srv.execute("aio-reboot", "/3/0/4")
            assert r.code == "2.04", r  # answered before the reboot
            await srv.wait_event("deregister", "aio-reboot", 15)
            assert await c.p.exited(15) == REBOOT_EXIT

        await with_client(one_server("aio-reboot", "coap://127.0.0.1:%d" % srv.port), body,
                          [srv], {"app.py": DTLS_APP})

    asyncio.run(asyncio.wait_for(main(), 60))


def test_readme_own_program_registers_then_stop_deregisters():
    """The README's asyncio program without main.py, verbatim: registers, then stop()."""
    import subprocess

    prog = readme_block("in a program of your own:", fenced=True)
    assert "client.stop()" in prog

    async def body():
        srv = await L.LwM2MServer().start()
        d = tempfile.mkdtemp(prefix="lwm2m-aioprog-")
        make_board_dir(d, one_server("aio-prog", "coap://127.0.0.1:%d" % srv.port))
        with open(os.path.join(d, "prog.py"), "w") as f:
            f.write(prog)
        try:
            # lib/ on the path as on a board (/lib); .frozen keeps the port's own asyncio
            r = await asyncio.to_thread(
                subprocess.run, [micropython(), "-X", "heapsize=1M", "prog.py"], cwd=d,
                env=dict(os.environ, MICROPYPATH=".frozen:lib"), capture_output=True, text=True,
                timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
            kinds = [e.kind for e in srv.events if e.ep == "aio-prog"]
            assert "register" in kinds and kinds[-1] == "deregister", kinds
            assert "aio-prog" not in srv.clients
        finally:
            shutil.rmtree(d, ignore_errors=True)
            await srv.stop()

    asyncio.run(asyncio.wait_for(body(), 90))
