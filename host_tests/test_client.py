# The composed client (lib/lwm2m/client.py) over a real Endpoint pair in memory, fake clock.
# Over ~400 lines on purpose: the composed client's tests share one in-memory harness (Net,
# servers, clock) other test files import from here.
import os

import coapnums as CN
from coap import msg as M
from coap.endpoint import Endpoint
from coap.runner import resolve
from lwm2m import parse, provision, tlv
from lwm2m.client import Client
from lwm2m.log import Log
from lwm2m.model import object_def, resource
from board.host import Platform
from util import FakeClock, rep_count, rep_stored

URI = "coap://127.0.0.1:5683"
URI2 = "coap://127.0.0.1:5693"
BS_URI = "coap://127.0.0.1:5783"
CLIENT = ("10.9.9.9", 56830)  # how the servers see the client (opaque to both sides)

TEMP = object_def(3303, "Temperature", (
    resource(5700, "Sensor Value", "R", "f", mandatory=True),
    resource(5701, "Sensor Units", "R", "s"),
))


class Lcg:
    def __init__(self, seed=1):
        self.s = seed

    def __call__(self, n):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.s >> 8) % n


_dirs = [0]


def tmpdir():
    _dirs[0] += 1
    uniq = os.getpid() if hasattr(os, "getpid") else int.from_bytes(os.urandom(4), "big")
    base = "/tmp/lwm2m-test-client-%d-%d" % (uniq, _dirs[0])
    rmtree(base)
    os.mkdir(base)
    return base


def rmtree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for n in names:
        p = path + "/" + n
        try:
            os.remove(p)
        except OSError:
            rmtree(p)
    os.rmdir(path)


class Srv:
    """Server side of the harness: its own Endpoint; Register/Update/Deregister answered per
    self.mode, everything received kept in self.reqs."""

    def __init__(self, net, uri):
        self.net = net
        self.uri = uri
        self.peer = resolve(uri)[3]
        self.ep = Endpoint(self.handle, Lcg(len(uri)))
        self.reqs = []
        self.down = False
        self.update_code = M.CHANGED
        self.n = 0
        self.loc = None
        self.bs_steps = None  # bootstrap server: [(code, path, payload, cf)] sent after /bs
        self.answers = []

    def handle(self, req, peer, now):
        p = req.path()
        self.reqs.append((req.code, "/" + "/".join(p), list(req.query()), bytes(req.payload)))
        if p == ["rd"] and req.code == M.POST:
            self.n += 1
            self.loc = "/rd/%d" % self.n
            r = M.Message(code=M.CREATED)
            r.add(M.LOCATION_PATH, "rd")
            r.add(M.LOCATION_PATH, str(self.n))
            return r
        if p == ["bs"] and req.code == M.POST:
            self.net.later.append(self._provision)
            return M.Message(code=M.CHANGED)
        if len(p) == 2 and p[0] == "rd":
            if "/rd/" + p[1] != self.loc:
                return M.Message(code=M.NOT_FOUND)
            if req.code == M.DELETE:
                self.loc = None
                return M.Message(code=M.DELETED)
            return M.Message(code=self.update_code)
        return M.Message(code=M.NOT_FOUND)

    def _provision(self):
        for code, path, payload, cf in self.bs_steps:
            self.request(code, path, payload, cf)

    def request(self, code, path, payload=b"", cf=None, accept=None, observe=None, query=()):
        """Send a request to the client; returns a list that receives the response."""
        m = M.Message(M.CON, code)
        if observe is not None:
            m.add(M.OBSERVE, observe)
        m.set_path(path)
        if cf is not None:
            m.add(M.CONTENT_FORMAT, cf)
        if accept is not None:
            m.add(M.ACCEPT, accept)
        for q in query:
            m.add(M.URI_QUERY, q)
        m.payload = payload
        got = []
        self.ep.request(m, CLIENT, self.net.clock.now, lambda r, t: got.append(r))
        self.answers.append(got)
        return got

    def last(self, n=1):
        return self.reqs[-n:]


