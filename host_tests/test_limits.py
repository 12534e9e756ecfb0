# Resource limits: floods of distinct requests / observations / notifications stay bounded, and
# 10,000 requests through the composed client leave the heap flat (gc.mem_alloc() on MicroPython,
# tracemalloc on CPython: util.heap_used).

from coap import msg as M
from coap.endpoint import Endpoint
from lwm2m.report import Reporter
from test_client import CLIENT, TEMP, URI, Net, cfg, tmpdir
from util import heap_trace, heap_used, rebuild_modules_table, rep_count, rep_stored

PEER = ("10.0.0.1", 5683)


def _get(mid, tok, path="/3/0/0", typ=M.CON, observe=None):
    m = M.Message(typ, M.GET, mid, tok)
    if observe is not None:
        m.add(M.OBSERVE, observe)
    m.set_path(path)
    return m.encode()


def test_dedup_cache_bounded_under_flood_of_distinct_requests():
    seen = []
    ep = Endpoint(lambda req, peer, now: (seen.append(req.mid), M.Message(code=M.CONTENT))[1])
    for i in range(3000):
        peer = ("10.0.%d.%d" % (i >> 8 & 255, i & 255), 5683 + (i % 7))
        ep.receive(_get(i & 0xFFFF, bytes((i & 255,))), peer, 1000)
        assert len(ep._dedup) <= 4 * ep.dedup_size
        ep.out.clear()
    assert len(seen) == 3000  # every distinct request reached the handler exactly once
    # the newest ones are still deduplicated: a retransmission is replayed, not re-executed
    ep.receive(_get(2999, bytes((2999 & 255,))), ("10.0.11.183", 5683 + 2999 % 7), 1000)
    assert len(seen) == 3000 and len(ep.out) == 1
    assert M.decode(ep.out[0][0]).code == M.CONTENT


def test_block1_and_exchanges_bounded():
    ep = Endpoint(lambda req, peer, now: M.Message(code=M.CHANGED))
    for i in range(200):
        m = M.Message(M.CON, M.PUT, i, bytes((i,)), payload=bytes(16)).set_path("/5/0/0")
        m.add(M.BLOCK1, M.block_value(0, True, 0))
        ep.receive(m.encode(), ("10.1.0.%d" % i, 5683), 1000)
        assert len(ep._b1) <= ep.max_block1
    ep.out.clear()
    for i in range(ep.max_exchanges):
        ep.request(M.Message(M.CON, M.GET).set_path("/x"), PEER, 1000, lambda r, t: None)
    try:
        ep.request(M.Message(M.CON, M.GET).set_path("/x"), PEER, 1000, lambda r, t: None)
        raise AssertionError("no limit on outgoing exchanges")
    except OSError:
        pass
    assert len(ep._ex) == ep.max_exchanges


def test_endpoint_observations_bounded_past_limit_answered_without_observe():
    ep = Endpoint(None)
    ep.handler = lambda req, peer, now: (ep.observe(req, peer, None),
                                         M.Message(code=M.CONTENT, payload=b"1"))[1]
    answers = []
    for i in range(100):
        ep.receive(_get(i, b"t%03d" % i, observe=0), PEER, 1000)
        answers.append(M.decode(ep.out.pop()[0]))
    assert len(ep.observations) == ep.max_observations
    for i, a in enumerate(answers):
        assert a.code == M.CONTENT
        assert (a.opt(M.OBSERVE) is not None) == (i < ep.max_observations)


_OBS_PATHS = ("/3/0/0", "/3/0/1", "/3/0/2", "/3/0/3", "/3/0", "/4/0", "/5/0/3", "/3/0/10",
              "/3/0/13", "/1/0/1", "/3/0/11")


def test_client_observations_per_server_bounded():
    n = Net(cfg(tmpdir()))
    try:
        s = n.srv(URI)
        n.run(10)
        assert n.c.regs[1].registered
        got = []
        for i in range(60):
            got.append(s.request(M.GET, _OBS_PATHS[i % len(_OBS_PATHS)], observe=0))
            n.run(1)
        accepted = [g[0] for g in got if g[0].opt(M.OBSERVE) is not None]
        assert all(g[0].code == M.CONTENT for g in got)
        limit = min(n.c.ep.max_observations, n.c.reporter.max_obs)
        assert len(accepted) == limit
        assert len(n.c.ep.observations) == limit and rep_count(n.c.reporter, 1) == limit
        # the accepted ones were the first ones; the rest got a plain answer
        assert [g[0].opt(M.OBSERVE) is not None for g in got[:limit]] == [True] * limit
    finally:
        n.close()


class _FakeEp:
    def __init__(self):
        self.sent = []

    def notify(self, obs, code, payload, cf, now, con=False):
        self.sent.append(bytes(payload))
        return True

    def unobserve(self, obs):
        pass


class _Obs:
    def __init__(self, token):
        self.token = token
        self.peer = PEER
        self.ctx = None


