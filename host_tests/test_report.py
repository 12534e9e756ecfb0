# Information reporting (lib/lwm2m/report.py): pmin/pmax/gt/lt/st timing, storing, cancel.
# Over ~400 lines on purpose: one file per module under test: every attribute rule of information
# reporting.
from coap import msg as m
import coapnums as CN
from lwm2m import report as rp
from lwm2m.errors import NotFound
from test_register import FakeEP
from util import rep_count, rep_stored


class Obs:
    def __init__(self, token, peer="srv"):
        self.token = token
        self.peer = peer
        self.ctx = None


class World:
    """Values, attributes and defaults the Reporter reads through its callables."""

    def __init__(self, pmin=0, pmax=0, storing=True):
        self.vals = {(3303, 0, 5700): 10}
        self.attrs = {}
        self.dflt = (pmin, pmax)
        self.reads = []
        self.storing = storing
        self.woken = []
        self.logs = []
        self.ep = FakeEP()
        self.rep = rp.Reporter(self.ep, self.read, lambda s, p: self.attrs.get(p, {}),
                               lambda s: self.dflt + (self.storing,),
                               wake=lambda s, t: self.woken.append((s, t)),
                               log=self.logs.append)

    def read(self, ssid, path, cf):
        self.reads.append((ssid, path, cf))
        if len(path) < 3:
            vs = [v for p, v in sorted(self.vals.items()) if p[:len(path)] == path]
            if not vs:
                raise NotFound()
            return 11542, ("I" + ",".join(str(v) for v in vs)).encode(), None
        if path not in self.vals:
            raise NotFound()
        v = self.vals[path]
        return (cf if cf is not None else 0), str(v).encode(), (
            v if isinstance(v, (int, float)) else None)

    def set(self, path, v, now=None):
        self.vals[path] = v
        self.rep.changed(path[0], path[1], path[2], now)

    def notes(self):
        return [(n[2], n[4]) for n in self.ep.notes]


P = (3303, 0, 5700)


def test_pmax_periodic():
    w = World(pmax=10)
    o = Obs(b"t1")
    assert w.rep.add(1, o, P, 0, 0)
    assert o.ctx is not None
    assert w.rep.tick(0) == 10000
    assert w.rep.tick(9999) == 1 and w.ep.notes == []
    assert w.rep.tick(10000) == 10000
    assert w.notes() == [(b"10", 10000)]
    obs, code, payload, cf, now, con = w.ep.notes[0]
    assert obs is o and code == m.CONTENT and cf == 0 and con is False
    w.rep.tick(20000)
    assert w.notes() == [(b"10", 10000), (b"10", 20000)]


def test_attrs_override_defaults_and_pmax_below_pmin_ignored():
    w = World(pmin=1, pmax=60)
    w.attrs[P] = {"pmax": 5}
    w.rep.add(1, Obs(b"a"), P, 0, 0)
    assert w.rep.tick(0) == 5000
    w2 = World(pmin=0, pmax=0)
    w2.attrs[P] = {"pmin": 10, "pmax": 5}
    w2.rep.add(1, Obs(b"a"), P, 0, 0)
    assert w2.rep.tick(0) is None
    w2.attrs[P] = {"pmin": 5, "pmax": 5}  # pmin == pmax: notify every pmax (issue 12 point 13)
    w2.rep.refresh()
    assert w2.rep.tick(0) == 5000
    w2.attrs[P] = {"pmin": 5, "pmax": 6}
    w2.rep.refresh()
    assert w2.rep.tick(0) == 6000


def test_pmin_defers_change():
    w = World(pmin=5)
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    assert w.rep.tick(0) is None  # no pmax: nothing scheduled
    w.set(P, 11, 1000)
    assert w.rep.tick(1000) == 4000 and w.ep.notes == []
    w.set(P, 12, 2000)  # still one notification, with the value at send time
    assert w.rep.tick(4999) == 1
    w.rep.tick(5000)
    assert w.notes() == [(b"12", 5000)]
    w.set(P, 13, 20000)  # long after pmin: at once
    assert w.rep.tick(20000) is None
    assert w.notes() == [(b"12", 5000), (b"13", 20000)]
    w.set(P, 14, 21000)  # within pmin of the last one: waits until 25000
    assert w.rep.tick(21000) == 4000
    w.rep.tick(25000)
    assert w.notes()[-1] == (b"14", 25000)


