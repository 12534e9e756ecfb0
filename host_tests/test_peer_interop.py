"""Issue 12: what servers nobody here wrote saw on the wire, replayed against `micropython
main.py` in a board-like directory. The peers: the project's LwM2M server and bootstrap server
(tools/lwm2m_server.py, on aiocoap), libcoap's coap-client as a stranger, and a bare UDP socket
speaking CoAP through aiocoap's Message codec where a test must see every datagram (or that none
came). Each test names the numbered point of the issue it covers."""
# Over ~400 lines on purpose: issue 12's replays against one server process, one test per point.
import asyncio
import select
import socket
import subprocess
import time

import lwm2m_server as L
from aiocoap import ACK, CON, GET, POST, PUT, RST, Message
from aiocoap.numbers.codes import Code
from hostenv import coap_client_log, peer_bin
from lwm2m.store import Store
from test_peer_client import Client, config, run, with_client
from hostenv import micropython
from proc import Proc

EP = "interop-1"


def cfg(servers=(), bootstrap=None, lifetime=300, ep=EP):
    return config(servers, bootstrap, lifetime, ep)


class Node(Client):
    """A client that can be stopped and started again on the same board directory (store)."""

    def restart(self):
        self.p.kill()
        self.p = Proc([micropython(), "-X", "heapsize=1M", "main.py"], cwd=self.dir)


async def text(srv, path):
    r = await srv.read(EP, path)
    assert r.code == "2.05", (path, r)
    return r.text


# ---- 3: a value that locks the client out -----------------------------------------------------

def test_server_object_writes_are_range_checked():
    async def main():
        srv = await L.LwM2MServer().start()

        async def body(c):
            await srv.wait_registered(EP, 20)
            # the datagram the issue gives: TLV C1 01 F0, a 1.0 TLV integer -16
            r = await srv.write(EP, "/1/0/1", bytes.fromhex("C101F0"), L.CF_TLV)
            assert r.code == "4.00", r
            assert await text(srv, "/1/0/1") == "300"
            for path, v in (("/1/0/1", "0"), ("/1/0/2", "-1"), ("/1/0/3", "-5"),
                            ("/1/0/5", "-1"), ("/1/0/1", "4294967296")):
                assert (await srv.write(EP, path, v)).code == "4.00", path
            # an instance write with one bad value applies nothing
            inst = L.encode_tlv({1: -16, 2: 5, 6: True, 7: "U"})
            assert (await srv.write(EP, "/1/0", inst, L.CF_TLV)).code == "4.00"
            assert await text(srv, "/1/0/1") == "300"
            assert (await srv.read(EP, "/1/0/2")).code == "4.04"
            # nothing was stored or sent: the next Update carries no lifetime
            assert (await srv.execute(EP, "/1/0/8")).code == "2.04"
            u = await srv.wait_event("update", EP, 10)
            assert u.info == {"count": 1}, u
            # a value in range still works
            assert (await srv.write(EP, "/1/0/1", L.tlv_resource(1, 240), L.CF_TLV)).code == "2.04"
            u = await srv.wait_event("update", EP, 10)
            assert u.info == {"count": 2, "lifetime": 240}, u

        await with_client(cfg([(srv.port, 1)]), body, [srv])

    run(main())


def test_stored_out_of_range_value_is_never_sent_and_refusals_are_logged():
    async def main():
        srv = await L.LwM2MServer().start()
        c = Node(cfg([(srv.port, 1)]))
        try:
            await srv.wait_registered(EP, 20)
            c.p.kill()
            # what an older build stored after `PUT /1/0/1` C1 01 F0
            st = Store(c.dir + "/data")
            rec = st.load("accounts")
            assert rec["1"]["0"]["1"] == 300, rec
            rec["1"]["0"]["1"] = -16
            assert st.save("accounts", rec)
            # the server refuses the first Register: the log says with what code
            srv.refuse_register = "4.03"
            c.restart()
            await c.line("lwm2m: store: accounts corrupt, factory bootstrap from config")
            await srv.wait_event("register-refused", EP, 20)
            await c.line("lwm2m: Register refused by coap://127.0.0.1:%d: 4.03" % srv.port)
            srv.refuse_register = None
            e = await srv.wait_event("register", EP, 20)
            assert e.info["lifetime"] == 300, e
        except BaseException:
            print("client output:\n" + c.output())
            raise
        finally:
            c.close()
            await srv.stop()

    run(main())


