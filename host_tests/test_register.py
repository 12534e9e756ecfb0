# Registration state machine (lib/lwm2m/register.py) over a fake endpoint and a fake clock.
# Over ~400 lines on purpose: one file per module under test: the registration state machine's
# every state.
from coap import msg as m
import coapnums as CN
from lwm2m import register as rg
from util import hexb

PEER = ("10.0.0.1", 5683)
LINKS = b"</1/0>,</3/0>"


class Handle:
    def __init__(self, msg, peer, now, cb):
        self.msg = msg
        self.peer = peer
        self.now = now
        self.cb = cb
        self.cancelled = False

    def cancel(self):
        self.cancelled = True

    def answer(self, code, now, locs=(), payload=b""):
        r = m.Message(CN.ACK, code)
        for s in locs:
            r.add(m.LOCATION_PATH, s)
        r.payload = payload
        self.cb(r, now)

    def timeout(self, now):
        self.cb(None, now)


class FakeEP:
    """Records request() and notify() calls; the test answers the requests."""

    def __init__(self):
        self.reqs = []
        self.notes = []
        self.unobserved = []

    def request(self, msg, peer, now, cb):
        h = Handle(msg, peer, now, cb)
        self.reqs.append(h)
        return h

    def notify(self, obs, code, payload, cf, now, con=False):
        self.notes.append((obs, code, bytes(payload), cf, now, con))

    def unobserve(self, obs):  # coap.endpoint.Endpoint's: the observation is forgotten
        self.unobserved.append(obs)


class Lcg:
    """Deterministic rand(n) for both interpreters."""

    def __init__(self, seed=1):
        self.s = seed

    def __call__(self, n):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.s >> 8) % n


class Cfg:
    def __init__(self, lifetime=300, binding="U", queue=False):
        self.lifetime = lifetime
        self.binding = binding
        self.queue = queue
        self.links = LINKS

    def params(self):
        return self.lifetime, self.binding, self.queue


def make(lifetime=300, queue=False, rand=None):
    ep = FakeEP()
    cfg = Cfg(lifetime, queue=queue)
    ev = []
    reg = rg.Registration(
        ep, PEER, "node1", cfg.params, lambda: cfg.links, rand=rand or Lcg(),
        on_event=lambda r, what, t, code=0: code or ev.append((what, t)))
    return ep, cfg, reg, ev


def registered(lifetime=300, queue=False, locs=("rd", "5a3f"), now=0, rand=None):
    ep, cfg, reg, ev = make(lifetime, queue, rand)
    reg.start(now)
    ep.reqs[-1].answer(m.CREATED, now, locs)
    return ep, cfg, reg, ev


def test_register_bytes():
    ep, cfg, reg, ev = make()
    reg.start(0)
    assert len(ep.reqs) == 1 and ep.reqs[0].peer == PEER
    want = (hexb("40 02 00 00 b2") + b"rd" + hexb("11 28 38") + b"ep=node1" + hexb("06")
            + b"lt=300" + hexb("09") + b"lwm2m=1.0" + hexb("03") + b"b=U" + hexb("ff") + LINKS)
    assert ep.reqs[0].msg.encode() == want
    assert reg.state == "registering" and not reg.registered


def test_register_no_lifetime_queue_mode():
    ep, cfg, reg, ev = make(lifetime=None, queue=True)
    reg.start(0)
    req = ep.reqs[0].msg
    assert req.path() == ["rd"]
    assert req.query() == ["ep=node1", "lwm2m=1.0", "b=UQ"]
    assert req.uint(m.CONTENT_FORMAT) == 40
    # no lt: the server assumes 86400 s, so the Update comes 60 s before that
    ep.reqs[0].answer(m.CREATED, 0, ("rd", "x"))
    assert reg.tick(0) == 93000  # queue window first
    assert reg.tick(93000) == 86340000 - 93000