def test_change_goes_out_on_next_tick():
    w = World()
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    w.set(P, 11)
    assert w.rep.tick(100) is None
    assert w.notes() == [(b"11", 100)]
    w.set(P, 12)
    assert w.rep.tick(200) is None and len(w.notes()) == 2


def test_changed_costs_nothing_without_observers():
    w = World()
    w.rep.changed(3303, 0, 5700)
    w.rep.changed(3, 0, 9, 5)
    assert w.reads == [] and w.rep.tick(0) is None and w.ep.notes == []
    w.rep.add(1, Obs(b"t"), (3, 0, 9), 0, 0)
    w.reads.clear()
    w.rep.changed(3303, 0, 5700)  # another object: one dict miss, nothing read
    assert w.reads == [] and w.rep.tick(1) is None and w.ep.notes == []
    assert w.rep._by_oid.get(3303) is None


def test_path_matching():
    w = World()
    w.vals[(3303, 1, 5700)] = 50
    w.rep.add(1, Obs(b"i"), (3303, 0), 11542, 0)
    w.rep.add(1, Obs(b"o"), (3303,), 11542, 0)
    w.rep.add(1, Obs(b"r"), P, 0, 0)
    w.rep.changed(3303, 1, 5700)
    w.rep.tick(10)
    assert sorted(n[0].token for n in w.ep.notes) == [b"o"]
    w.ep.notes.clear()
    w.rep.changed(3303, 0, 5701)
    w.rep.tick(20)
    assert sorted(n[0].token for n in w.ep.notes) == [b"i", b"o"]
    w.ep.notes.clear()
    w.rep.changed(3303, 0)  # an instance-wide change reaches resource observers too
    w.rep.tick(30)
    assert sorted(n[0].token for n in w.ep.notes) == [b"i", b"o", b"r"]
    assert [n[3] for n in w.ep.notes if n[0].token == b"i"] == [11542]
    assert w.ep.notes[0][2] in (b"I10", b"I10,50")


def test_content_format_of_request():
    w = World()
    w.rep.add(1, Obs(b"t"), P, 11542, 0)
    w.set(P, 3)
    w.rep.tick(1)
    assert w.reads[-1] == (1, P, 11542) and w.ep.notes[-1][3] == 11542


def walk(attrs, values):
    """The payloads notified while P, observed (no pmin/pmax) with `attrs` from its value 10,
    takes each of `values` in turn, one a second (test_edges uses this too)."""
    w = World()
    w.attrs[P] = attrs
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    for i, v in enumerate(values):
        w.set(P, v)
        w.rep.tick(1000 * (i + 1))
    return [n[0] for n in w.notes()]


def test_gt_crossing_both_ways():
    assert walk({"gt": 20}, (15, 25, 24, 30, 19, 18, 21)) == [b"25", b"19", b"21"]


def test_lt_crossing():
    assert walk({"lt": 5}, (7, 4, 3, 6, 5, 4.5)) == [b"4", b"6", b"4.5"]


def test_step():
    assert walk({"st": 5}, (13, 16, 18, 21, 17, 11)) == [b"16", b"21", b"11"]


def test_crossing_during_pmin_reported_at_pmin_and_pmax_still_runs():
    w = World(pmin=10, pmax=30)
    w.attrs[P] = {"gt": 20}
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    w.set(P, 25)
    assert w.rep.tick(2000) == 8000
    w.set(P, 26)
    w.rep.tick(10000)
    assert w.notes() == [(b"26", 10000)]
    w.set(P, 27)  # no crossing: only pmax reports it
    assert w.rep.tick(11000) == 29000
    w.rep.tick(40000)
    assert w.notes() == [(b"26", 10000), (b"27", 40000)]


