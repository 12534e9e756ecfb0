"""Loss accounting against tools/bench/lossy_relay.py: every dropped CON Update costs exactly one
retransmission, Executes act once, and the client registers again with a restarted server."""
import asyncio
import sys

from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import Type

import lwm2m_server as L
from lossy_relay import Impairment, LossyRelay
from test_peer_client import Client, with_client
from test_peer_lossy import config, server_tuning, updates

EP = "lossy-loss-1"
MAX_RETRANSMIT = 4  # RFC 7252 default, lib/coap/endpoint.py


def run(coro, timeout):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class RecImpairment(Impairment):
    """Impairment that records (datagram, dropped) for every decision it makes."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.cur = None
        self.log = []

    def plan(self):
        out = super().plan()
        self.log.append((self.cur, not out))
        return out


class RecRelay(LossyRelay):
    def _forward(self, imp, via, data, dest):
        imp.cur = data
        super()._forward(imp, via, data, dest)


def is_update(data):
    try:
        m = Message.decode(data)
    except Exception:
        return None
    p = list(m.opt.uri_path)
    if m.mtype == Type.CON and m.code == Code.POST and len(p) == 2 and p[0] == "rd":
        return m.mid
    return None


def update_sends(log):
    """mid -> [dropped?, ...] in send order for every CON Update the client sent."""
    out = {}
    for data, dropped in log:
        mid = is_update(data)
        if mid is not None:
            out.setdefault(mid, []).append(dropped)
    return out


def test_update_retransmissions_match_drops():
    n = 20

    async def main():
        srv = await L.LwM2MServer().start()
        up = RecImpairment(drop=0.3, seed=7)
        relay = await RecRelay(("127.0.0.1", srv.port), up=up, down=RecImpairment(seed=8)).start()

        async def body(c):
            await srv.wait_registered(EP, 40)
            for i in range(n):
                assert (await srv.execute(EP, "/1/0/8", timeout=60)).code == "2.04"
                u = await srv.wait_event("update", EP, 40)
                assert "lifetime" not in u.info, u
            await asyncio.sleep(1.0)  # a late duplicate would show up as an extra Update
            ups = updates(srv, EP)
            assert len(ups) == n, [e.info for e in ups]
            assert [e.info["count"] for e in ups] == list(range(1, n + 1))
            assert [e.kind for e in srv.events if e.ep == EP].count("register") == 1
            cnt = relay.counters()
            # every datagram the client sent went through one decision, none duplicated
            assert cnt["up"]["passed"] + cnt["up"]["dropped"] == len(up.log)
            assert cnt["up"]["duplicated"] == 0 and cnt["down"]["dropped"] == 0
            sends = update_sends(up.log)
            assert len(sends) == n, sends  # one MID per Update: no new exchange for a retry
            sent = sum(len(v) for v in sends.values())
            drops = sum(v.count(True) for v in sends.values())
            for mid, v in sends.items():
                # each drop causes one retransmission, the last copy got through, no give-up
                assert v[-1] is False and v.count(True) == len(v) - 1, (mid, v)
                assert len(v) <= MAX_RETRANSMIT + 1, (mid, v)
            retrans = sent - n
            assert drops > 0
            assert retrans == drops, (retrans, drops)
            msg = "updates %d sent %d drops %d retransmissions %d worst %d; relay %s\n" % (
                n, sent, drops, retrans, max(len(v) for v in sends.values()), relay.summary())
            sys.stderr.write(msg)
            print(msg)

        await with_client(config(relay.port, ep=EP), body, [relay, srv])

    with server_tuning():
        run(main(), 200)


def test_server_loss_and_restart_under_loss():
    async def main():
        srv = await L.LwM2MServer().start()
        port = srv.port
        state = {"srv": srv}
        relay = await LossyRelay.symmetric(("127.0.0.1", port), drop=0.1, seed=5).start()
        c = Client(config(relay.port, lifetime=20, ep=EP))
        try:
            await srv.wait_registered(EP, 40)
            assert (await srv.write_attributes(EP, "/3/0/13", pmin=1, pmax=2, timeout=60)).code == "2.04"
            obs = await srv.observe(EP, "/3/0/13", timeout=60)
            assert obs.active and obs.first.code == "2.05"
            note = await obs.next(20)
            assert note.code == "2.05"
            await srv.stop()
            await asyncio.sleep(25)
            srv2 = state["srv"] = await L.LwM2MServer(port=port).start()
            t0 = asyncio.get_running_loop().time()
            # one lifetime (20 s) plus retransmission/back-off slack
            reg = await srv2.wait_registered(EP, 60)
            took = asyncio.get_running_loop().time() - t0
            assert "/3/0" in reg.object_paths()
            r = await srv2.read(EP, "/3/0", timeout=60)
            assert r.code == "2.05" and r.content_format == L.CF_TLV, r
            assert L.tlv_str(L.decode_tlv(r.payload)[0]) == "MicroPython"
            msg = "re-registered %.1f s after restart; relay %s\n" % (took, relay.summary())
            sys.stderr.write(msg)
            print(msg)
        except BaseException:
            sys.stderr.write("client output:\n%s\n" % c.output())
            raise
        finally:
            c.close()
            await relay.stop()
            await state["srv"].stop()

    with server_tuning():
        run(main(), 200)


def test_bootstrap_under_loss_then_register():
    """Client-initiated bootstrap through the lossy relay (20% loss, 10% duplication both ways):
    Delete /, Security and Server writes, Finish - every step answered 2.02/2.04 exactly as
    planned - then registration with the provisioned server (not behind the relay)."""
    async def main():
        srv = await L.LwM2MServer().start()
        bs = await L.BootstrapServer(provision={
            "delete": True, "servers": [{"uri": "coap://127.0.0.1:%d" % srv.port, "ssid": 7,
                                         "lifetime": 120}]}).start()
        relay = await LossyRelay.symmetric(("127.0.0.1", bs.port), drop=0.2, dup=0.1,
                                           seed=4).start()
        relay_uri = "coap://127.0.0.1:%d" % relay.port
        bs.provision["bootstrap"] = {"uri": relay_uri}  # the client keeps its bootstrap account
        cfg = {"endpoint": EP, "local_port": 0, "data_dir": "data", "log": "info", "servers": [],
               "bootstrap": {"uri": relay_uri, "hold_off": 0}}

        async def body(c):
            ev = await bs.wait_bootstrapped(EP, 90)
            assert ev.info.get("ok"), ev.info
            steps = bs.results[EP]
            assert steps == [("DELETE", "/", "2.02"), ("PUT", "/0/0", "2.04"),
                             ("PUT", "/0/1", "2.04"), ("PUT", "/1/0", "2.04"),
                             ("POST", "/bs", "2.04")], steps
            reg = await srv.wait_registered(EP, 60)
            assert reg.lifetime == 120
            code, _cf, _pl = await srv.read(EP, "/1/0/0")
            assert code == "2.05"
            cnt = relay.counters()  # seed 4 drops and duplicates in both directions
            assert all(cnt[d]["dropped"] and cnt[d]["duplicated"] for d in ("up", "down")), cnt
            sys.stderr.write("bootstrap under loss: steps %s; relay %s\n" % (
                [(op, p, r) for op, p, r in steps], relay.summary()))

        await with_client(cfg, body, [relay, bs, srv])

    with server_tuning():
        run(main(), 200)
