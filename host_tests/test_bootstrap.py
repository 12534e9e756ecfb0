# Bootstrap state machine (lib/lwm2m/bootstrap.py) over a fake endpoint and a fake clock.
from coap import msg as m
import coapnums as CN
from lwm2m import bootstrap as bs
from lwm2m.errors import BadRequest, NotFound
from test_register import FakeEP, Lcg
from util import hexb

BS = ("10.0.0.9", 5683)
OTHER = ("10.0.0.66", 5683)


class Dev:
    def __init__(self, hold_off=0, account_timeout=None, usable=True):
        self.ops = []
        self.hold = hold_off
        self.acct = account_timeout
        self.usable = usable
        self.purged = 0
        self.finished = []
        self.fail = None
        self.ep = FakeEP()
        self.b = bs.Bootstrap(
            self.ep, "dev1", BS, self.write, self.delete, self.discover, lambda: self.usable,
            hold_off=lambda: self.hold, account_timeout=lambda: self.acct, purge=self.purge,
            rand=Lcg(5), on_finished=self.finished.append)

    def write(self, path, cf, payload):
        if self.fail:
            raise self.fail
        self.ops.append(("w", path, cf, bytes(payload)))

    def delete(self, path):
        self.ops.append(("d", path))

    def discover(self, path):
        self.ops.append(("disc", path))
        return b"</0/1>,</1/0>"

    def purge(self):
        self.purged += 1


def req(code, path, payload=b"", cf=None, accept=None, query=()):
    r = m.Message(m.CON, code, 7, b"\x01")
    r.set_path(path)
    if cf is not None:
        r.add(m.CONTENT_FORMAT, cf)
    if accept is not None:
        r.add(m.ACCEPT, accept)
    for q in query:
        r.add(m.URI_QUERY, q)
    r.payload = payload
    return r


def started(hold_off=0, **kw):
    d = Dev(hold_off=hold_off, **kw)
    d.b.start(0)
    d.b.tick(hold_off * 1000)
    d.ep.reqs[-1].answer(m.CHANGED, hold_off * 1000)
    return d


def test_hold_off_then_request_bytes():
    d = Dev(hold_off=5)
    d.b.start(1000)
    assert d.b.state == "holdoff" and d.b.active
    assert d.b.tick(1000) == 5000
    assert d.b.tick(5999) == 1 and d.ep.reqs == []
    d.b.tick(6000)
    assert len(d.ep.reqs) == 1 and d.ep.reqs[0].peer == BS
    assert d.ep.reqs[0].msg.encode() == hexb("40 02 00 00 b2") + b"bs" + hexb("47") + b"ep=dev1"
    assert d.b.state == "requesting"
    d.ep.reqs[0].answer(m.CHANGED, 6100)
    assert d.b.state == "bootstrapping"


def test_full_bootstrap_codes():
    d = started()
    tlv = hexb("08 00 0a c1 00 01")
    r = d.b.handle(req(m.DELETE, "/"), BS, 100)
    assert r.code == m.DELETED
    r = d.b.handle(req(m.PUT, "/0/1", tlv, cf=11542), BS, 200)
    assert r.code == m.CHANGED
    r = d.b.handle(req(m.PUT, "/1", tlv, cf=11542), BS, 300)
    assert r.code == m.CHANGED
    r = d.b.handle(req(m.PUT, "/1/0/1", b"300", cf=0), BS, 350)
    assert r.code == m.CHANGED
    r = d.b.handle(req(m.DELETE, "/3"), BS, 360)
    assert r.code == m.DELETED
    r = d.b.handle(req(m.DELETE, "/0/2"), BS, 370)
    assert r.code == m.DELETED
    r = d.b.handle(req(m.GET, "/", accept=40), BS, 380)
    assert r.code == m.CONTENT and bytes(r.payload) == b"</0/1>,</1/0>"
    assert r.uint(m.CONTENT_FORMAT) == 40
    assert d.ops == [("d", ()), ("w", (0, 1), 11542, tlv), ("w", (1,), 11542, tlv),
                     ("w", (1, 0, 1), 0, b"300"), ("d", (3,)), ("d", (0, 2)), ("disc", ())]
    r = d.b.handle(req(m.POST, "/bs"), BS, 400)
    assert r.code == m.CHANGED  # 2.04, never 2.03 (seed 002)
    assert r.code != CN.VALID
    assert d.b.done and d.b.state == "done" and not d.b.active and d.finished == [400]
    assert d.b.tick(10 ** 6) is None
    # finished: a later write is a server-initiated bootstrap (registered or not)
    assert d.b.handle(req(m.PUT, "/0/1", tlv, cf=11542), BS, 600).code == m.CHANGED
    assert d.b.state == "bootstrapping" and not d.b.done