def test_non_numeric_any_change():
    w = World()
    w.vals[(3, 0, 0)] = "acme"
    w.attrs[(3, 0, 0)] = {"gt": 1}
    w.rep.add(1, Obs(b"t"), (3, 0, 0), 0, 0)
    w.vals[(3, 0, 0)] = "acme2"
    w.rep.changed(3, 0, 0)
    w.rep.tick(5)
    assert len(w.notes()) == 1


def test_con_once_a_day():
    w = World(pmax=3600, storing=False)  # without storing only the daily CON (RFC 7641 4.5)
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    t = 0
    cons = []
    for _ in range(50):
        t += 3600000
        w.rep.tick(t & ((1 << 30) - 1))
    cons = [i for i, n in enumerate(w.ep.notes) if n[5]]
    assert cons == [23, 47]  # hour 24 and hour 48


def test_storing_offline_in_order_and_bounded():
    w = World(pmax=10)
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    w.rep.server_offline(1)
    assert w.rep.is_offline(1)
    for i in range(1, 21):
        w.vals[P] = i
        w.rep.tick(i * 10000)
    assert w.ep.notes == []
    assert rep_stored(w.rep, 1) == rp.Reporter.max_stored == 16
    assert w.rep.dropped[1] == 4 and w.woken[0] == (1, 10000)
    w.rep.server_online(1, 205000)
    assert [n[0] for n in w.notes()] == [str(i).encode() for i in range(5, 21)]
    assert all(n[4] == 205000 for n in w.ep.notes)
    assert w.logs == ["ssid 1: 4 stored notifications dropped (max_stored 16)"]
    assert rep_stored(w.rep, 1) == 0
    w.rep.tick(210000)  # online again: straight to the endpoint
    assert w.notes()[-1] == (b"20", 210000)


def test_storing_false_drops():
    w = World(pmax=10, storing=False)
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    w.rep.server_offline(1)
    w.set(P, 99)
    for i in range(1, 5):
        w.rep.tick(i * 10000)
    w.rep.server_online(1, 45000)
    assert w.ep.notes == [] and rep_stored(w.rep, 1) == 0
    w.rep.tick(50000)
    assert w.notes() == [(b"99", 50000)]


def test_offline_is_per_server():
    w = World(pmax=10)
    w.rep.add(1, Obs(b"a", "s1"), P, 0, 0)
    w.rep.add(2, Obs(b"b", "s2"), P, 0, 0)
    w.rep.server_offline(2)
    w.rep.tick(10000)
    assert [n[0].token for n in w.ep.notes] == [b"a"] and rep_stored(w.rep, 2) == 1


def test_bounded_observations_and_replace_same_token():
    w = World()
    rp.Reporter.max_obs = 3
    try:
        for i in range(3):
            assert w.rep.add(1, Obs(b"%d" % i), P, 0, 0)
        assert not w.rep.add(1, Obs(b"x"), P, 0, 0)
        assert w.rep.add(2, Obs(b"y"), P, 0, 0)  # per server
        assert w.rep.add(1, Obs(b"1"), P, 0, 0)  # same token and peer replaces
        assert rep_count(w.rep, 1) == 3 and rep_count(w.rep) == 4
    finally:
        rp.Reporter.max_obs = 32


def test_remove_and_cancel_server():
    w = World(pmax=10)
    a, b, c = Obs(b"a"), Obs(b"b"), Obs(b"c", "s2")
    w.rep.add(1, a, P, 0, 0)
    w.rep.add(1, b, P, 0, 0)
    w.rep.add(2, c, P, 0, 0)
    w.rep.remove(a)  # e.g. RST or Observe: 1 (the endpoint's on_cancel)
    assert a.ctx is None
    w.rep.tick(10000)
    assert sorted(n[0].token for n in w.ep.notes) == [b"b", b"c"]
    w.rep.server_offline(1)
    w.rep.tick(20000)
    w.rep.cancel_server(1)
    assert rep_count(w.rep, 1) == 0 and rep_stored(w.rep, 1) == 0
    w.ep.notes.clear()
    w.rep.server_online(1, 25000)
    w.rep.tick(30000)
    assert [n[0].token for n in w.ep.notes] == [b"c"]