class Net:
    def __init__(self, cfg, seed=3, platform=None):
        self.clock = FakeClock(1000)
        self.lines = []
        self.dir = cfg["data_dir"]
        self.cfg = cfg
        self.plat = platform or Platform(root=self.dir)
        self.c = Client(cfg, self.plat, rand=Lcg(seed), log=Log("debug", self.lines))
        self.srvs = {}
        self.later = []
        self.notes = []  # (peer, Message) notifications seen by servers

    def srv(self, uri):
        s = self.srvs.get(uri)
        if s is None:
            s = self.srvs[uri] = Srv(self, uri)
        return s

    def pump(self):
        now = self.clock.now
        for _ in range(200):
            moved = False
            out = self.c.ep.out
            while out:
                data, peer = out.pop(0)
                moved = True
                for s in self.srvs.values():
                    if s.peer == peer and not s.down:
                        m = M.decode(data)
                        if m.opt(M.OBSERVE) is not None and m.code == M.CONTENT and m.type in (
                                CN.NON, M.CON) and m.type != CN.ACK:
                            self.notes.append((s, m))
                        s.ep.receive(data, CLIENT, now)
            for s in self.srvs.values():
                while s.ep.out:
                    data, peer = s.ep.out.pop(0)
                    moved = True
                    if not s.down:
                        self.c.ep.receive(data, s.peer, now)
            while self.later:
                self.later.pop(0)()
                moved = True
            nxt = self.c.tick(now)
            if not moved and not self.c.ep.out:
                return nxt
        raise AssertionError("no quiescence")

    def run(self, ms):
        """Advance ms, stopping at every deadline the client asks for."""
        end = self.clock.now + ms
        self.c.tick(self.clock.now)
        while True:
            nxt = self.pump()
            for s in self.srvs.values():
                s.ep.tick(self.clock.now)
            left = end - self.clock.now
            if left <= 0:
                return
            step = left if nxt is None else max(1, min(nxt, left))
            self.clock.advance(step)

    def close(self):
        rmtree(self.dir)


def cfg(d, servers=((URI, 1),), bootstrap=None, lifetime=300):
    return {"endpoint": "dev-1", "queue_mode": False, "local_port": 0, "data_dir": d,
            "log": "debug", "bootstrap": bootstrap,
            "servers": [{"uri": u, "ssid": s, "lifetime": lifetime, "binding": "U",
                         "psk_identity": None, "psk_key": None} for u, s in servers]}


def started(c=None, **kw):
    n = Net(c or cfg(tmpdir(), **kw))
    for s in n.cfg["servers"]:
        n.srv(s["uri"])
    n.run(100)
    return n


def test_factory_bootstrap_then_store_reload():
    n = started()
    try:
        assert "lwm2m: store: accounts missing, factory bootstrap from config" in n.lines
        sec = n.c.registry.obj(0).insts
        assert list(sec) == [0] and sec[0].vals[0] == URI and sec[0].vals[10] == 1
        assert n.c.registry.obj(1).insts[0].vals[1] == 300
        s = n.srv(URI)
        got = s.request(M.PUT, "/1/0/1", b"120", cf=0)
        n.run(10)
        assert got[0].code == M.CHANGED
        # a second client over the same data_dir loads the store: no factory bootstrap
        n2 = Net(n.cfg)
        n2.srv(URI)
        n2.run(10)
        assert "lwm2m: accounts loaded from the store (1 server(s))" in n2.lines
        assert not [x for x in n2.lines if "factory" in x]
        assert n2.c.registry.obj(1).insts[0].vals[1] == 120
        assert n2.srv(URI).last()[0][2] == ["ep=dev-1", "lt=120", "lwm2m=1.0", "b=U"]
    finally:
        n.close()


def test_corrupt_store_logged_and_reprovisioned():
    d = tmpdir()
    try:
        f = open(d + "/accounts.rec", "wb")
        f.write(b"LWMR\x01garbage")
        f.close()
        n = started(cfg(d))
        assert "lwm2m: store: accounts corrupt, factory bootstrap from config" in n.lines
        assert n.c.regs[1].registered
    finally:
        rmtree(d)