def test_binding_param():
    assert rg.binding_param("U", False) == "U"
    assert rg.binding_param("UQ", False) == "U"
    assert rg.binding_param("U", True) == "UQ"
    assert rg.binding_param("US", True) == "UQS"
    assert rg.binding_param(None, False) == "U"


def test_location_several_options_or_one_with_slashes():
    for locs in (("rd", "5a3f"), ("rd/5a3f",), ("/rd/5a3f",)):
        ep, cfg, reg, ev = registered(locs=locs)
        assert reg.registered and reg.state == "registered"
        assert reg.location == "/rd/5a3f"
        assert ev == [("registered", 0)]
        reg.trigger_update(10)
        assert ep.reqs[-1].msg.path() == ["rd", "5a3f"]


def test_register_without_location_is_a_failure():
    ep, cfg, reg, ev = make()
    reg.start(0)
    ep.reqs[0].answer(m.CREATED, 0, ())
    assert reg.state == "backoff" and reg.failures == 1 and ev == []


def test_update_timing_exact():
    for lifetime, at in ((300, 270000), (86400, 86340000), (60, 54000), (5, 4000), (1, 1000),
                         (2, 1000), (600, 540000), (601, 541000)):
        ep, cfg, reg, ev = registered(lifetime=lifetime, now=1000)
        assert reg.tick(1000) == at
        assert reg.tick(1000 + at - 1) == 1
        assert len(ep.reqs) == 1
        assert reg.tick(1000 + at) is None  # Update in flight: the endpoint owns the timing now
        assert len(ep.reqs) == 2
        u = ep.reqs[1].msg
        assert u.code == m.POST and u.path() == ["rd", "5a3f"]
        # the Update answered: the next one a full interval after the answer
        ep.reqs[1].answer(m.CHANGED, 1000 + at + 500)
        assert reg.tick(1000 + at + 500) == at


def test_update_margin_never_below_one_second():
    for lifetime in range(2, 5000, 7):
        ep, cfg, reg, ev = registered(lifetime)
        ms = reg.tick(0)  # registered at 0: ms until the Update
        assert lifetime * 1000 - ms >= 1000, lifetime
        assert lifetime * 1000 - ms <= 60000
        assert ms >= 1000


def test_update_carries_only_changes():
    ep, cfg, reg, ev = registered()
    reg.tick(270000)
    u = ep.reqs[-1].msg
    assert u.encode() == hexb("40 02 00 00 b2") + b"rd" + hexb("04") + b"5a3f"  # empty Update
    ep.reqs[-1].answer(m.CHANGED, 270000)
    cfg.lifetime = 600
    reg.trigger_update(270001)
    u = ep.reqs[-1].msg
    assert u.query() == ["lt=600"] and u.payload == b"" and u.opt(m.CONTENT_FORMAT) is None
    ep.reqs[-1].answer(m.CHANGED, 270002)
    cfg.queue = True
    reg.trigger_update(270003)
    u = ep.reqs[-1].msg
    assert u.query() == ["b=UQ"] and u.payload == b""
    ep.reqs[-1].answer(m.CHANGED, 270004)
    cfg.links = b"</1/0>,</3/0>,</5/0>"
    reg.trigger_update(270005)
    u = ep.reqs[-1].msg
    assert u.query() == [] and u.payload == b"</1/0>,</3/0>,</5/0>"
    assert u.uint(m.CONTENT_FORMAT) == 40
    ep.reqs[-1].answer(m.CHANGED, 270006)
    reg.trigger_update(270007)
    u = ep.reqs[-1].msg
    assert u.query() == [] and u.payload == b""


def test_failed_update_does_not_commit_changes():
    ep, cfg, reg, ev = registered()
    cfg.lifetime = 120
    reg.trigger_update(5)
    assert ep.reqs[-1].msg.query() == ["lt=120"]
    ep.reqs[-1].answer(m.NOT_FOUND, 6)
    # a full Register replaces the registration with the new values
    r = ep.reqs[-1].msg
    assert r.path() == ["rd"] and "lt=120" in r.query() and r.payload == LINKS
    ep.reqs[-1].answer(m.CREATED, 7, ("rd", "new"))
    reg.trigger_update(8)
    assert ep.reqs[-1].msg.query() == [] and ep.reqs[-1].msg.path() == ["rd", "new"]