def test_read_error_ends_observation():
    w = World()
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    del w.vals[P]
    w.rep.changed(3303, 0, None)
    w.rep.tick(5)
    assert w.ep.notes[-1][1] == NotFound.code and w.ep.notes[-1][2] == b""
    assert rep_count(w.rep, 1) == 0
    w.rep.changed(3303, 0, 5700)
    assert w.rep.tick(6) is None and len(w.ep.notes) == 1


def test_refresh_applies_new_pmax():
    w = World(pmax=3600)
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    assert w.rep.tick(0) == 3600000
    w.attrs[P] = {"pmax": 2}
    w.rep.refresh(1)
    assert w.rep.tick(1) == 1999
    w.rep.tick(2000)
    assert w.notes() == [(b"10", 2000)]


def test_over_real_endpoint_observe_notify_rst():
    from test_register import Wire, PEER

    vals = {P: 21}
    state = {}

    def read(ssid, path, cf):
        return 0, str(vals[path]).encode(), vals[path]

    def client(req, peer, now):
        path = tuple(int(x) for x in req.path())
        r = m.Message(code=m.CONTENT, payload=str(vals[path]).encode())
        r.add(m.CONTENT_FORMAT, 0)
        if req.opt(m.OBSERVE) is not None and req.uint(m.OBSERVE) == 0:
            obs = w.c.observe(req, peer, rep.remove)
            assert rep.add(1, obs, path, None, now)
        return r

    w = Wire(lambda req, peer, now: None, client)
    rep = rp.Reporter(w.c, read, lambda s, p: {"pmin": 2, "pmax": 30}, lambda s: (0, 0, True))
    got = []
    g = m.Message(m.CON, m.GET)
    g.set_path("/3303/0/5700")
    g.add(m.OBSERVE, 0)
    w.s.request(g, "C", 0, lambda resp, now: got.append(resp))
    w.run(100, rep)
    assert got[0].code == m.CONTENT and bytes(got[0].payload) == b"21"
    assert got[0].uint(m.OBSERVE) == 0 and rep_count(rep, 1) == 1
    tok = got[0].token
    w.tap.clear()
    w.now = 1000
    vals[P] = 22
    rep.changed(3303, 0, 5700, w.now)
    w.run(1000, rep)
    assert w.tap == []  # pmin 2 s not over yet
    w.run(2000, rep)
    n = m.decode(w.tap[-1])
    assert n.type == CN.NON and n.token == tok and n.uint(m.OBSERVE) == 1
    assert bytes(n.payload) == b"22" and n.uint(m.CONTENT_FORMAT) == 0
    w.run(32000, rep)  # pmax
    n = m.decode(w.tap[-1])
    assert n.uint(m.OBSERVE) == 2 and bytes(n.payload) == b"22" and len(w.tap) == 2
    # the server answers the notification with RST: the observation ends on both layers
    w.c.receive(bytes((0x70, 0, n.mid >> 8, n.mid & 0xFF)), PEER, 32001)
    assert rep_count(rep, 1) == 0 and w.c.observations == []
    w.run(100000, rep)
    assert len(w.tap) == 2


def test_con_every_nth_with_storing():
    w = World(pmax=10)
    assert rp.Reporter.con_every == 0  # off unless configured
    w.rep.con_every = 10
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    for i in range(1, 26):
        w.rep.tick(i * 10000)
    assert [i for i, n in enumerate(w.ep.notes) if n[5]] == [9, 19]
    w.rep.con_every = 0
    for i in range(26, 60):
        w.rep.tick(i * 10000)
    assert [i for i, n in enumerate(w.ep.notes) if n[5]] == [9, 19]