def test_bad_requests():
    d = started()
    assert d.b.handle(req(m.DELETE, "/0/1/2"), BS, 1).code == m.BAD_REQUEST
    assert d.b.handle(req(m.PUT, "/", b"x"), BS, 1).code == m.BAD_REQUEST
    assert d.b.handle(req(m.PUT, "/a/1", b"x"), BS, 1).code == m.BAD_REQUEST
    assert d.b.handle(req(m.PUT, "/0/70000", b"x"), BS, 1).code == m.BAD_REQUEST
    assert d.b.handle(req(m.GET, "/0/1"), BS, 1).code == m.METHOD_NOT_ALLOWED
    assert d.b.handle(req(m.POST, "/1/0/8"), BS, 1).code == m.METHOD_NOT_ALLOWED
    d.fail = NotFound()
    assert d.b.handle(req(m.PUT, "/9/0", b"x"), BS, 1).code == m.NOT_FOUND
    d.fail = BadRequest()
    assert d.b.handle(req(m.PUT, "/0/0", b"x"), BS, 1).code == m.BAD_REQUEST
    d.fail = ValueError("driver bug")
    assert d.b.handle(req(m.PUT, "/0/0", b"x"), BS, 1).code == m.INTERNAL_SERVER_ERROR
    assert d.ops == [] and d.b.state == "bootstrapping"


def test_peer_filtering():
    d = started()
    assert d.b.handle(req(m.PUT, "/0/1", b"x", cf=11542), OTHER, 10) is None
    assert d.b.handle(req(m.POST, "/bs"), OTHER, 10) is None
    assert d.b.handle(req(m.DELETE, "/"), OTHER, 10) is None
    assert d.ops == [] and not d.b.done


def test_bootstrap_server_accepted_while_registered():
    # seed 002 5.2.1: the client MUST accept Bootstrap Information from the Bootstrap-Server at
    # any time (issue 12 point 6: PUT /1/5/1 and POST /bs got 4.01 while registered)
    d = Dev()
    d.b.done = True
    d.b.state = "done"
    r = d.b.handle(req(m.PUT, "/1/5/1", hexb("C1 01 3C"), cf=11542), BS, 0)
    assert r.code == m.CHANGED and d.b.state == "bootstrapping"
    assert d.ops == [("w", (1, 5, 1), 11542, hexb("C1 01 3C"))]
    assert d.b.handle(req(m.POST, "/bs"), BS, 10).code == m.CHANGED
    assert d.finished == [10] and d.b.state == "done"
    # a bare Bootstrap-Finish is accepted as well; a GET outside a bootstrap is not ours
    assert d.b.handle(req(m.POST, "/bs"), BS, 20).code == m.CHANGED
    assert d.b.handle(req(m.GET, "/", accept=40), BS, 30) is None


def test_server_initiated_bootstrap():
    d = Dev()
    r = d.b.handle(req(m.PUT, "/0/1", b"x", cf=11542), BS, 50)
    assert r.code == m.CHANGED and d.b.state == "bootstrapping" and d.b.active
    assert d.b.handle(req(m.POST, "/bs"), BS, 60).code == m.CHANGED
    assert d.b.done and d.finished == [60] and d.ep.reqs == []


def test_server_initiated_during_holdoff_cancels_request():
    d = Dev(hold_off=10)
    d.b.start(0)
    assert d.b.handle(req(m.DELETE, "/"), BS, 1000).code == m.DELETED
    assert d.b.state == "bootstrapping"
    assert d.b.tick(10000) == 51000  # the timeout, not the hold-off POST
    assert d.ep.reqs == []


def test_finish_without_usable_server_is_406_and_restarts():
    d = started(usable=False)
    d.b.handle(req(m.PUT, "/0/1", b"x"), BS, 100)
    r = d.b.handle(req(m.POST, "/bs"), BS, 200)
    assert r.code == m.NOT_ACCEPTABLE and not d.b.done and d.b.state == "backoff"
    wait = d.b.tick(200)
    assert 1500 <= wait <= 2500
    n = len(d.ep.reqs)
    d.b.tick(200 + wait)
    assert len(d.ep.reqs) == n + 1 and d.ep.reqs[-1].msg.path() == ["bs"]
    d.ep.reqs[-1].answer(m.CHANGED, 200 + wait)
    d.usable = True
    assert d.b.handle(req(m.POST, "/bs"), BS, 5000).code == m.CHANGED
    assert d.b.done and d.b.failures == 0