def test_lifetime_removed_sends_default():
    ep, cfg, reg, ev = registered()
    cfg.lifetime = None
    reg.trigger_update(1)
    assert ep.reqs[-1].msg.query() == ["lt=86400"]


def test_trigger_sends_at_once_and_queues_during_update():
    ep, cfg, reg, ev = registered()
    reg.trigger_update(100)
    assert len(ep.reqs) == 2 and reg.state == "updating" and reg.registered
    reg.trigger_update(150)  # one in flight: another follows the answer
    assert len(ep.reqs) == 2
    ep.reqs[1].answer(m.CHANGED, 200)
    assert reg.tick(200) is None
    assert len(ep.reqs) == 3 and ep.reqs[2].msg.path() == ["rd", "5a3f"]


def test_update_404_registers_again():
    ep, cfg, reg, ev = registered()
    reg.tick(270000)
    ep.reqs[1].answer(m.NOT_FOUND, 270100)
    assert ev == [("registered", 0), ("lost", 270100)]
    assert len(ep.reqs) == 3
    r = ep.reqs[2].msg
    assert r.path() == ["rd"] and r.query()[0] == "ep=node1" and r.payload == LINKS
    assert reg.state == "registering" and reg.location is None
    ep.reqs[2].answer(m.CREATED, 270200, ("rd", "b"))
    assert reg.location == "/rd/b" and ev[-1] == ("registered", 270200)


def test_update_timeout_registers_again():
    ep, cfg, reg, ev = registered()
    reg.tick(270000)
    ep.reqs[1].timeout(363000)
    assert ev[-1] == ("lost", 363000)
    assert ep.reqs[2].msg.path() == ["rd"]


def test_backoff_bounds_and_never_stops():
    for seed in (1, 7, 12345):
        ep, cfg, reg, ev = make(rand=Lcg(seed))
        now = 0
        reg.start(now)
        seen_cap = False
        for n in range(1, 40):
            h = ep.reqs[-1]
            if n % 3:
                h.answer(CN.SERVICE_UNAVAILABLE, now)
            else:
                h.timeout(now)
            assert reg.state == "backoff" and reg.failures == n
            nominal = min(2000 << min(n - 1, 20), 300000)
            d = reg.tick(now)
            assert nominal * 3 // 4 <= d <= nominal * 5 // 4, (n, d)
            assert d >= 1500  # never a tight loop
            seen_cap = seen_cap or nominal == 300000
            count = len(ep.reqs)
            assert reg.tick(now + d - 1) == 1 and len(ep.reqs) == count
            now += d
            reg.tick(now)
            assert len(ep.reqs) == count + 1 and ep.reqs[-1].msg.path() == ["rd"]
        assert seen_cap
        ep.reqs[-1].answer(m.CREATED, now, ("rd", "1"))
        assert reg.failures == 0 and reg.registered


def test_backoff_jitter_extremes():
    ep, cfg, reg, ev = make(rand=lambda n: 0)
    assert reg.backoff_ms(1) == 1500 and reg.backoff_ms(3) == 6000
    assert reg.backoff_ms(30) == 225000
    reg = rg.Registration(ep, PEER, "x", cfg.params, lambda: LINKS, rand=lambda n: n - 1)
    assert reg.backoff_ms(1) == 2500 and reg.backoff_ms(100) == 375000
    vals = set()
    r = Lcg(3)
    reg = rg.Registration(ep, PEER, "x", cfg.params, lambda: LINKS, rand=r)
    for _ in range(200):
        vals.add(reg.backoff_ms(2))
    assert len(vals) > 50 and min(vals) >= 3000 and max(vals) <= 5000


