# Bad input for the CoAP endpoint: >= 10,000 deterministic malformed / mutated datagrams.
from coap import msg as M
import coapnums as CN
from coap.endpoint import Endpoint

N = 10400
PEERS = (("10.0.0.1", 5683), ("10.0.0.2", 5683), b"\x02\x00\x16\x33")


class Rand:
    """xorshift32: the same corpus under both interpreters."""

    def __init__(self, seed):
        self.s = seed

    def __call__(self, n):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s % n


def seeds():
    out = []
    m = M.Message(M.CON, M.GET, 1, b"\x01\x02").set_path("/3/0/9")
    out.append(m.encode())
    m = M.Message(M.CON, M.GET, 2, b"\x03").set_path("/3/0").add(M.OBSERVE, 0).add(M.ACCEPT, 11542)
    out.append(m.encode())
    m = M.Message(CN.NON, M.GET, 3, b"\x04\x05\x06\x07").set_path("/big")
    m.add(CN.BLOCK2, M.block_value(1, False, 2))
    out.append(m.encode())
    m = M.Message(M.CON, M.PUT, 4, b"\x08", payload=bytes(64)).set_path("/5/0/0")
    m.add(M.BLOCK1, M.block_value(0, True, 2)).add(CN.SIZE1, 300)
    out.append(m.encode())
    m = M.Message(M.CON, M.POST, 5, b"", payload=b"</1/0>,</3/0>").set_path("/rd")
    m.add(M.URI_QUERY, "ep=node-1").add(M.URI_QUERY, "lt=300").add(M.CONTENT_FORMAT, 40)
    out.append(m.encode())
    m = M.Message(M.CON, M.PUT, 6, b"\x09", payload=b"x" * 300).set_path("/1/0/1")
    m.add(35, b"p" * 20)  # Proxy-Uri: critical, unknown to the endpoint
    out.append(m.encode())
    out.append(M.Message(CN.ACK, M.CONTENT, 7, b"\x0a", payload=b"22").encode())
    out.append(M.Message(M.CON, M.CONTENT, 8, b"\x0b").add(M.OBSERVE, 5).encode())
    out.append(M.Message(CN.NON, M.CHANGED, 9, b"\x0c").encode())
    out.append(bytes((0x40, 0, 0, 10)))  # ping
    out.append(bytes((0x60, 0, 0, 11)))
    out.append(bytes((0x70, 0, 0, 12)))
    m = M.Message(M.CON, M.DELETE, 13, b"\x0d").set_path("/3/0/9").add(M.OBSERVE, 1)
    out.append(m.encode())
    return out


def mutate(r, base):
    k = r(8)
    if not base:
        return bytes(r(256) for _ in range(1 + r(8)))
    b = bytearray(base)
    if k == 0:  # bit flips
        for _ in range(1 + r(3)):
            i = r(len(b))
            b[i] ^= 1 << r(8)
    elif k == 1:  # truncation
        b = b[:r(len(b) + 1)]
    elif k == 2:  # random bytes
        b = bytearray(r(256) for _ in range(r(40)))
    elif k == 3:  # option header nibbles (delta/length 13, 14, 15 forms included)
        tkl = b[0] & 15
        i = 4 + min(tkl, 8)
        if i < len(b):
            b[i] = (r(16) << 4) | r(16)
    elif k == 4:  # extended length bytes
        i = 4 + r(max(1, len(b) - 4))
        if i < len(b):
            b[i] = (0xD0 | r(16)) if r(2) else r(256)
    elif k == 5:  # header fields: version 1, random type / tkl / code
        b += bytes(max(0, 4 - len(b)))
        b[0] = 0x40 | (r(4) << 4) | r(16)
        b[1] = r(256)
    elif k == 6:  # insert or delete a byte
        i = r(len(b) + 1)
        if r(2) and i < len(b):
            b = b[:i] + b[i + 1:]
        else:
            b = b[:i] + bytes((r(256),)) + b[i:]
    else:  # junk after the payload marker / extra options at the end
        b += bytes((r(256) for _ in range(r(6))))
    return bytes(b)


def corpus(seed=0xC0A9):
    r = Rand(seed)
    base = seeds()
    for i in range(N):
        d = base[r(len(base))]
        for _ in range(1 + r(2)):
            d = mutate(r, d)
        yield d