def test_register_payload_and_log():
    n = started()
    try:
        s = n.srv(URI)
        assert s.reqs == [(M.POST, "/rd", ["ep=dev-1", "lt=300", "lwm2m=1.0", "b=U"],
                           b"</1/0>,</2>,</3/0>,</4/0>,</5/0>")]
        assert "lwm2m: registered with coap://127.0.0.1:5683 as /rd/1 (lt=300 b=U)" in n.lines
        assert n.c.regs[1].location == "/rd/1"
        assert not [x for x in n.lines if "secret" in x.lower() or "key" in x.lower()]
    finally:
        n.close()


def test_read_device_through_endpoint():
    n = started()
    try:
        got = n.srv(URI).request(M.GET, "/3/0")
        n.run(10)
        r = got[0]
        assert r.code == M.CONTENT and r.uint(M.CONTENT_FORMAT) == 11542
        res = {}
        for kind, rid, val in parse.tlv_decode(bytes(r.payload)):
            res[rid] = val
        assert bytes(res[0]) == b"MicroPython"
        assert bytes(res[2]) == b"HOST-0001"
        # the Security object never leaves
        got = n.srv(URI).request(M.GET, "/0/0")
        n.run(10)
        assert got[0].code == M.NOT_FOUND
    finally:
        n.close()


def test_unknown_peer_gets_401_and_touches_nothing():
    n = started()
    try:
        other = n.srv("coap://127.0.0.1:9999")
        before = n.c.registry.obj(1).insts[0].vals[1]
        got = other.request(M.PUT, "/1/0/1", b"77", cf=0)
        n.run(10)
        assert got[0].code == M.UNAUTHORIZED
        assert n.c.registry.obj(1).insts[0].vals[1] == before
        assert len(n.srv(URI).reqs) == 1  # no Update either
    finally:
        n.close()


def test_create_sends_update_with_new_links():
    d = tmpdir()
    n = Net(cfg(d))
    try:
        n.c.registry.add(TEMP).add(0, {5700: 21.5, 5701: "Cel"})
        s = n.srv(URI)
        n.run(10)
        assert s.reqs[0][3] == b"</1/0>,</2>,</3/0>,</4/0>,</5/0>,</3303/0>"
        pl = tlv.encode([tlv.resource_node(5700, "f", 19.0)])
        got = s.request(M.POST, "/3303", pl, cf=11542)
        n.run(10)
        assert got[0].code == M.CREATED
        # the creator gets an ACL instance (/2/0) as owner of /3303/1
        assert s.reqs[-1] == (M.POST, "/rd/1", [],
                              b"</1/0>,</2/0>,</3/0>,</4/0>,</5/0>,</3303/0>,</3303/1>")
        got = s.request(M.DELETE, "/3303/0")
        n.run(10)
        assert got[0].code == M.DELETED
        assert s.reqs[-1] == (M.POST, "/rd/1", [],
                              b"</1/0>,</2/0>,</3/0>,</4/0>,</5/0>,</3303/1>")
        # nothing else changed: no more Updates
        k = len(s.reqs)
        n.run(1000)
        assert len(s.reqs) == k
    finally:
        n.close()


def test_lifetime_write_and_trigger_update():
    n = started()
    try:
        s = n.srv(URI)
        got = s.request(M.PUT, "/1/0/1", b"60", cf=0)
        n.run(10)
        assert got[0].code == M.CHANGED
        assert s.reqs[-1] == (M.POST, "/rd/1", ["lt=60"], b"")
        got = s.request(M.POST, "/1/0/8")
        n.run(10)
        assert got[0].code == M.CHANGED
        assert s.reqs[-1] == (M.POST, "/rd/1", [], b"")
        # the next Update comes before the new 60 s lifetime runs out (54 s: 10% margin)
        k = len(s.reqs)
        n.run(53000)
        assert len(s.reqs) == k
        n.run(2000)
        assert s.reqs[k:] == [(M.POST, "/rd/1", [], b"")]
    finally:
        n.close()