def test_deregister():
    ep, cfg, reg, ev = registered()
    done = []
    reg.deregister(10, done.append)
    d = ep.reqs[-1].msg
    assert d.encode() == hexb("40 04 00 00 b2") + b"rd" + hexb("04") + b"5a3f"
    assert reg.state == "deregistering" and done == []
    ep.reqs[-1].answer(m.DELETED, 20)
    assert done == [20] and reg.state == "deregistered" and not reg.registered
    assert ev[-1] == ("deregistered", 20)
    assert reg.tick(10 ** 6) is None and len(ep.reqs) == 2  # stays quiet


def test_deregister_when_not_registered_is_immediate():
    ep, cfg, reg, ev = make()
    reg.start(0)
    done = []
    reg.deregister(5, done.append)
    assert ep.reqs[0].cancelled and done == [5] and len(ep.reqs) == 1
    ep.reqs[0].answer(m.CREATED, 6, ("rd", "late"))  # a late answer is ignored
    assert reg.state == "deregistered" and reg.location is None


def test_disable_default_timeout():
    ep, cfg, reg, ev = registered()
    reg.disable(1000)
    assert ep.reqs[-1].msg.code == m.DELETE
    ep.reqs[-1].answer(m.DELETED, 1100)
    assert reg.state == "disabled" and not reg.registered and ev[-1] == ("deregistered", 1100)
    n = len(ep.reqs)
    assert reg.tick(1100) == 86400000
    assert reg.tick(1100 + 86399999) == 1 and len(ep.reqs) == n
    reg.trigger_update(5000)  # silent while disabled
    assert len(ep.reqs) == n
    reg.tick(1100 + 86400000)
    assert len(ep.reqs) == n + 1 and ep.reqs[-1].msg.path() == ["rd"]


def test_disable_long_timeout_across_tick_wrap():
    from util import FakeClock

    ep, cfg, reg, ev = registered()
    clk = FakeClock(0)
    reg.disable(clk.now, 300000)  # 3.5 days: longer than one safe ticks span
    ep.reqs[-1].answer(m.DELETED, clk.now)
    n = len(ep.reqs)
    elapsed = 0
    while len(ep.reqs) == n:
        d = reg.tick(clk.now)
        if len(ep.reqs) != n:
            break
        assert d is not None and d > 0
        clk.advance(d)
        elapsed += d
    assert elapsed == 300000 * 1000
    assert ep.reqs[-1].msg.path() == ["rd"]


def test_disable_while_not_registered():
    ep, cfg, reg, ev = make()
    reg.disable(0, 10)
    assert reg.state == "disabled" and ep.reqs == []
    assert reg.tick(0) == 10000
    reg.tick(10000)
    assert len(ep.reqs) == 1


def test_queue_mode_window():
    ep, cfg, reg, ev = registered(queue=True)
    assert reg.awake
    assert reg.tick(0) == 93000
    reg.activity(50000)  # the server talked to us: window restarts
    assert reg.tick(50000) == 93000
    assert reg.tick(143000) == 270000 - 143000
    assert not reg.awake and ev[-1] == ("sleep", 143000)
    # reporting needs the server: an Update wakes us
    reg.wake(150000)
    assert reg.awake and ep.reqs[-1].msg.path() == ["rd", "5a3f"]
    reg.wake(150001)  # already awake: no second Update
    assert len(ep.reqs) == 2
    ep.reqs[-1].answer(m.CHANGED, 151000)
    assert ev[-1] == ("wake", 151000)
    assert reg.tick(151000) == 93000
    reg.tick(244000)
    assert not reg.awake
    # the lifetime Update wakes us too
    reg.tick(151000 + 270000)
    assert reg.awake and len(ep.reqs) == 3