def test_timeout_without_finish_restarts_with_backoff():
    d = started()
    assert d.b.tick(0) == 60000
    d.b.handle(req(m.PUT, "/0/1", b"x"), BS, 30000)  # each request restarts the timer
    assert d.b.tick(30000) == 60000
    assert d.b.tick(89999) == 1 and d.b.state == "bootstrapping"
    wait = d.b.tick(90000)
    assert d.b.state == "backoff" and 1500 <= wait <= 2500
    d.b.tick(90000 + wait)
    assert d.ep.reqs[-1].msg.path() == ["bs"] and len(d.ep.reqs) == 2
    # no answer to POST /bs within the timeout: back off again, longer
    wait2 = d.b.tick(90000 + wait + 60000)
    assert d.ep.reqs[-1].cancelled and 3000 <= wait2 <= 5000
    # a failed POST /bs backs off too
    d.b.tick(90000 + wait + 60000 + wait2)
    d.ep.reqs[-1].timeout(90000 + wait + 60000 + wait2 + 1)
    assert d.b.state == "backoff" and d.b.failures == 3


def test_backoff_bounds_many_failures():
    d = Dev()
    d.b.start(0)
    now = 0
    for n in range(1, 30):
        d.b.tick(now)
        d.ep.reqs[-1].answer(m.BAD_REQUEST, now)
        wait = d.b.tick(now)
        nominal = min(2000 << min(n - 1, 20), 300000)
        assert nominal * 3 // 4 <= wait <= nominal * 5 // 4
        now += wait
    d.b.tick(now)
    assert len(d.ep.reqs) == 30  # never gives up


def test_account_timeout_zero_or_absent_never_purges():
    for acct in (0, None):
        d = started(account_timeout=acct)
        d.b.handle(req(m.POST, "/bs"), BS, 100)
        assert d.b.tick(100) is None
        for t in range(0, 40):
            d.b.tick(t * 10 ** 7 & ((1 << 30) - 1))
        assert d.purged == 0 and d.b.peer == BS


def test_account_timeout_purges_once():
    d = started(account_timeout=30)
    d.b.handle(req(m.POST, "/bs"), BS, 100)
    assert d.b.tick(100) == 30000
    assert d.b.tick(30099) == 1 and d.purged == 0
    assert d.b.tick(30100) is None and d.purged == 1
    assert d.b.peer is None
    assert d.b.handle(req(m.PUT, "/0/1", b"x"), BS, 30200) is None
    d.b.start(30300)  # no bootstrap account left: nothing to do
    assert d.b.state == "done" and d.b.tick(40000) is None and d.purged == 1


def test_account_timeout_longer_than_tick_span():
    d = started(account_timeout=400000)  # 4.6 days
    d.b.handle(req(m.POST, "/bs"), BS, 0)
    now = 0
    total = 0
    while d.purged == 0:
        w = d.b.tick(now)
        if d.purged:
            break
        total += w
        now = (now + w) & ((1 << 30) - 1)
    assert total == 400000 * 1000


def test_over_real_endpoints():
    from test_register import Wire, PEER

    d = Dev(hold_off=1)

    def client(req, peer, now):
        r = d.b.handle(req, peer, now)
        return r if r is not None else m.Message(code=m.UNAUTHORIZED)

    seen = []

    def server(req, peer, now):
        seen.append((req.path(), req.query()))
        return m.Message(code=m.CHANGED)

    w = Wire(server, client)
    d.b.ep = w.c
    d.b.peer = PEER
    d.b.start(0)
    w.run(999, d.b)
    assert seen == []
    w.run(1500, d.b)
    assert seen == [(["bs"], ["ep=dev1"])] and d.b.state == "bootstrapping"
    codes = []
    for code, path, payload in ((m.DELETE, "/", b""), (m.PUT, "/0/1", hexb("c1 00 01")),
                                (m.POST, "/bs", b"")):
        r = m.Message(m.CON, code, payload=payload)
        r.set_path(path)
        w.s.request(r, "C", w.now, lambda resp, now: codes.append(resp.code))
    w.run(2000, d.b)
    assert codes == [m.DELETED, m.CHANGED, m.CHANGED]
    assert d.b.done and d.ops == [("d", ()), ("w", (0, 1), None, hexb("c1 00 01"))]