def test_disable_then_register_again_after_timeout():
    n = started()
    try:
        s = n.srv(URI)
        got = s.request(M.PUT, "/1/0/5", b"3", cf=0)
        n.run(10)
        assert got[0].code == M.CHANGED
        got = s.request(M.POST, "/1/0/4")
        n.run(10)
        assert got[0].code == M.CHANGED
        assert s.reqs[-1] == (M.DELETE, "/rd/1", [], b"")
        assert n.c.regs[1].state == "disabled"
        assert "lwm2m: server 1 disabled for 3 s" in n.lines
        # a request while disabled is ignored: an empty ACK, never an answer
        got = s.request(M.GET, "/3/0/0")
        n.run(2000)
        assert got == []
        k = len(s.reqs)
        n.run(900)
        assert len(s.reqs) == k
        n.run(200)
        assert s.reqs[k][:2] == (M.POST, "/rd") and n.c.regs[1].location == "/rd/2"
    finally:
        n.close()


def test_update_404_registers_again():
    n = started(lifetime=20)
    try:
        s = n.srv(URI)
        s.update_code = M.NOT_FOUND
        n.run(18000)
        assert s.reqs[-2][:2] == (M.POST, "/rd/1") and s.reqs[-1][:2] == (M.POST, "/rd")
        assert n.c.regs[1].location == "/rd/2"
        assert [x for x in n.lines if "lost" in x]
    finally:
        n.close()


def thermometer(n):
    """/3303/0 (21.5 Cel) on n's client, then the server at URI and a first run: (the object,
    the server). test_edges uses it too."""
    t = n.c.registry.add(TEMP)
    t.add(0, {5700: 21.5, 5701: "Cel"})
    s = n.srv(URI)
    n.run(10)
    return t, s


def test_observe_and_changed_notify():
    d = tmpdir()
    n = Net(cfg(d))
    try:
        t, s = thermometer(n)
        got = s.request(M.PUT, "/3303/0/5700", query=("pmin=1", "pmax=30"))
        n.run(10)
        assert got[0].code == M.CHANGED
        got = s.request(M.GET, "/3303/0/5700", observe=0)
        n.run(10)
        assert got[0].code == M.CONTENT and got[0].uint(M.OBSERVE) is not None
        assert bytes(got[0].payload) == b"21.5"
        t.set(0, 5700, 22.25)  # Obj.set -> registry.changed -> reporter
        n.run(1500)
        assert [bytes(m.payload) for _, m in n.notes] == [b"22.25"]
        # client.changed for a value the app keeps elsewhere; pmax 30 s bounds the silence
        t.insts[0].vals[5700] = 23.5
        n.c.changed(3303, 0, 5700)
        n.run(1500)
        assert [bytes(m.payload) for _, m in n.notes] == [b"22.25", b"23.5"]
        n.run(31000)
        assert [bytes(m.payload) for _, m in n.notes][-1] == b"23.5" and len(n.notes) == 3
        # a new Register drops the observation
        s.update_code = M.NOT_FOUND
        got = s.request(M.POST, "/1/0/8")
        n.run(100)
        assert rep_count(n.c.reporter, 1) == 0
    finally:
        n.close()


def tlv_inst(vals):
    nodes = []
    for rid, typ, v in vals:
        nodes.append(tlv.resource_node(rid, typ, v))
    return tlv.encode(nodes)


def test_client_initiated_bootstrap_then_register():
    d = tmpdir()
    c = cfg(d, servers=())
    c["bootstrap"] = {"uri": BS_URI, "hold_off": 2, "psk_identity": None, "psk_key": None}
    n = Net(c)
    try:
        b = n.srv(BS_URI)
        s = n.srv(URI)
        b.bs_steps = [
            (M.DELETE, "/", b"", None),
            (M.PUT, "/0/1", tlv_inst([(0, "s", URI), (1, "b", False), (2, "i", 3),
                                      (3, "o", b""), (4, "o", b""), (5, "o", b""),
                                      (10, "i", 7)]), 11542),
            (M.PUT, "/1/0", tlv_inst([(0, "i", 7), (1, "i", 120), (6, "b", True),
                                      (7, "s", "U")]), 11542),
            (M.POST, "/bs", b"", None),
        ]
        n.run(1900)
        assert b.reqs == []  # Client Hold Off Time 2 s
        n.run(300)
        assert b.reqs == [(M.POST, "/bs", ["ep=dev-1"], b"")]
        n.run(100)
        codes = [g[0].code for g in b.answers]
        assert codes == [M.DELETED, M.CHANGED, M.CHANGED, M.CHANGED]
        assert s.reqs and s.reqs[0][:3] == (M.POST, "/rd", ["ep=dev-1", "lt=120", "lwm2m=1.0",
                                                             "b=U"])
        assert n.c.regs[7].registered
        # the bootstrap account survived Delete "/", and everything is in the store
        n2 = Net(c)
        n2.srvs = {}
        n2.srv(URI)
        n2.run(10)
        assert "lwm2m: accounts loaded from the store (1 server(s), bootstrap)" in n2.lines
        assert n2.c.regs[7].registered
        # registered, the bootstrap server may still write (seed 002 5.2.1, issue 12 point 6);
        # the registration stands until its Bootstrap-Finish
        got = b.request(M.DELETE, "/0/1")
        n.run(10)
        assert got[0].code == M.DELETED and 7 in n.c.regs
    finally:
        n.close()