def test_queue_window_configurable_and_off_without_queue():
    ep, cfg, reg, ev = make(queue=True)
    reg.queue_window_ms = 5000
    reg.start(0)
    ep.reqs[0].answer(m.CREATED, 0, ("rd", "q"))
    assert reg.tick(0) == 5000
    reg.tick(5000)
    assert not reg.awake
    ep, cfg, reg, ev = registered(queue=False)
    reg.tick(93000)
    reg.tick(200000)
    assert reg.awake and ("sleep", 93000) not in ev


def test_reregister_clears_via_callback():
    ep, cfg, reg, ev = registered()
    reg.start(10)  # explicit re-Register (e.g. after a factory reset of the server side)
    ep.reqs[-1].answer(m.CREATED, 11, ("rd", "z"))
    assert ev == [("registered", 0), ("registered", 11)]


def test_stop_is_silent():
    ep, cfg, reg, ev = registered()
    reg.stop(5)
    assert reg.state == "idle" and len(ep.reqs) == 1 and reg.tick(10 ** 6) is None
    assert ev[-1] == ("deregistered", 5)


# --- over two real coap.endpoint.Endpoint instances wired back to back ------------------------

class Wire:
    """Client and server endpoints exchanging datagrams in memory; `down` drops everything."""

    def __init__(self, server_handler, client_handler=None):
        from coap.endpoint import Endpoint

        self.c = Endpoint(client_handler, rand=Lcg(11))
        self.s = Endpoint(server_handler, rand=Lcg(22))
        self.down = False
        self.now = 0
        self.tap = []  # datagrams client -> server

    def pump(self):
        moved = True
        while moved:
            moved = False
            for src, dst, peer in ((self.c, self.s, "C"), (self.s, self.c, PEER)):
                out, src.out = src.out, []
                for data, _ in out:
                    moved = True
                    if src is self.c:
                        self.tap.append(data)
                    if not self.down:
                        dst.receive(data, peer, self.now)

    def run(self, until, *machines):
        """Advance time deadline by deadline (as a runner would) up to `until`."""
        while True:
            for _ in range(2):  # a second round sees what the first round's answers armed
                self.pump()
                ds = [d for d in [self.c.tick(self.now), self.s.tick(self.now)]
                      + [x.tick(self.now) for x in machines] if d is not None]
            self.pump()
            nxt = min(ds) if ds else None
            if nxt is None or self.now + max(nxt, 1) > until:
                self.now = until
                for x in machines:
                    x.tick(self.now)
                self.c.tick(self.now)
                self.pump()
                return
            self.now += max(nxt, 1)


class RdServer:
    """Minimal resource directory: answers Register with a one-option 'rd/N' location."""

    def __init__(self):
        self.log = []
        self.n = 0
        self.forget = False

    def __call__(self, req, peer, now):
        self.log.append((now, req.code, "/".join(req.path()), req.query(), bytes(req.payload)))
        p = req.path()
        if req.code == m.POST and p == ["rd"]:
            self.n += 1
            r = m.Message(code=m.CREATED)
            r.add(m.LOCATION_PATH, "rd/%d" % self.n)
            return r
        if p == ["rd", str(self.n)] and not self.forget:
            return m.Message(code=m.CHANGED if req.code == m.POST else m.DELETED)
        return m.Message(code=m.NOT_FOUND)


