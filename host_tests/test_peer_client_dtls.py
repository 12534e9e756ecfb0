"""End to end over DTLS-PSK: `micropython main.py` in a board-like dir with a coaps:// server
account -> tools/dtls_relay.py (python-mbedtls, terminates DTLS) -> tools/lwm2m_server.LwM2MServer.

Why a relay as well as libcoap: coap-server-openssl/-gnutls -d 10 do answer the Register (2.01 with
Location-Path "rd": it creates the resource /rd holding our link list) and the Deregister, which the
last test checks, but they never send requests to a client, so reads and observes over DTLS need an
LwM2M server behind a DTLS terminator: the relay."""
import asyncio
import re
import signal
import subprocess

import pytest

import lwm2m_server as L
from dtls_relay import DtlsRelay
from test_peer_client import Client, device_tlv, run
from test_peer_dtls import Server

EP = "dtls-e2e-1"
ID = "dev-1"
KEY = b"relay-psk-0123456789"
LIBCOAP_KEY = b"secretPSK-0123456789"


def config(port, key=KEY, lifetime=300):
    return {"endpoint": EP, "local_port": 0, "data_dir": "data", "log": "debug",
            "servers": [{"uri": "coaps://127.0.0.1:%d" % port, "ssid": 1, "lifetime": lifetime,
                         "psk_identity": ID, "psk_key": key.hex()}]}


async def with_client(cfg, body, stop):
    c = Client(cfg)
    try:
        await body(c)
    except BaseException:
        print("client output:\n%s" % c.output())
        raise
    finally:
        c.close()
        for s in stop:
            await s.stop()


def no_key(c):
    out = c.output()
    assert KEY.hex() not in out and KEY.decode() not in out and "wrong-key" not in out, out


def test_register_read_observe_deregister_over_dtls():
    async def main():
        srv = await L.LwM2MServer().start()
        relay = await DtlsRelay(("127.0.0.1", srv.port), {ID.encode(): KEY}).start()

        async def body(c):
            reg = await srv.wait_registered(EP, 30)
            # the server saw the Register come from the relay's upstream socket, not the client
            assert reg.remote.sockaddr[0] in ("127.0.0.1", "::ffff:127.0.0.1")
            assert relay.kinds("ready") and relay.kinds("ready")[0][2].startswith("TLS-PSK-WITH-AES")
            await c.line("lwm2m: coaps://127.0.0.1:%d: DTLS session up (TLS-PSK-WITH-AES" % relay.port)
            await c.line("lwm2m: registered with coaps://127.0.0.1:%d as %s" % (
                relay.port, reg.location))
            d = device_tlv(await srv.read(EP, "/3/0"))
            assert L.tlv_str(d[0]) == "MicroPython" and L.tlv_str(d[16]) == "U"
            assert (await srv.read(EP, "/0/0")).code == "4.04"
            assert (await srv.write_attributes(EP, "/3/0/13", pmin=1, pmax=2)).code == "2.04"
            obs = await srv.observe(EP, "/3/0/13")
            assert obs.active and obs.first.code == "2.05"
            n1 = await obs.next(5)
            n2 = await obs.next(5)
            assert n1.code == "2.05" and n2.seq > n1.seq
            assert int(n2.payload) >= int(obs.first.payload) + 1
            c.p.p.send_signal(signal.SIGINT)
            await srv.wait_event("deregister", EP, 10)
            assert await asyncio.to_thread(c.p.wait_exit, 15) == 0
            no_key(c)

        await with_client(config(relay.port), body, [relay, srv])

    run(main())


def test_wrong_key_fails_clearly_retries_and_never_registers():
    async def main():
        srv = await L.LwM2MServer().start()
        relay = await DtlsRelay(("127.0.0.1", srv.port), {ID.encode(): KEY}).start()

        async def body(c):
            first = await c.line("lwm2m: coaps://127.0.0.1:%d: DTLS handshake failed" %
                                 relay.port, 20)
            assert "wrong PSK identity or key?" in first and "registration failed" in first, first
            m = re.search(r"next handshake in (\d+) s", first)
            assert m and 3 <= int(m.group(1)) <= 7, first
            await c.line("lwm2m: coaps://127.0.0.1:%d: DTLS handshake again (attempt 2)" %
                         relay.port, 15)
            # the second attempt fails too, and the client is still alive and backing off longer
            n = 0
            for _ in range(100):
                n = sum(1 for ln in c.p.lines if "DTLS handshake failed" in ln)
                if n >= 2:
                    break
                await asyncio.sleep(0.1)
            assert n == 2, c.output()
            second = [ln for ln in c.p.lines if "DTLS handshake failed" in ln][1]
            assert 7 <= int(re.search(r"next handshake in (\d+) s", second).group(1)) <= 13, second
            assert c.p.p.poll() is None
            assert len(relay.kinds("failed")) == 2 and not relay.kinds("ready")
            assert EP not in srv.clients and not [e for e in srv.events if e.kind == "register"]
            no_key(c)
            c.p.p.send_signal(signal.SIGINT)  # nothing to deregister: it just stops
            assert await asyncio.to_thread(c.p.wait_exit, 15) == 0

        await with_client(config(relay.port, key=b"wrong-key-000"), body, [relay, srv])

    run(main())