# ---- 1: Write-Attributes that unset ------------------------------------------------------------

def test_write_attributes_without_value_removes_them():
    async def main():
        srv = await L.LwM2MServer().start()

        async def body(c):
            await srv.wait_registered(EP, 20)
            assert (await srv.write_attributes(EP, "/3/0/13", pmin=1, pmax=2)).code == "2.04"
            assert (await srv.discover(EP, "/3/0/13")).payload == b"</3/0/13>;pmin=1;pmax=2"
            # PUT /3/0/13?pmin&pmax&gt&lt&st, as the issue saw it
            r = await srv.write_attributes(EP, "/3/0/13", pmin=True, pmax=True, gt=True, lt=True,
                                           st=True)
            assert r.code == "2.04", r
            assert (await srv.discover(EP, "/3/0/13")).payload == b"</3/0/13>"
            # an Integer (/3/0/10): set, then remove only some
            assert (await srv.write_attributes(EP, "/3/0/10", pmin=3, gt=5, st=1)).code == "2.04"
            assert (await srv.write_attributes(EP, "/3/0/10", gt=True, st=True)).code == "2.04"
            assert (await srv.discover(EP, "/3/0/10")).payload == b"</3/0/10>;pmin=3"
            # removing gt/lt/st is valid on any resource, a String too
            assert (await srv.write_attributes(EP, "/3/0/0", gt=True, lt=True)).code == "2.04"
            # setting them there still is not
            assert (await srv.write_attributes(EP, "/3/0/0", gt=1)).code == "4.00"

        await with_client(cfg([(srv.port, 1)]), body, [srv])

    run(main())


# ---- 2: firmware push in TLV -------------------------------------------------------------------

def _fw_package(total):
    """A firmware package (header + application bundle) of exactly `total` bytes."""
    import hashlib
    import io

    from board.fwboot import write_bundle
    from lwm2m.fwpkg import HDR_LEN, make_header

    for n in range(total - HDR_LEN, 0, -1):
        b = io.BytesIO()
        write_bundle(b, [("blob.bin", bytes((i * 7) & 0xFF for i in range(n)))])
        body = b.getvalue()
        if len(body) == total - HDR_LEN:
            break
    return make_header(len(body), hashlib.sha256(body).digest(), "tlv-pushed", "1.2") + body


def test_firmware_push_wrapped_in_tlv():
    async def main():
        srv = await L.LwM2MServer().start()

        async def body(c):
            await srv.wait_registered(EP, 20)
            pkg = _fw_package(2176)  # the 2,176 B value
            wrapped = L.tlv_resource(0, pkg)
            assert wrapped[:4] == bytes.fromhex("D0000880"), wrapped[:4].hex()
            r = await srv.push_firmware(EP, wrapped, block_size=256, content_format=L.CF_TLV)
            assert r.code == "2.04", r
            assert await text(srv, "/5/0/3") == "2"  # Downloaded
            assert await text(srv, "/5/0/6") == "tlv-pushed"
            # a single 228 B block (no Block1), TLV-wrapped as well
            small = L.tlv_resource(0, _fw_package(228 - 3))
            assert len(small) == 228
            r = await srv.push_firmware(EP, small, block_size=256, content_format=L.CF_TLV)
            assert r.code == "2.04", r
            assert await text(srv, "/5/0/3") == "2"
            # a TLV whose length says more than arrives is refused, not taken as a package
            bad = bytearray(L.tlv_resource(0, pkg))
            bad[2:4] = (4000).to_bytes(2, "big")
            r = await srv.push_firmware(EP, bytes(bad), block_size=256, content_format=L.CF_TLV)
            assert r.code == "4.00", r
            # JSON is still no format for a package
            r = await srv.push_firmware(EP, b"{}", content_format=L.CF_JSON)
            assert r.code == "4.15", r

        await with_client(cfg([(srv.port, 1)]), body, [srv])

    run(main())


