"""The client (`micropython main.py`) behind tools/bench/lossy_relay.py at 20% loss and 10% duplication both
ways against tools/lwm2m_server.py: everything completes and non-idempotent requests act once."""
import asyncio
import contextlib
import hashlib
import os
import sys

import aiocoap.numbers.constants as AC
import lwm2m_server as L
from lossy_relay import Impairment, LossyRelay
from test_peer_client import one_server, with_client
from testpkg import blob_package

EP = "lossy-1"
K = 1024


def run(coro, timeout=240):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@contextlib.contextmanager
def server_tuning(ack_timeout=0.6, max_retransmit=8):
    """The server side retransmits itself (aiocoap CON); a shorter first timeout and more tries keep
    a 20%-loss run CI-sized without any application-level retry (which would break exactly-once)."""
    T = AC.TransportTuning
    old = (T.ACK_TIMEOUT, T.MAX_RETRANSMIT)
    T.ACK_TIMEOUT, T.MAX_RETRANSMIT = ack_timeout, max_retransmit
    try:
        yield
    finally:
        T.ACK_TIMEOUT, T.MAX_RETRANSMIT = old


def config(port, lifetime=300, ep=EP):
    """The client's config.json: `ep` with the one server at `port` (the relay's)."""
    return dict(one_server(ep, "coap://127.0.0.1:%d" % port, lifetime=lifetime), log="info")


def fw_package(size=64 * K):
    """(bundle, package) of `size` filler bytes."""
    return blob_package(size, b"lossy", "lossy-app", "9.9")


def updates(srv, ep=EP):
    return [e for e in srv.events if e.kind == "update" and e.ep == ep]


def test_lossy_everything_completes_exactly_once():
    async def main():
        srv = await L.LwM2MServer().start()
        relay = await LossyRelay(("127.0.0.1", srv.port),
                                 up=Impairment(0.2, 0.1, seed=11),
                                 down=Impairment(0.2, 0.1, seed=12)).start()

        async def body(c):
            reg = await srv.wait_registered(EP, 40)
            assert "/3/0" in reg.object_paths() and "/5/0" in reg.object_paths()
            # reads of the Device object, TLV, several times (server retransmits through loss)
            for _ in range(5):
                r = await srv.read(EP, "/3/0", timeout=60)
                assert r.code == "2.05" and r.content_format == L.CF_TLV, r
                assert L.tlv_str(r.tlv()[0]) == "MicroPython"
            # lifetime write -> exactly one Update carrying it
            assert (await srv.write(EP, "/1/0/1", "250", timeout=60)).code == "2.04"
            u = await srv.wait_event("update", EP, 40)
            assert u.info.get("lifetime") == 250, u
            # N executes of Registration Update Trigger -> exactly N Updates, one after another
            n = 6
            for i in range(n):
                assert (await srv.execute(EP, "/1/0/8", timeout=60)).code == "2.04"
                u = await srv.wait_event("update", EP, 40)
                assert "lifetime" not in u.info, u
            # POST partial writes of the lifetime (TLV on the instance): each one Update
            for lt in (240, 230, 220):
                r = await srv.write(EP, "/1/0", L.encode_tlv({1: lt}), L.CF_TLV, partial=True,
                                    timeout=60)
                assert r.code == "2.04", r
                u = await srv.wait_event("update", EP, 40)
                assert u.info.get("lifetime") == lt, u
            assert (await srv.read(EP, "/1/0/1", timeout=60)).text == "220"
            # an observation delivers notifications (pmax 2 s) despite loss
            assert (await srv.write_attributes(EP, "/3/0/13", pmin=1, pmax=2, timeout=60)).code == "2.04"
            obs = await srv.observe(EP, "/3/0/13", timeout=60)
            assert obs.active and obs.first.code == "2.05"
            seqs = []
            while len(seqs) < 3:
                note = await obs.next(20)
                assert note.code == "2.05"
                seqs.append(note.seq)
            assert seqs == sorted(seqs) and len(set(seqs)) == 3, seqs
            # 64 KB firmware push through the loss: Downloaded, header name, staged image intact
            img, pkg = fw_package()
            r = await srv.push_firmware(EP, pkg, block_size=1024, timeout=90)
            assert r.code == "2.04", r
            assert (await srv.read(EP, "/5/0/3", timeout=60)).text == "2"
            assert (await srv.read(EP, "/5/0/5", timeout=60)).text == "0"
            assert (await srv.read(EP, "/5/0/6", timeout=60)).text == "lossy-app"
            assert (await srv.read(EP, "/5/0/7", timeout=60)).text == "9.9"
            with open(os.path.join(c.dir, "data", "fw", "staged.bundle"), "rb") as f:
                assert hashlib.sha256(f.read()).digest() == hashlib.sha256(img).digest()
            # give late duplicates time to arrive: still exactly 1 + n + 3 Updates, one Register
            await asyncio.sleep(2)
            assert len(updates(srv)) == 1 + n + 3, [e.info for e in updates(srv)]
            assert [e.kind for e in srv.events if e.ep == EP].count("register") == 1
            cnt = relay.counters()
            assert cnt["up"]["dropped"] > 0 and cnt["down"]["dropped"] > 0, cnt
            assert cnt["up"]["duplicated"] > 0 and cnt["down"]["duplicated"] > 0, cnt
            sys.stderr.write("lossy relay: %s\n" % relay.summary())
            print("lossy relay:", relay.summary())

        await with_client(config(relay.port), body, [relay, srv])

    with server_tuning():
        run(main())