class Handler:
    def __init__(self):
        self.calls = 0
        self.ep = None
        self.pending = []

    def __call__(self, req, peer, now):
        self.calls += 1
        n = self.calls % 7
        if n == 0:
            raise ValueError("driver fault")
        if req.code == M.GET and req.opt(M.OBSERVE) is not None:
            self.ep.observe(req, peer, lambda o: None)
        if n == 1:
            self.pending.append((req, peer))
            return None
        return M.Message(code=M.CONTENT, payload=b"z" * (3000 if n == 2 else 5))


def malformed(d):
    try:
        M.decode(d)
        return False
    except M.DecodeError:
        return True


def test_fuzz_corpus_no_escape_rst_for_malformed_con():
    h = Handler()
    ep = Endpoint(h, Rand(99))
    h.ep = ep
    now = 0
    stats = [0, 0, 0, 0]  # malformed CON, other malformed, valid, repeated
    for i, d in enumerate(corpus()):
        peer = PEERS[i % 3]
        ep.receive(d, peer, now)
        out = ep.out[:]
        del ep.out[:]
        if malformed(d):
            if len(d) >= 4 and d[0] >> 4 == 4:  # version 1, CON
                assert out == [(bytes((0x70, 0, d[2], d[3])), peer)], (i, d)
                stats[0] += 1
            else:
                assert out == [], (i, d)
                stats[1] += 1
        else:
            stats[2] += 1
            for data, p in out:
                assert p == peer
                M.decode(data)  # we only ever send well-formed messages
        if i % 9 == 0:  # a retransmission: never handled twice, a CON gets the same answer
            calls = h.calls
            ep.receive(d, peer, now)
            again = ep.out[:]
            del ep.out[:]
            assert h.calls == calls, (i, d)
            if len(d) >= 4 and d[0] >> 4 == 4:
                assert again == out, (i, d)
            stats[3] += 1
        while h.pending:
            req, p = h.pending.pop()
            ep.respond(req, p, M.Message(code=M.CHANGED), now)
        for o in ep.observations[:2]:
            ep.notify(o, M.CONTENT, b"n", 0, now, con=(i & 1) == 1)
        if i % 50 == 0:
            now += 1500
            ep.tick(now)
        for data, p in ep.out:
            M.decode(data)
        del ep.out[:]
        assert len(ep._dedup) <= 4 * ep.dedup_size and len(ep.observations) <= ep.max_observations
        assert len(ep._b1) <= ep.max_block1
    del ep.out[:]
    assert sum(stats[:3]) >= 10000
    assert stats[0] > 1000 and stats[1] > 1000 and stats[2] > 1000 and stats[3] > 1000, stats
    print("fuzz: malformed CON %d, other malformed %d, valid %d, repeated %d" % tuple(stats))
    assert ep.errors == 0, ep.last_error
    assert h.calls > 500
    while ep._tx:  # everything we left in flight winds down
        now += 5000
        ep.tick(now)
    assert ep.tick(now + 250000) is None and ep._dedup == []


def test_fuzz_client_responses():
    # mutated answers to our own outstanding requests: cb at most once each, nothing escapes
    r = Rand(0xBEEF)
    ep = Endpoint(None, Rand(5))
    calls = bytearray(600)

    def make_cb(i):
        def cb(resp, now):
            calls[i] += 1
        return cb

    for i in range(600):
        peer = ("10.0.0.1", 1000 + i)  # a request left hanging must not queue the next one
        tok = bytes((i & 255, i >> 8))
        m = M.Message(M.CON if i & 1 else CN.NON, M.GET, 0, tok).set_path("/x")
        ep.request(m, peer, i, make_cb(i))
        sent = ep.out[:]
        del ep.out[:]
        (d, _), = sent
        mid = (d[2] << 8) | d[3]
        typ = (CN.ACK, M.CON, CN.NON)[(i >> 1) % 3] if i & 1 else (M.CON, CN.NON)[(i >> 1) & 1]
        resp = M.Message(typ, M.CONTENT, mid, tok, b"v")
        for _ in range(4):
            x = mutate(r, resp.encode())
            ep.receive(x, peer, i)
            del ep.out[:]
        ep.receive(resp.encode(), peer, i)  # the real answer settles it if nothing did
        del ep.out[:]
        ep.tick(i)
    assert ep.errors == 0, ep.last_error
    assert max(calls) == 1 and sum(calls) >= 500
    for t in range(0, 400000, 1000):  # the ones left hanging end exactly once too
        ep.tick(600 + t)
    assert list(calls) == [1] * 600 and ep._ex == [] and ep._tx == []
    assert len(ep._dedup) <= 4 * ep.dedup_size