# ---- 5, 11, 13: reporting ----------------------------------------------------------------------

def _with_registered(test):
    async def main():
        srv = await L.LwM2MServer().start()

        async def body(c):
            await srv.wait_registered(EP, 20)
            await test(srv)

        await with_client(cfg([(srv.port, 1)]), body, [srv])

    run(main())


def test_current_time_notifies_when_observed_without_attributes():
    async def t(srv):
        # 5: Current Time changes every second; observed with no pmax it notifies like any
        # changing value
        obs = await srv.observe(EP, "/3/0/13")
        assert obs.active
        n1 = await obs.next(5)
        n2 = await obs.next(5)
        assert int(n2.payload) > int(n1.payload) >= int(obs.first.payload)

    _with_registered(t)


def test_default_minimum_period_is_one_second():
    async def t(srv):
        # 11: no /1/0/2, so pmin is 1 s: a change right after the observe response waits
        assert (await srv.read(EP, "/1/0/2")).code == "4.04"
        obs = await srv.observe(EP, "/3/0/14")
        t_resp = srv.clock() - srv.t0
        assert (await srv.write(EP, "/3/0/14", "+01:00")).code == "2.04"
        n = await obs.next(5)
        assert n.payload == b"+01:00"
        assert n.t - t_resp >= 0.8, (n.t, t_resp)

    _with_registered(t)


def test_pmin_equal_pmax_notifies_every_pmax():
    async def t(srv):
        # 13: pmin == pmax is accepted and honoured: a notification every pmax, no change
        assert (await srv.write_attributes(EP, "/3/0/15", pmin=1, pmax=1)).code == "2.04"
        obs = await srv.observe(EP, "/3/0/15")
        a = await obs.next(5)
        b = await obs.next(5)
        assert a.payload == b.payload == b"UTC" and b.seq > a.seq

    _with_registered(t)


# ---- 8: binding changes ------------------------------------------------------------------------

def test_binding_write_sends_update_and_unsupported_binding_is_refused():
    async def main():
        srv = await L.LwM2MServer().start()

        async def body(c):
            await srv.wait_registered(EP, 20)
            assert (await srv.write(EP, "/1/0/7", "UQ")).code == "2.04"
            u = await srv.wait_event("update", EP, 10)
            assert u.info == {"count": 1, "binding": "UQ"}, u
            assert srv.clients[EP].binding == "UQ"
            for b in ("S", "US", "UQS", "X", ""):
                assert (await srv.write(EP, "/1/0/7", b)).code == "4.00", b
            assert await text(srv, "/1/0/7") == "UQ"
            assert (await srv.write(EP, "/1/0/7", "U")).code == "2.04"
            u = await srv.wait_event("update", EP, 10)
            assert u.info == {"count": 2, "binding": "U"}, u

        await with_client(cfg([(srv.port, 1)]), body, [srv])

    run(main())


# ---- 6, 7: the bootstrap server after the first bootstrap --------------------------------------

def _stranger_put(port, path, value):
    r = subprocess.run([peer_bin("coap-client-openssl"), "-B", "5", "-v", "7", "-m", "put",
                        "-e", value, "coap://127.0.0.1:%d%s" % (port, path)],
                       capture_output=True, timeout=30)
    _sent, recv = coap_client_log((r.stdout + b"\n" + r.stderr).decode("latin-1"))
    return recv[-1].code if recv else None