def test_registration_failing_everywhere_falls_back_to_bootstrap():
    d = tmpdir()
    c = cfg(d)
    c["bootstrap"] = {"uri": BS_URI, "hold_off": 0, "psk_identity": None, "psk_key": None}
    n = Net(c)
    try:
        b = n.srv(BS_URI)
        s = n.srv(URI)
        s.down = True
        b.bs_steps = [(M.DELETE, "/1", b"", None), (M.DELETE, "/0/1", b"", None),
                      (M.PUT, "/0/2", tlv_inst([(0, "s", URI2), (1, "b", False), (2, "i", 3),
                                                (3, "o", b""), (4, "o", b""), (5, "o", b""),
                                                (10, "i", 2)]), 11542),
                      (M.PUT, "/1/0", tlv_inst([(0, "i", 2), (1, "i", 300), (6, "b", True),
                                                (7, "s", "U")]), 11542),
                      (M.POST, "/bs", b"", None)]
        s2 = n.srv(URI2)
        n.run(3 * 100000 + 20000)
        assert b.reqs and b.reqs[0][:2] == (M.POST, "/bs")
        assert [g[0].code for g in b.answers] == [M.DELETED, M.DELETED, M.CHANGED, M.CHANGED,
                                                  M.CHANGED]
        assert s2.reqs[0][:2] == (M.POST, "/rd") and list(n.c.regs) == [2]
        assert "lwm2m: server 1 account removed: registration, observations and ACLs dropped" \
            in n.lines
    finally:
        n.close()


def test_two_servers_separate_registrations():
    n = started(servers=((URI, 1), (URI2, 2)))
    try:
        s1, s2 = n.srv(URI), n.srv(URI2)
        assert s1.reqs[0][:2] == (M.POST, "/rd") and s2.reqs[0][:2] == (M.POST, "/rd")
        assert n.c.regs[1].location == "/rd/1" and n.c.regs[2].location == "/rd/1"
        # each server reads the device, but only its own Server instance
        g1 = s1.request(M.GET, "/3/0/0")
        g2 = s2.request(M.GET, "/3/0/0")
        g3 = s2.request(M.GET, "/1/0")
        g4 = s2.request(M.GET, "/1/1/0")
        n.run(10)
        assert bytes(g1[0].payload) == b"MicroPython" and bytes(g2[0].payload) == b"MicroPython"
        assert g3[0].code == M.UNAUTHORIZED and bytes(g4[0].payload) == b"2"
        # an Update trigger on one server leaves the other alone
        k1, k2 = len(s1.reqs), len(s2.reqs)
        s2.request(M.POST, "/1/1/8")
        n.run(10)
        assert len(s1.reqs) == k1 and s2.reqs[k2:] == [(M.POST, "/rd/1", [], b"")]
    finally:
        n.close()


def test_shutdown_deregisters_everything():
    n = started(servers=((URI, 1), (URI2, 2)))
    try:
        n.c.shutdown(n.clock.now)
        n.run(100)
        assert n.srv(URI).reqs[-1] == (M.DELETE, "/rd/1", [], b"")
        assert n.srv(URI2).reqs[-1] == (M.DELETE, "/rd/1", [], b"")
        assert n.c.stopped
    finally:
        n.close()