def test_over_real_endpoints_register_update_reregister_deregister():
    srv = RdServer()
    w = Wire(srv)
    cfg = Cfg(60)
    reg = rg.Registration(w.c, PEER, "node1", cfg.params, lambda: cfg.links, rand=Lcg(4))
    reg.start(0)
    w.run(10, reg)
    assert reg.registered and reg.location == "/rd/1"
    assert srv.log[0] == (0, m.POST, "rd", ["ep=node1", "lt=60", "lwm2m=1.0", "b=U"], LINKS)
    w.run(54000 + 100, reg)  # lifetime 60 s: Update at 54 s
    assert srv.log[1] == (54000, m.POST, "rd/1", [], b"")
    # the server restarts and forgets us: 4.04 to the next Update, then a new Register
    srv.forget = True
    w.run(108000 + 100, reg)
    assert srv.log[2][:3] == (108000, m.POST, "rd/1")
    assert srv.log[3][:3] == (108000, m.POST, "rd") and reg.location == "/rd/2"
    srv.forget = False
    # the server goes silent: Update times out (~93 s of CON retransmissions), then Register
    # attempts back off until it comes back
    w.down = True
    w.run(108000 + 54000 + 200000, reg)
    assert not reg.registered and reg.state in ("backoff", "registering")
    w.down = False
    w.run(108000 + 54000 + 200000 + 400000, reg)
    assert reg.registered and reg.location == "/rd/3" and reg.failures == 0
    done = []
    reg.deregister(w.now, done.append)
    w.run(w.now + 10, reg)
    assert srv.log[-1][1:3] == (m.DELETE, "rd/3") and done and reg.state == "deregistered"


def test_default_rand_and_full_endpoint():
    class FullEP(FakeEP):
        def request(self, msg, peer, now, cb):
            raise OSError("too many requests")

    cfg = Cfg()
    reg = rg.Registration(FullEP(), PEER, "n", cfg.params, lambda: LINKS)  # os.urandom jitter
    for _ in range(20):
        assert 1500 <= reg.backoff_ms(1) <= 2500
    reg.start(0)  # the endpoint refuses: a failed attempt, retried later, never a raise
    assert reg.state == "backoff" and reg.failures == 1
    d = reg.tick(0)
    reg.tick(d)
    assert reg.state == "backoff" and reg.failures == 2


# --- Update unanswered: keep the registration while its lifetime lasts ---------------------

def _exact():
    return lambda n: 250  # backoff factor (750 + 250) / 1000: nominal delays, exact ms


def test_update_timeout_retries_with_backoff_while_valid():
    ep, cfg, reg, ev = registered(lifetime=3600, rand=_exact())
    assert reg.tick(0) == 3540000  # lifetime minus a 60 s margin
    reg.tick(3540000)
    assert len(ep.reqs) == 2 and ep.reqs[1].msg.path() == ["rd", "5a3f"]
    ep.reqs[1].timeout(3550000)
    assert reg.state == "retrying" and reg.registered and reg.location == "/rd/5a3f"
    assert ev == [("registered", 0), ("offline", 3550000)] and reg.update_failures == 1
    assert reg.tick(3550000) == 2000
    assert reg.tick(3551999) == 1 and len(ep.reqs) == 2
    reg.tick(3552000)
    u = ep.reqs[2].msg
    assert len(ep.reqs) == 3 and u.path() == ["rd", "5a3f"] and u.query() == [] and not u.payload
    ep.reqs[2].timeout(3560000)
    assert reg.tick(3560000) == 4000 and ev[-1] == ("offline", 3550000)  # reported once
    reg.trigger_update(3561000)  # e.g. another notification timeout: the retry carries it
    assert len(ep.reqs) == 3
    reg.tick(3564000)
    assert len(ep.reqs) == 4
    ep.reqs[3].answer(m.CHANGED, 3564100)
    assert ev == [("registered", 0), ("offline", 3550000), ("online", 3564100)]
    assert reg.state == "registered" and reg.update_failures == 0
    # the lifetime counts again from the successful Update: next one 3540 s later
    assert reg.tick(3564100) == 3540000
    assert not [e for e in ev if e[0] in ("lost", "registered") and e[1]]


def test_update_retry_backoff_grows_with_jitter_bounds():
    ep, cfg, reg, ev = registered(lifetime=86400, rand=Lcg(9))
    now = 1000
    reg.trigger_update(now)  # e.g. a CON notification went unanswered
    for n in range(1, 9):
        ep.reqs[-1].timeout(now)
        d = reg.tick(now)
        nominal = min(2000 << (n - 1), 300000)
        assert nominal * 3 // 4 <= d <= nominal * 5 // 4, (n, d)
        now += d
        reg.tick(now)
        assert ep.reqs[-1].msg.path() == ["rd", "5a3f"]
    assert reg.update_failures == 8 and ev.count(("registered", 0)) == 1