def test_server_initiated_bootstrap_while_registered_and_unbootstrapping():
    async def main():
        a = await L.LwM2MServer().start()
        b = await L.LwM2MServer().start()
        bs = await L.BootstrapServer().start()
        bs.provision = {
            "bootstrap": {"uri": "coap://127.0.0.1:%d" % bs.port},
            "servers": [{"uri": "coap://127.0.0.1:%d" % a.port, "ssid": 1, "lifetime": 300},
                        {"uri": "coap://127.0.0.1:%d" % b.port, "ssid": 2, "lifetime": 300}]}

        async def body(c):
            f = await bs.wait_bootstrapped(EP, 20)
            assert f.info["ok"], bs.results[EP]
            ra = await a.wait_registered(EP, 20)
            await b.wait_registered(EP, 20)
            # a stranger (libcoap) writing the Server object gets 4.01
            port = ra.remote.sockaddr[1]
            assert await asyncio.to_thread(_stranger_put, port, "/1/0/1", "61") == "4.01"
            # 6: the bootstrap server writes a lifetime while we are registered
            r = await bs.send(EP, "PUT", "/1/0/1", L.tlv_resource(1, 60), L.CF_TLV)
            assert r.code == "2.04", r
            assert (await bs.send(EP, "POST", "/bs")).code == "2.04"
            u = await a.wait_event("update", EP, 10)
            assert u.info == {"count": 1, "lifetime": 60}, u
            # 7: unbootstrapping server 2 (/0/2 + /1/1) de-registers from it
            assert (await bs.send(EP, "DELETE", "/1/1")).code == "2.02"
            assert (await bs.send(EP, "DELETE", "/0/2")).code == "2.02"
            assert (await bs.send(EP, "POST", "/bs")).code == "2.04"
            d = await b.wait_event("deregister", EP, 10)
            assert d.info["location"] == "/rd/1"
            # server 1 kept its registration throughout
            assert [e.kind for e in a.events if e.ep == EP].count("register") == 1
            assert await text(a, "/1/0/1") == "60"

        await with_client(cfg(bootstrap=bs.port), body, [a, b, bs])

    run(main())


# ---- 12: endpoint name length ------------------------------------------------------------------

def test_endpoint_name_at_most_63_bytes():
    async def main():
        srv = await L.LwM2MServer().start()
        c = Client(cfg([(srv.port, 1)], ep="e" * 64))
        try:
            rc = await asyncio.to_thread(c.p.wait_exit, 20)
            assert rc != 0
            assert "config: endpoint: longer than 63 bytes" in c.output(), c.output()
            assert not [e for e in srv.events if e.kind == "register"]
        finally:
            c.close()

        async def body(c):
            reg = await srv.wait_registered("f" * 63, 20)
            assert reg.ep == "f" * 63

        await with_client(cfg([(srv.port, 1)], ep="f" * 63), body, [srv])

    run(main())


# ---- 9, 10: while Disabled, seen datagram by datagram ------------------------------------------