def test_reboot_answers_then_deregisters_then_exits():
    n = started()
    try:
        got = n.srv(URI).request(M.POST, "/3/0/4")
        try:
            n.run(100)
            raise AssertionError("no reboot")
        except SystemExit as e:
            assert e.args[0] == 3
        assert got[0].code == M.CHANGED
        assert n.srv(URI).reqs[-1] == (M.DELETE, "/rd/1", [], b"")
    finally:
        n.close()


def test_factory_reset_wipes_store_then_reboots():
    n = started()
    try:
        assert "accounts.rec" in os.listdir(n.dir)
        got = n.srv(URI).request(M.POST, "/3/0/5")
        try:
            n.run(100)
            raise AssertionError("no reboot")
        except SystemExit as e:
            assert e.args[0] == 3
        assert got[0].code == M.CHANGED
        assert n.srv(URI).reqs[-1] == (M.DELETE, "/rd/1", [], b"")
        assert [x for x in os.listdir(n.dir) if x.endswith(".rec")] == []
    finally:
        n.close()


def test_battery_poll_reaches_observers():
    from board.battery import Battery
    from board.hostsim import FakeADC

    d = tmpdir()
    adc = FakeADC(seq=[27140] * 2 + [20000] * 40)  # 4100 mV, then a sag
    bat = Battery(adc)
    n = Net(cfg(d), platform=Platform(root=d, battery=bat))
    try:
        s = n.srv(URI)
        n.run(10)
        got = s.request(M.GET, "/3/0/9", observe=0)
        n.run(10)
        first = int(bytes(got[0].payload))
        assert first > 80
        n.run(60000)  # a poll every 10 s; the smoothed level falls and is reported
        vals = [int(bytes(m.payload)) for _, m in n.notes]
        assert vals and vals[-1] < first
    finally:
        n.close()


def test_queue_mode_sleeps_stores_and_wakes_with_update():
    d = tmpdir()
    c = cfg(d)
    c["queue_mode"] = True
    c["servers"][0]["binding"] = "UQ"
    n = Net(c)
    try:
        t = n.c.registry.add(TEMP)
        t.add(0, {5700: 21.5})
        s = n.srv(URI)
        n.run(10)
        assert s.reqs[0][2] == ["ep=dev-1", "lt=300", "lwm2m=1.0", "b=UQ"]
        got = s.request(M.GET, "/3303/0/5700", observe=0)
        n.run(10)
        assert got[0].code == M.CONTENT
        n.run(94000)  # the 93 s window closed: asleep, notifications are held
        assert not n.c.regs[1].awake and n.c.reporter.is_offline(1)
        k = len(s.reqs)
        t.set(0, 5700, 30.5)
        n.run(10)
        # the stored notification wakes the client: Update first, then the notification
        assert s.reqs[k:] == [(M.POST, "/rd/1", [], b"")]
        assert [bytes(m.payload) for _, m in n.notes] == [b"30.5"]
        assert n.c.regs[1].awake
    finally:
        n.close()


