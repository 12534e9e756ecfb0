"""Key hygiene of the real client process over DTLS-PSK (issue 7): `micropython main.py` with a
coaps:// account against tools/dtls_relay.py (python-mbedtls) in front of the project's own
tools/lwm2m_server.py. With the wrong key (a PSK mismatch) or the right one,
neither key shows up in the client's stdout/stderr - raw, hex in either case, or base64 - even at
log level debug. The in-memory half (datagrams, every log line, bootstrap) is test_security.py."""
import asyncio
import base64
import os
import signal

import pytest

import lwm2m_server as L
from dtls_relay import DtlsRelay
from test_peer_client import Client, run

EP = "sec-dtls-1"
ID = "sec-ident-1"
RIGHT = b"R1ght!Key#SECRET-psk"
WRONG = b"Wr0ng!Key#SECRET-psk"


def config(port, key):
    return {"endpoint": EP, "local_port": 0, "data_dir": "data", "log": "debug",
            "servers": [{"uri": "coaps://127.0.0.1:%d" % port, "ssid": 1, "lifetime": 300,
                         "psk_identity": ID, "psk_key": key.hex()}]}


def forms(key):
    return (key.decode(), key.hex(), key.hex().upper(), base64.b64encode(key).decode())


def assert_no_key(out):
    for k in (RIGHT, WRONG):
        for f in forms(k):
            assert f not in out, (f, out)


@pytest.mark.parametrize("key", (WRONG, RIGHT))
def test_psk_never_in_client_output(key):
    async def main():
        srv = await L.LwM2MServer().start()
        relay = await DtlsRelay(("127.0.0.1", srv.port), {ID.encode(): RIGHT}).start()
        c = Client(config(relay.port, key))
        try:
            if key == WRONG:
                line = await c.line("lwm2m: coaps://127.0.0.1:%d: DTLS handshake failed" %
                                    relay.port, 20)
                assert "wrong PSK identity or key?" in line, line
                assert relay.kinds("failed") and not relay.kinds("ready")
                assert EP not in srv.clients
            else:
                await c.line("lwm2m: registered with coaps://127.0.0.1:%d" % relay.port, 30)
                await srv.wait_registered(EP, 10)
            # the key the client was given is on its flash (hex, the store's bytes escape), so
            # the hex form checked below is a form it really holds
            f = open(os.path.join(c.dir, "data", "accounts.rec"), "rb")
            rec = f.read()
            f.close()
            assert key.hex().encode() in rec
            c.p.p.send_signal(signal.SIGINT)
            assert await asyncio.to_thread(c.p.wait_exit, 15) == 0
            out = c.output()
            assert "lwm2m: stopped" in out, out
            assert_no_key(out)
        except BaseException:
            print("client output:\n%s" % c.output())
            raise
        finally:
            c.close()
            await relay.stop()
            await srv.stop()

    run(main())