class Raw:
    """A bare UDP LwM2M server: every datagram in and out is visible to the test."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.client = None
        self.mid = 0x2000
        self.log = []  # every datagram received, for the failure report

    def recv(self, timeout=15):
        r, _, _ = select.select([self.s], [], [], timeout)
        if not r:
            raise AssertionError("nothing from the client in %s s" % timeout)
        data, self.addr = self.s.recvfrom(2048)
        m = Message.decode(data)
        self.log.append("%s %s mid=%04x tok=%s %s %r" % (
            m.mtype, m.code, m.mid, m.token.hex(), "/".join(m.opt.uri_path), m.payload[:16]))
        return m

    def send(self, m):
        self.s.sendto(m.encode(), self.client)

    def answer(self, req, code, location=None):
        m = Message(code=code)
        m.mtype, m.mid, m.token = ACK, req.mid, req.token
        if location:
            m.opt.location_path = location
        self.send(m)

    def request(self, code, path, payload=b"", token=b"\x42", cf=None, observe=None):
        self.mid += 1
        m = Message(code=code, uri_path=path.strip("/").split("/"), payload=payload)
        m.mtype, m.mid, m.token = CON, self.mid, token
        if cf is not None:
            m.opt.content_format = cf
        if observe is not None:
            m.opt.observe = observe
        self.send(m)
        return self.mid

    def wait_register(self, loc):
        while True:
            m = self.recv(20)
            if m.code == POST and list(m.opt.uri_path) == ["rd"]:
                self.client = self.addr
                self.answer(m, Code.CREATED, ["rd", loc])
                return m

    def call(self, code, path, **kw):
        """Send a request and return its piggy-backed answer (notifications meanwhile kept)."""
        mid = self.request(code, path, **kw)
        while True:
            m = self.recv()
            if m.mtype == ACK and m.mid == mid:
                return m

    def close(self):
        self.s.close()


def _raw_client(raw):
    return Client(cfg([(raw.port, 1)]))


def _disable_and_return(check_silence):
    raw = Raw()
    c = _raw_client(raw)
    try:
        raw.wait_register("1")
        assert raw.call(PUT, "/1/0/5", payload=b"4", cf=0).code == Code.CHANGED
        # 10: an observation that changes every second (/3/0/13), kept through Disable
        tok = b"\x07\x77"
        first = raw.call(GET, "/3/0/13", token=tok, observe=0)
        assert first.code == Code.CONTENT and first.opt.observe is not None
        assert raw.call(POST, "/1/0/4").code == Code.CHANGED
        while True:  # notifications may still come before the Deregister
            m = raw.recv()
            if m.code == Code.DELETE:
                assert list(m.opt.uri_path) == ["rd", "1"]
                raw.answer(m, Code.DELETED)
                break
        if check_silence:
            # 9: a confirmable GET from the disabled server: no ACK, no RST, no answer; the
            # next datagram from the client is its Register after the Disable Timeout
            raw.request(GET, "/3/0", token=b"\x09")
        m = raw.recv(20)
        assert m.code == POST and list(m.opt.uri_path) == ["rd"], m
        raw.answer(m, Code.CREATED, ["rd", "2"])
        # 10: the notifications stored while Disabled arrive, with the observation's token
        got = []
        while len(got) < 2:
            m = raw.recv(10)
            if m.token == tok and m.code == Code.CONTENT:
                got.append(m)
                if m.mtype == CON:
                    raw.answer(m, Code.EMPTY)
        values = [int(x.payload) for x in got]
        assert values[1] > values[0] >= int(first.payload), values
        # the server resets the observation (RST to a notification, once the stored ones are
        # through: RFC 7641 ties a RST to the latest notification): it ends
        last = time.monotonic()
        while True:
            m = raw.recv(10)
            if m.token != tok:
                continue
            now = time.monotonic()
            if now - last > 0.5:
                rst = Message(code=Code.EMPTY)
                rst.mtype, rst.mid, rst.token = RST, m.mid, b""
                raw.send(rst)
                break
            last = now
        # after the RST nothing more of it (pmin is 1 s: the next would be due within that)
        late = []
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            r, _, _ = select.select([raw.s], [], [], max(0, end - time.monotonic()))
            if r and raw.recv().token == tok:
                late.append(raw.log[-1])
        assert late == [], late
        assert raw.call(GET, "/3/0/15", token=b"\x0a").payload == b"UTC"  # still answering
    except BaseException:
        print("client output:\n" + c.output())
        print("datagrams:\n" + "\n".join(raw.log))
        raise
    finally:
        c.close()
        raw.close()



def test_disabled_client_answers_nothing():
    _disable_and_return(True)


def test_notifications_stored_while_disabled_are_reported_after():
    _disable_and_return(False)