def test_server_unreachable_update_retried_notifications_stored_no_register():
    # lifetime 3600: the registration outlives a 4-minute outage, so nothing is thrown away
    n = Net(cfg(tmpdir(), lifetime=3600))
    try:
        t = n.c.registry.add(TEMP)
        t.add(0, {5700: 0.5})
        s = n.srv(URI)
        n.run(10)
        s.request(M.PUT, "/3303/0/5700", query=("pmin=1", "pmax=60"))
        n.run(10)
        got = s.request(M.GET, "/3303/0/5700", observe=0)
        n.run(10)
        assert got[0].code == M.CONTENT
        obs = n.c.ep.observations
        assert len(obs) == 1
        o = obs[0]
        timeout = o.on_timeout

        def hook(ob, now):  # what Client._notify_timeout does first, and then all of it
            n.c.reporter.undelivered(ob, now)
            timeout(ob, now)

        o.on_timeout = hook
        n.c.reporter.max_stored = 32  # room for the whole outage: nothing dropped
        n.c.reporter.con_every = 10  # every 10th notification CON: how the outage shows
        orig_receive = s.ep.receive

        def receive(data, peer, now):
            m = M.decode(data)
            if m.type == M.CON and m.code == M.CONTENT:  # ACK CON notifications as servers do
                s.ep.out.append((bytes((0x60, 0, data[2], data[3])), peer))
                return
            orig_receive(data, peer, now)

        s.ep.receive = receive

        def payloads():
            return [bytes(m.payload) for _, m in n.notes]

        def step(v):
            t.set(0, 5700, v + 0.5)
            n.run(10000)

        for v in range(1, 10):
            step(v)
        assert payloads() == [b"%d.5" % v for v in range(1, 10)]
        assert [m.type for _, m in n.notes] == [CN.NON] * 9
        down = len(n.notes)
        s.down = True  # datagrams both ways dropped: the 10th notification is CON and is lost
        for v in range(10, 34):
            step(v)
        assert len(n.notes) == down
        warn = [x for x in n.lines if "not answering" in x]
        assert len(warn) == 1 and n.c.regs[1].update_failures >= 1
        assert n.c.reporter.is_offline(1) and rep_stored(n.c.reporter, 1) > 0
        s.down = False
        for v in range(34, 46):
            step(v)
        got = payloads()[down:]
        # the unACKed CON (10.5) is given back and goes first; 11.5-17.5 went out as NON before
        # the CON timed out and are gone (nothing tells the client about them); from 18.5 on
        # stored and delivered in order once the retried Update is answered, then live ones
        assert got == [b"10.5"] + [b"%d.5" % v for v in range(18, 46)]
        assert [m.type for _, m in n.notes[down:down + 17]] == [CN.NON] * 17  # the stored ones
        assert [x for x in n.lines if "answering again" in x]
        # one Register in the whole run, the observation and the location kept
        assert [r for r in s.reqs if r[1] == "/rd"] == [s.reqs[0]]
        assert n.c.regs[1].location == "/rd/1" and n.c.regs[1].state == "registered"
        assert rep_count(n.c.reporter, 1) == 1 and len(n.c.ep.observations) == 1
        assert not n.c.reporter.is_offline(1) and rep_stored(n.c.reporter, 1) == 0
    finally:
        n.close()


def test_memory_error_in_tick_is_contained_and_the_save_retried():
    # a board's heap can run out in the middle of a step (store.save after a write): the client
    # must answer, log it and save on a later pass, not die with the MemoryError
    n = started()
    try:
        s = n.srv(URI)
        save = n.c.store.save
        fails = [1]
        saved = []

        def flaky(name, value):
            if fails[0]:
                fails[0] -= 1
                raise MemoryError("memory allocation failed")
            saved.append(name)
            return save(name, value)

        n.c.store.save = flaky
        got = s.request(M.PUT, "/1/0/1", b"60", cf=0)
        n.run(10)
        assert got[0].code == M.CHANGED
        assert "lwm2m: out of memory in tick: retried" in n.lines
        n.run(200)
        assert "accounts" in saved and fails[0] == 0
        assert not n.c.stopped and n.c.regs[1].registered
        assert s.reqs[-1] == (M.POST, "/rd/1", ["lt=60"], b"")
        n2 = Net(n.cfg)  # the retried save reached the store
        assert provision.load(n2.c.registry, n2.c.store) is None
        assert n2.c.registry.obj(1).inst(0).vals[1] == 60
    finally:
        n.close()


def test_unlock_heap_after_an_interrupted_collection():
    """Ctrl-C on the unix port can leave the heap locked (KeyboardInterrupt raised from the
    SIGINT handler in the middle of a garbage collection): the client's Ctrl-C path unlocks it
    before it logs and deregisters. On CPython (no heap lock) it does nothing."""
    import micropython

    from lwm2m import unlock_heap

    locked = hasattr(micropython, "heap_lock")
    if locked:
        micropython.heap_lock()
        micropython.heap_lock()
        try:
            bytearray(64)
        except MemoryError:
            pass
        else:
            raise AssertionError("the heap was not locked")
    unlock_heap()
    assert len(bytearray(64)) == 64  # allocates again
    if locked:
        micropython.heap_lock()
        assert micropython.heap_unlock() == 0  # back to depth 0, not below