def test_stored_notifications_bounded_and_counted():
    vals = [0]

    def read(ssid, path, cf):
        return 0, b"%d" % vals[0], vals[0]

    ep = _FakeEp()
    r = Reporter(ep, read, lambda s, p: {"pmin": 0, "pmax": 0}, lambda s: (0, 0, True))
    r.add(1, _Obs(b"a"), (3, 0, 9), 0, 0)
    r.server_offline(1)
    produced = 200
    for i in range(produced):
        vals[0] = i
        r.changed(3, 0, 9)
        r.tick(i * 10)
        assert rep_stored(r, 1) <= r.max_stored
    assert rep_stored(r, 1) == r.max_stored and r.dropped[1] == produced - r.max_stored
    assert ep.sent == []
    r.server_online(1, produced * 10)
    # the newest max_stored, oldest first; stored + dropped accounts for every one produced
    assert ep.sent == [b"%d" % i for i in range(produced - r.max_stored, produced)]
    assert len(ep.sent) + (produced - r.max_stored) == produced and rep_stored(r, 1) == 0


def _flood(n, s, count, stats):
    """count requests at full rate (clock advanced 1 ms per batch of 8) through the client."""
    sep = s.ep
    done = stats

    def cb(resp, t):
        done[0] += 1
        if resp is not None and resp.code >> 5 == 2:
            done[1] += 1

    paths = ("/3/0", "/3/0/0", "/1/0/1", "/4/0", "/5/0/3", "/3/0/13", "/9/9", "/3/0/2")
    i = 0
    while i < count:
        for k in range(8):
            j = i + k
            m = M.Message(M.CON, M.GET if j % 11 else M.PUT)
            if j % 11 == 0:
                m.set_path("/1/0/2")
                m.add(M.CONTENT_FORMAT, 0)
                m.payload = b"%d" % (j % 5)
            else:
                m.set_path(paths[j % 8])
                if j % 13 == 0:
                    m.add(M.OBSERVE, 0)
                elif j % 13 == 1:
                    m.add(M.OBSERVE, 1)
            sep.request(m, CLIENT, n.clock.now, cb)
        i += 8
        n.pump()
        n.clock.advance(1)
        del n.notes[:]
        del n.lines[:]


def test_ten_thousand_requests_heap_flat():
    heap_trace(True)  # before the warm-up, so CPython's tracemalloc sees the caches fill
    n = Net(cfg(tmpdir()))
    try:
        n.c.registry.add(TEMP).add(0, {5700: 21.5, 5701: "Cel"})
        s = n.srv(URI)
        n.run(10)
        stats = [0, 0]
        _flood(n, s, 800, stats)  # warm-up: caches, dedup ring and interned strings fill up
        del s.answers[:]
        rebuild_modules_table()
        base = heap_used()
        d0 = len(n.c.ep._dedup)
        stats = [0, 0]
        _flood(n, s, 10000, stats)
        end = heap_used()
        assert stats[0] == 10000 and stats[1] > 8000, stats
        assert len(n.c.ep._dedup) <= 4 * n.c.ep.dedup_size and d0 <= 4 * n.c.ep.dedup_size
        assert len(n.c.ep.observations) <= n.c.ep.max_observations
        assert not n.c.ep._ex and not n.c.ep._tx
        assert end - base <= 1024, (base, end)
    finally:
        heap_trace(False)
        n.close()


def test_runner_receive_spare_comes_back_only_once_the_pass_is_done():
    """The runner's spare keeps rx_size contiguous bytes for recvfrom between passes. It is
    dropped for the reads and made again only once the timers after them have run: while a
    datagram is handled it sits in the spare's run, and what the timers start right after (the
    package check after a pull's last block) has its room too. A read that finds no memory leaves
    the datagram for the next pass. Fails if the spare is back before the timers ran, or never."""
    from coap.runner import Runner

    class Ep(Endpoint):
        def receive(self, data, peer, now):
            seen.append(("rx", r._spare))
            Endpoint.receive(self, data, peer, now)

    class T:
        sock = None

        def __init__(self, items):
            self.items = items

        def recv(self, n):
            x = self.items.pop(0) if self.items else None
            if isinstance(x, BaseException):
                raise x
            return x

        def service(self, now):
            return None

    seen = []
    r = Runner(Ep(lambda req, peer, now: M.Message(code=M.CONTENT)), 0)
    r.hooks.append(lambda now: seen.append(("tick", r._spare)))
    udp = r.udp
    try:
        r._transports = [T([(_get(1, b"a"), PEER), (_get(2, b"b"), PEER)])]
        r._receive(1000)
        r._timers(1000)
        assert seen == [("rx", None), ("rx", None), ("tick", None)] and r.received == 2
        assert isinstance(r._spare, bytearray) and len(r._spare) == r.rx_size
        r._transports = [T([MemoryError(), (_get(3, b"c"), PEER)])]
        r._receive(1000)  # no room to read: that pass stops, the datagram stays queued
        r._timers(1000)
        assert r.received == 2 and len(r._spare) == r.rx_size
        r._receive(1000)
        assert r.received == 3 and seen[-1] == ("rx", None)
    finally:
        udp.close()