def test_relay_restart_rehandshakes_and_registers_again():
    async def main():
        srv = await L.LwM2MServer().start()
        relay = await DtlsRelay(("127.0.0.1", srv.port), {ID.encode(): KEY}).start()
        port = relay.port
        state = {"relay": relay}

        async def body(c):
            reg1 = await srv.wait_registered(EP, 30)
            n = len([e for e in srv.events if e.kind == "register"])
            # restart: the old relay says close_notify and forgets the session, a new one comes up
            await relay.stop(notify=True)
            state["relay"] = r2 = await DtlsRelay(("127.0.0.1", srv.port), {ID.encode(): KEY},
                                                  port=port).start()
            await c.line("lwm2m: coaps://127.0.0.1:%d: DTLS session lost (the peer closed the "
                         "DTLS session); registration suspended" % port, 10)
            await c.line("lwm2m: coaps://127.0.0.1:%d: new DTLS session: registering again" % port,
                         20)
            await srv.wait_event("register", EP, 10)
            regs = [e for e in srv.events if e.kind == "register"]
            assert len(regs) == n + 1
            reg2 = srv.clients[EP]
            assert reg2.remote != reg1.remote  # a new upstream socket: a new session
            d = device_tlv(await srv.read(EP, "/3/0"))
            assert L.tlv_str(d[0]) == "MicroPython"
            assert r2.kinds("ready") and r2.kinds("down")
            no_key(c)

        try:
            await with_client(config(port), body, [])
        finally:
            await state["relay"].stop()
            await srv.stop()

    run(main(), 150)


def coap_get_rd(port):
    """GET /rd from libcoap's server over DTLS: (response line, payload text)."""
    out = subprocess.run(["coap-client-openssl", "-m", "get", "-u", "probe", "-k", LIBCOAP_KEY.decode(),
                          "-v", "7", "coaps://127.0.0.1:%d/rd" % port],
                         capture_output=True, text=True, timeout=30)
    got = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("v:1 t:ACK")]
    assert got, out.stdout + out.stderr
    return got[-1]


@pytest.mark.parametrize("name", ("coap-server-openssl", "coap-server-gnutls"))
def test_register_deregister_with_libcoap_dtls_server(name):
    """libcoap's server with -d 10 creates /rd from the Register (2.01, Location-Path rd) and deletes
    it on Deregister. It never sends requests to a client, so reads/observes are the relay's part."""
    async def main():
        srv = Server(name, key=LIBCOAP_KEY, extra=("-d", "10"))
        cfg = config(srv.dtls_port, key=LIBCOAP_KEY)
        c = Client(cfg)
        try:
            await c.line("lwm2m: coaps://127.0.0.1:%d: DTLS session up (TLS-PSK-WITH-AES" %
                         srv.dtls_port, 20)
            await c.line("lwm2m: registered with coaps://127.0.0.1:%d as /rd (lt=300 b=U)" %
                         srv.dtls_port, 20)
            ack = await asyncio.to_thread(coap_get_rd, srv.dtls_port)
            assert " c:2.05 " in ack, ack
            body = ack.split(" :: ", 1)[1]
            assert "</1/0>" in body and "</3/0>" in body and "</0/" not in body, ack
            c.p.p.send_signal(signal.SIGINT)
            await c.line("lwm2m: deregistered from coaps://127.0.0.1:%d" % srv.dtls_port, 15)
            assert await asyncio.to_thread(c.p.wait_exit, 15) == 0
            ack = await asyncio.to_thread(coap_get_rd, srv.dtls_port)
            assert " c:4.04 " in ack, ack  # the DELETE went through the DTLS session
            out = c.output()
            assert LIBCOAP_KEY.hex() not in out and LIBCOAP_KEY.decode() not in out
        except BaseException:
            print("client output:\n%s" % c.output())
            raise
        finally:
            c.close()
            srv.stop()

    run(main())