def test_update_retry_until_lifetime_expires_then_register():
    ep, cfg, reg, ev = registered(lifetime=3600, rand=_exact())
    reg.tick(3540000)
    ep.reqs[1].timeout(3590000)
    assert reg.tick(3590000) == 2000
    reg.tick(3592000)
    ep.reqs[2].timeout(3599000)
    assert reg.tick(3599000) == 1000  # the back-off is cut at the expiry
    reg.tick(3599999)
    assert len(ep.reqs) == 3
    reg.tick(3600000)
    assert ev == [("registered", 0), ("offline", 3590000), ("lost", 3600000)]
    assert reg.state == "registering" and reg.location is None
    assert ep.reqs[3].msg.path() == ["rd"] and reg.update_failures == 0
    ep.reqs[3].answer(m.CREATED, 3600100, ("rd", "b"))
    assert ev[-1] == ("registered", 3600100) and reg.location == "/rd/b"


def test_update_timeout_after_expiry_registers_at_once():
    ep, cfg, reg, ev = registered(lifetime=300, rand=_exact())
    reg.tick(270000)
    ep.reqs[1].timeout(300000)  # exactly at the end of the lifetime
    assert ev == [("registered", 0), ("lost", 300000)] and ep.reqs[2].msg.path() == ["rd"]


def test_retrying_then_404_or_error_registers_at_once():
    for code in (m.NOT_FOUND, m.BAD_REQUEST, CN.SERVICE_UNAVAILABLE):
        ep, cfg, reg, ev = registered(lifetime=3600, rand=_exact())
        reg.tick(3540000)
        ep.reqs[1].timeout(3545000)
        reg.tick(3547000)
        ep.reqs[2].answer(code, 3547100)
        assert ev == [("registered", 0), ("offline", 3545000), ("lost", 3547100)], code
        assert reg.state == "registering" and ep.reqs[3].msg.path() == ["rd"]


def test_update_error_code_registers_at_once_without_retry():
    ep, cfg, reg, ev = registered(lifetime=3600, rand=_exact())
    reg.tick(3540000)
    ep.reqs[1].answer(m.INTERNAL_SERVER_ERROR, 3540100)
    assert ev == [("registered", 0), ("lost", 3540100)] and ep.reqs[2].msg.path() == ["rd"]


def test_retrying_carries_changes_and_deregister_still_deletes():
    ep, cfg, reg, ev = registered(lifetime=3600, rand=_exact())
    reg.trigger_update(1000)
    ep.reqs[1].timeout(50000)
    cfg.lifetime = 600  # Lifetime written while unreachable
    reg.trigger_update(50001)
    assert len(ep.reqs) == 2
    reg.tick(52000)
    assert ep.reqs[2].msg.query() == ["lt=600"]
    ep.reqs[2].timeout(60000)
    reg.deregister(61000)
    assert ep.reqs[3].msg.code == m.DELETE and ep.reqs[3].msg.path() == ["rd", "5a3f"]
    ep.reqs[3].answer(m.DELETED, 61100)
    assert reg.state == "deregistered" and reg.tick(70000) is None


def test_queue_mode_retry_success_wakes():
    ep, cfg, reg, ev = registered(lifetime=3600, queue=True, rand=_exact())
    reg.tick(3540000)
    ep.reqs[-1].timeout(3550000)
    assert ev[-1] == ("offline", 3550000) and not reg.awake
    reg.wake(3551000)  # a stored notification asks for the server: the retry will come
    assert len(ep.reqs) == 2
    reg.tick(3552000)
    ep.reqs[-1].answer(m.CHANGED, 3552100)
    assert ev[-1] == ("wake", 3552100) and reg.awake