def test_undelivered_con_stored_again_in_order_then_sent():
    w = World(pmax=10)
    w.rep.con_every = 3
    o = Obs(b"t")
    w.rep.add(1, o, P, 0, 0)
    for i in range(1, 4):
        w.vals[P] = i
        w.rep.tick(i * 10000)
    assert [(n[2], n[4], n[5]) for n in w.ep.notes] == [
        (b"1", 10000, False), (b"2", 20000, False), (b"3", 30000, True)]
    w.vals[P] = 4
    w.rep.tick(40000)  # NON: the endpoint does not know the CON is lost yet
    w.rep.undelivered(o, 93000)  # the CON from 30000 timed out
    assert w.rep.is_offline(1) and rep_stored(w.rep, 1) == 1
    w.rep.undelivered(o, 93001)  # a second timeout report has nothing more to give back
    assert rep_stored(w.rep, 1) == 1
    for i in range(5, 8):
        w.vals[P] = i * 10
        w.rep.tick(i * 10000 + 50000)  # 100000, 110000, 120000: stored, not sent
    assert len(w.ep.notes) == 4 and rep_stored(w.rep, 1) == 4
    w.rep.server_online(1, 130000)
    assert [(n[2], n[4]) for n in w.ep.notes[4:]] == [
        (b"3", 130000), (b"50", 130000), (b"60", 130000), (b"70", 130000)]
    assert rep_stored(w.rep, 1) == 0 and not w.rep.is_offline(1)
    w.rep.tick(140000)  # then normal operation
    assert [(n[2], n[4]) for n in w.ep.notes[8:]] == [(b"70", 140000)]


def test_undelivered_goes_before_what_was_stored_meanwhile():
    w = World(pmax=10)
    w.rep.con_every = 1  # every notification CON
    o = Obs(b"t")
    w.rep.add(1, o, P, 0, 0)
    w.vals[P] = 1
    w.rep.tick(10000)
    w.rep.server_offline(1)  # e.g. an Update already went unanswered
    w.vals[P] = 2
    w.rep.tick(20000)
    w.rep.undelivered(o, 60000)
    w.rep.server_online(1, 70000)
    assert [n[2] for n in w.ep.notes] == [b"1", b"1", b"2"]


def test_undelivered_storing_false_drops_but_holds():
    w = World(pmax=10, storing=False)
    w.rep.con_every = 1
    o = Obs(b"t")
    w.rep.add(1, o, P, 0, 0)
    w.rep.tick(10000)
    assert w.ep.notes[0][5] is False  # no storing: no forced CON either
    w.rep.undelivered(o, 60000)
    assert w.rep.is_offline(1) and rep_stored(w.rep, 1) == 0
    w.rep.tick(70000)
    assert len(w.ep.notes) == 1
    w.rep.server_online(1, 75000)
    w.rep.tick(80000)
    assert len(w.ep.notes) == 2 and w.ep.notes[1][4] == 80000


def test_undelivered_unknown_or_removed_observation_ignored():
    w = World(pmax=10)
    o = Obs(b"t")
    w.rep.undelivered(o, 5)
    w.rep.add(1, o, P, 0, 0)
    w.rep.remove(o)
    w.rep.undelivered(o, 6)
    assert not w.rep.is_offline(1) and rep_stored(w.rep, 1) == 0


def test_stored_bounded_drop_count_logged():
    w = World(pmax=10)
    w.rep.max_stored = 3
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    w.rep.server_offline(1)
    for i in range(1, 7):
        w.vals[P] = i
        w.rep.tick(i * 10000)
    assert rep_stored(w.rep, 1) == 3 and w.rep.dropped == {1: 3} and w.ep.notes == []
    w.rep.server_online(1, 70000)
    assert [n[2] for n in w.ep.notes] == [b"4", b"5", b"6"]
    assert w.logs == ["ssid 1: 3 stored notifications dropped (max_stored 3)"]
