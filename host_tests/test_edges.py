"""Exact boundaries and wire behaviour that deliberate bugs once slipped past (issue 16).

Each test names the bug it catches. All pure: they run under CPython and the unix port.
"""
# Over ~400 lines on purpose: a catalogue of boundaries that once let a bug or mutant through;
# one place to add the next.
from coap import msg as M
import coapnums as CN
from coap.endpoint import Endpoint
from lwm2m import json as ljson
from lwm2m import parsejson as pjson
from lwm2m import parse, tlv
from test_client import URI, Net, cfg, rmtree, started, thermometer, tmpdir
from test_coap_endpoint import A, B, BODY, Rand, get, msgs, put_block, run, server
from test_dm import _blocks, call, setup
from test_report import P, Obs, walk
from util import hexb, rep_count, rep_stored


# ---- TLV integer width: the smallest of 1/2/4/8 signed bytes, at every edge ---------------

_INT_EDGES = (
    (-0x80, "80"), (-0x81, "FF 7F"), (0x7F, "7F"), (0x80, "00 80"),
    (-0x8000, "80 00"), (-0x8001, "FF FF 7F FF"), (0x7FFF, "7F FF"), (0x8000, "00 00 80 00"),
    (-0x80000000, "80 00 00 00"), (-0x80000001, "FF FF FF FF 7F FF FF FF"),
    (0x7FFFFFFF, "7F FF FF FF"), (0x80000000, "00 00 00 00 80 00 00 00"),
    (-0x8000000000000000, "80 00 00 00 00 00 00 00"),
    (0x7FFFFFFFFFFFFFFF, "7F FF FF FF FF FF FF FF"),
)


def test_tlv_integer_width_at_every_signed_edge():
    # bug: -32768 took 4 bytes (a `<` where `<=` belongs); a server then sees length 4, not 2
    for v, want in _INT_EDGES:
        b = tlv.encode_value("i", v)
        assert b == hexb(want), (v, b)
        assert parse.tlv_decode_value("i", memoryview(b)) == v
    # the whole resource TLV of -32768: type C2 (2-byte value), id, 80 00
    assert tlv.encode([tlv.resource_node(5, "i", -32768)]) == hexb("C2 05 80 00")
    assert tlv.encode([tlv.resource_node(5, "t", -0x80000000)]) == hexb("C4 05 80 00 00 00")


# ---- JSON strings: every control character escaped, nothing else -------------------------

def test_json_escapes_every_control_character_and_only_those():
    # a hypothesis test caught `\x1f` left raw in 2 runs of 5; this checks all 32 every time
    s = "".join(chr(c) for c in range(0x20)) + ' ~\x7f"\\\u00e9'
    data = ljson.encode("/3/0/", [("0", "s", s)])
    want = "".join("\\u%04x" % c for c in range(0x20)) + ' ~\x7f\\"\\\\\u00e9'
    assert data == ('{"bn":"/3/0/","e":[{"n":"0","sv":"' + want + '"}]}').encode()
    got = pjson.decode(data, (3, 0))
    assert got == [((3, 0, 0), "sv", s)]


# ---- Block2 server: the "more" flag of the last block ------------------------------------

def test_block2_last_block_of_an_exact_multiple_has_more_clear():
    # bug: `off + size <= n` set "more" on the last block of a 2,048-byte body, so the next
    # request (block 2) got 4.02 instead of the transfer ending on 2.05
    body = BODY[:2048]
    ep, h = server(payload=body)
    ep.receive(get("/f", mid=1).encode(), A, 0)
    r, = msgs(ep)
    assert M.block_parts(r.uint(CN.BLOCK2)) == (0, True, 6) and r.uint(CN.SIZE2) == 2048
    ep.receive(get("/f", mid=2, block2=M.block_value(1, False, 6)).encode(), A, 0)
    r, = msgs(ep)
    assert r.code == M.CONTENT and M.block_parts(r.uint(CN.BLOCK2)) == (1, False, 6)
    assert bytes(r.payload) == body[1024:]
    # 64-byte blocks of a 128-byte body: two blocks, the second the last
    h.payload = body[:128]
    ep.receive(get("/f", mid=3, block2=M.block_value(1, False, 2)).encode(), A, 0)
    r, = msgs(ep)
    assert M.block_parts(r.uint(CN.BLOCK2)) == (1, False, 2) and bytes(r.payload) == body[64:128]
    # exactly one block: sent whole, no Block2 at all
    h.payload = body[:1024]
    ep.receive(get("/f", mid=4).encode(), A, 0)
    r, = msgs(ep)
    assert r.opt(CN.BLOCK2) is None and bytes(r.payload) == body[:1024]


def test_block2_download_of_an_exact_multiple_ends_205():
    a = Endpoint(None, Rand(21))
    b, h = server(payload=BODY[:2048])
    parts = []
    fin = []
    a.download(get("/fw", token=b""), B, 0, lambda off, d: parts.append((off, bytes(d))),
               lambda code, now: fin.append(code))
    run(a, b, 0)
    assert fin == [M.CONTENT] and [p[0] for p in parts] == [0, 1024]
    assert b"".join(p[1] for p in parts) == BODY[:2048] and len(h.calls) == 2


# ---- Block2 client: a block that is not the one asked for is never written ---------------

class Blocks:
    """A Block2 server answering block `send(num, n)` when block num is asked for the n-th time;
    after 12 requests it answers 4.04, so a client that loops ends instead of hanging the test."""

    def __init__(self, send, body=BODY, whole=False):
        self.send = send
        self.body = body
        self.whole = whole
        self.asked = []  # (num, more) of each request's Block2

    def __call__(self, req, peer, now):
        v = req.uint(CN.BLOCK2)
        num, more = (0, False) if v is None else M.block_parts(v)[:2]
        self.asked.append((num, more))
        if len(self.asked) > 12:
            return M.Message(code=M.NOT_FOUND)
        if self.whole:
            return M.Message(code=M.CONTENT, payload=self.body)
        k = self.send(num, [a[0] for a in self.asked].count(num))
        r = M.Message(code=M.CONTENT, payload=self.body[k * 1024:k * 1024 + 1024])
        r.add(CN.BLOCK2, M.block_value(k, k * 1024 + 1024 < len(self.body), 6))
        return r


def _download(srv, seed, **kw):
    a = Endpoint(None, Rand(seed))
    b = Endpoint(srv, Rand(seed + 1))
    parts = []
    fin = []
    a.download(get("/fw", token=b""), B, 0, lambda off, d: parts.append((off, bytes(d))),
               lambda code, now: fin.append((code, now)), **kw)
    run(a, b, 5)
    return parts, fin


def test_download_ignores_a_repeated_or_reordered_block():
    # bug: without the offset check a repeated block 0 or an early block 2 reached the sink
    stale = Blocks(lambda num, n: 0 if (num, n) == (1, 1) else num)  # block 1 first gets 0 again
    parts, fin = _download(stale, 22)
    assert [f[0] for f in fin] == [M.CONTENT]
    assert [p[0] for p in parts] == [0, 1024, 2048] and b"".join(p[1] for p in parts) == BODY
    assert [a[0] for a in stale.asked] == [0, 1, 1, 2]  # block 1 asked again
    # a block from further ahead (2 when 1 was asked) is not written either
    ahead = Blocks(lambda num, n: 2 if (num, n) == (1, 1) else num)
    parts, fin = _download(ahead, 24)
    assert [f[0] for f in fin] == [M.CONTENT]
    assert [p[0] for p in parts] == [0, 1024, 2048] and b"".join(p[1] for p in parts) == BODY
    assert [a[0] for a in ahead.asked] == [0, 1, 1, 2]
    # RFC 7959 2.2: the M bit of a Block2 request is 0
    assert [a[1] for a in stale.asked + ahead.asked] == [False] * 8


def test_download_gives_up_after_repeated_wrong_blocks():
    stuck = Blocks(lambda num, n: 0)  # always block 0, whatever is asked
    parts, fin = _download(stuck, 26)
    assert [p[0] for p in parts] == [0]
    assert fin == [(None, 5)] and [a[0] for a in stuck.asked] == [0, 1, 1, 1, 1]


def test_download_of_a_body_sent_whole():
    # a server may answer the Block2 GET with the whole body and no Block2 option
    srv = Blocks(None, body=b"small firmware", whole=True)
    parts, fin = _download(srv, 28)
    assert parts == [(0, b"small firmware")] and fin == [(M.CONTENT, 5)]
    a = Endpoint(None, Rand(38))
    t = a.download(get("/fw", token=b""), B, 0, lambda off, d: None, lambda code, now: None)
    run(a, Endpoint(Blocks(None, body=b"small firmware", whole=True), Rand(39)), 0)
    assert t.offset == 14  # what a resumed download would start from
    srv = Blocks(None, body=b"", whole=True)
    parts, fin = _download(srv, 30)
    assert parts == [(0, b"")] and fin == [(M.CONTENT, 5)]


def test_download_sink_failure_ends_it():
    def sink(off, data):
        raise OSError("flash full")

    for srv in (Blocks(lambda num, n: num), Blocks(None, body=b"x" * 10, whole=True)):
        a = Endpoint(None, Rand(32))
        b = Endpoint(srv, Rand(33))
        fin = []
        a.download(get("/fw", token=b""), B, 0, sink, lambda code, now: fin.append((code, now)))
        run(a, b, 7)
        assert fin == [(None, 7)] and len(srv.asked) == 1 and a.errors == 1
        assert isinstance(a.last_error, OSError)


def test_download_server_may_not_grow_the_block_size():
    srv = Blocks(lambda num, n: num)
    parts, fin = _download(srv, 34, szx=4)  # we asked for 256-byte blocks, it sends 1024
    assert parts == [] and fin == [(None, 5)] and len(srv.asked) == 1


def test_cancelled_download_stops_retransmitting():
    a = Endpoint(None, Rand(36))
    fin = []
    t = a.download(get("/fw", token=b""), B, 0, None, lambda code, now: fin.append(code))
    assert len(a.out) == 1
    del a.out[:]
    t.cancel()
    for now in range(0, 100000, 1000):
        a.tick(now)
    assert a.out == [] and fin == [] and not a._tx


# ---- Block1 client (upload): Size1, the server's answers, its block size ------------------

class Uploads:
    """A Block1 server: answer(num, more, szx, n) -> (code, block1 szx or None) for the n-th
    request; after 12 requests it answers 4.04 so a looping client ends."""

    def __init__(self, answer):
        self.answer = answer
        self.got = []  # (num, more, szx, size1, payload)

    def __call__(self, req, peer, now):
        v = req.uint(M.BLOCK1)
        num, more, szx = (0, False, None) if v is None else M.block_parts(v)
        self.got.append((num, more, szx, req.all(CN.SIZE1), bytes(req.payload)))
        if len(self.got) > 12:
            return M.Message(code=M.NOT_FOUND)
        code, rszx = self.answer(num, more, szx, len(self.got))
        r = M.Message(code=code)
        if rszx is not None:
            r.add(M.BLOCK1, M.block_value(num, more, rszx))
        return r


def _upload(srv, seed, total=600, szx=6, read=None):
    a = Endpoint(None, Rand(seed))
    b = Endpoint(srv, Rand(seed + 1))
    fin = []
    a.upload(M.Message(M.CON, M.PUT).set_path("/5/0/0"), B, 9,
             read or (lambda off, n: BODY[off:off + n]), total,
             lambda code, now: fin.append((code, now)), szx=szx)
    run(a, b, 9)
    return fin, a


def _size1(v):
    out = []
    for x in v:
        n = 0
        for c in bytes(x):
            n = n << 8 | c
        out.append(n)
    return out


def test_upload_size1_only_on_the_first_block_even_after_413():
    def ans(num, more, szx, n):
        if n == 1:
            return CN.REQUEST_ENTITY_TOO_LARGE, 4  # 256-byte blocks please
        return (CN.CONTINUE if more else M.CHANGED), szx

    srv = Uploads(ans)
    fin, a = _upload(srv, 40, total=1100)
    assert fin == [(M.CHANGED, 9)]
    assert [(g[0], g[1], g[2]) for g in srv.got] == [
        (0, True, 6), (0, True, 4), (1, True, 4), (2, True, 4), (3, True, 4), (4, False, 4)]
    assert [_size1(g[3]) for g in srv.got] == [[1100], [1100], [], [], [], []]
    assert b"".join(g[4] for g in srv.got[1:]) == BODY[:1100]


def test_upload_ends_on_any_answer_but_continue():
    for code in (M.BAD_REQUEST, M.UNAUTHORIZED, M.INTERNAL_SERVER_ERROR):
        srv = Uploads(lambda num, more, szx, n: (code, szx))
        fin, a = _upload(srv, 42, total=1100)  # an answer to a non-final block
        assert fin == [(code, 9)] and len(srv.got) == 1 and srv.got[0][1] is True


def test_upload_413_without_a_smaller_size_ends():
    srv = Uploads(lambda num, more, szx, n: (CN.REQUEST_ENTITY_TOO_LARGE, szx))
    fin, a = _upload(srv, 44, total=1100)
    assert fin == [(CN.REQUEST_ENTITY_TOO_LARGE, 9)] and len(srv.got) == 1
    srv = Uploads(lambda num, more, szx, n: (CN.REQUEST_ENTITY_TOO_LARGE, None))
    fin, a = _upload(srv, 46, total=1100)
    assert fin == [(CN.REQUEST_ENTITY_TOO_LARGE, 9)] and len(srv.got) == 1


def test_upload_server_may_shrink_but_not_grow_the_block_size():
    srv = Uploads(lambda num, more, szx, n: ((CN.CONTINUE if more else M.CHANGED), 6))
    fin, a = _upload(srv, 48, szx=4)
    assert fin == [(M.CHANGED, 9)] and [g[2] for g in srv.got] == [4, 4, 4]
    assert b"".join(g[4] for g in srv.got) == BODY[:600]


def test_upload_continue_to_the_last_block_is_a_failure():
    srv = Uploads(lambda num, more, szx, n: (CN.CONTINUE, szx))
    fin, a = _upload(srv, 50, total=100)
    assert fin == [(None, 9)] and len(srv.got) == 1


def test_upload_read_failure_ends_it():
    def read(off, n):
        if off:
            raise OSError("gone")
        return BODY[off:off + n]

    srv = Uploads(lambda num, more, szx, n: ((CN.CONTINUE if more else M.CHANGED), szx))
    fin, a = _upload(srv, 52, total=3000, read=read)
    assert fin == [(None, 9)] and len(srv.got) == 1 and a.errors == 1
    assert isinstance(a.last_error, OSError)
    short = Uploads(lambda num, more, szx, n: ((CN.CONTINUE if more else M.CHANGED), szx))
    fin, a = _upload(short, 54, total=3000, read=lambda off, n: b"x" * 10)  # a short non-final
    assert fin == [(None, 9)] and short.got == []


# ---- Block1 server state: bounded oldest-first, refreshed by each block -------------------

def test_block1_state_full_drops_the_oldest_transfer():
    ep, h = server(code=M.CHANGED, payload=b"")
    for i in range(ep.max_block1 + 1):
        ep.receive(put_block(0, True, 2, bytes(64), i, path="/p%d" % i), A, i)
    msgs(ep)
    paths = [st[1] for st in ep._b1]
    assert len(paths) == ep.max_block1
    assert b"p0" not in paths and b"p1" in paths and paths[-1] == b"p%d" % ep.max_block1
    ep.receive(put_block(1, False, 2, b"end", 50, path="/p1"), A, 100)
    assert msgs(ep)[0].code == M.CHANGED
    ep.receive(put_block(1, False, 2, b"end", 51, path="/p0"), A, 100)
    assert msgs(ep)[0].code == CN.REQUEST_ENTITY_INCOMPLETE


def test_block1_each_block_renews_the_transfer_lifetime():
    ep, h = server(code=M.CHANGED, payload=b"")
    ep.receive(put_block(0, True, 2, bytes(64), 1), A, 0)
    ep.receive(put_block(1, True, 2, bytes(64), 2), A, 200000)
    msgs(ep)
    ep.tick(200000 + 246999)  # 1 ms before the renewed lifetime ends: still there
    assert len(ep._b1) == 1
    ep.receive(put_block(2, False, 2, b"end", 3), A, 200000 + 246999)
    assert msgs(ep)[0].code == M.CHANGED and ep._b1 == []
    ep.receive(put_block(0, True, 2, bytes(64), 4), A, 0)
    ep.tick(246999)
    assert len(ep._b1) == 1
    ep.tick(247000)  # exactly EXCHANGE_LIFETIME after the last block: forgotten
    assert ep._b1 == [] and ep.errors == 0


def test_block2_request_for_the_block_just_past_the_end_is_402():
    ep, h = server(payload=BODY[:2048])
    ep.receive(get("/f", mid=1, block2=M.block_value(2, False, 6)).encode(), A, 0)
    r, = msgs(ep)
    assert r.code == CN.BAD_OPTION and r.payload == b""


def test_block2_of_a_text_payload():
    ep, h = server(payload="abc" * 500)  # a handler may answer str: it goes out as UTF-8
    ep.receive(get("/f", mid=1, block2=M.block_value(1, False, 6)).encode(), A, 0)
    r, = msgs(ep)
    assert M.block_parts(r.uint(CN.BLOCK2)) == (1, False, 6)
    assert bytes(r.payload) == ("abc" * 500).encode()[1024:]


# ---- Reporting: gt / lt are strict ----------------------------------------------------------

def test_gt_value_equal_to_gt_is_not_above():
    # bug: `>=` made reaching gt a crossing. "above gt" means strictly greater (TS 5.1.2)
    # 15 -> 20: still not above; 20 -> 21 crosses up; 21 -> 20 crosses down; 20 -> 19 no change
    assert walk({"gt": 20}, (15, 20, 21, 20, 20, 19)) == [b"21", b"20"]


def test_lt_value_equal_to_lt_is_not_below():
    assert walk({"lt": 5}, (7, 5, 4, 5, 5, 6)) == [b"4", b"5"]


def test_st_step_of_exactly_st_reports():
    # last notified value 10: 10 -> 14 is 4: no; 10 -> 15 is 5: yes; 15 -> 11 is 4: no;
    # 15 -> 10 is 5: yes
    assert walk({"st": 5}, (14, 15, 11, 10)) == [b"15", b"10"]


# ---- DM: a Block1 body of exactly max_body ----------------------------------------------------

def test_block1_body_of_exactly_max_body_is_accepted():
    # bug: `>=` refused a body of exactly the limit with 4.13
    reg, dm, dev, fw = setup()
    dm.max_body = 32
    uri = b"coap://h/" + b"a" * 23  # 32 bytes: two full 16-byte blocks
    assert len(uri) == 32
    codes = [dm.handle(m, 1, 0).code for m in _blocks(M.PUT, "/5/0/1", 0, uri, 16)]
    assert codes == [M.CHANGED, M.CHANGED]
    assert bytes(call(dm, M.GET, "/5/0/1").payload) == uri
    over = uri + b"b"  # one byte more: refused on the block that passes the limit
    codes = [dm.handle(m, 1, 0).code for m in _blocks(M.PUT, "/5/0/1", 0, over, 16)]
    assert codes == [M.CHANGED, M.CHANGED, CN.REQUEST_ENTITY_TOO_LARGE]
    assert bytes(call(dm, M.GET, "/5/0/1").payload) == uri


# ---- Client: Discover never observes; Write-Attributes reaches live observations -----------

def test_discover_with_observe_is_answered_without_observing():
    # bug: GET Accept: 40 with Observe 0 created an observation (and the reply carried Observe)
    n = started()
    try:
        s = n.srv(URI)
        got = s.request(M.GET, "/3/0", accept=40, observe=0)
        n.run(10)
        r = got[0]
        assert r.code == M.CONTENT and r.uint(M.CONTENT_FORMAT) == 40
        assert r.opt(M.OBSERVE) is None
        assert bytes(r.payload).startswith(b"</3/0>")
        assert rep_count(n.c.reporter, 1) == 0 and n.c.ep.observations == []
        n.c.changed(3, 0, 13)
        n.run(5000)
        assert n.notes == []
        # the same GET without Accept: 40 does observe (the test above is not vacuous)
        got = s.request(M.GET, "/3/0/0", observe=0)
        n.run(10)
        assert got[0].uint(M.OBSERVE) is not None and rep_count(n.c.reporter, 1) == 1
    finally:
        n.close()


def test_write_attributes_reach_a_live_observation():
    # bug: without the refresh, pmax=2 written after the observe started sent nothing in 7 s
    d = tmpdir()
    n = Net(cfg(d))
    try:
        _t, s = thermometer(n)
        got = s.request(M.GET, "/3303/0/5700", observe=0)
        n.run(10)
        assert got[0].uint(M.OBSERVE) is not None
        n.run(5000)
        assert n.notes == []  # no pmax yet: silence
        got = s.request(M.PUT, "/3303/0/5700", query=("pmax=2",))
        n.run(10)
        assert got[0].code == M.CHANGED
        n.run(7000)
        # one at once (more than 2 s have passed since the observe response), then every 2 s
        assert [bytes(m.payload) for _, m in n.notes] == [b"21.5"] * 4
    finally:
        n.close()
        rmtree(d)


# ---- ACL: creation events, unbootstrapping of a server (seed 001 D.2.2) ----------------------

def _acl_world(ssids=(1, 2, 3)):
    from test_acl import setup as acl_setup

    reg, t, dm, ran = acl_setup(ssids)
    events = []
    changed = []
    reg.watch(lambda kind, oid, iid: events.append((kind, oid, iid)))
    reg.listener = lambda oid, iid, rid: changed.append((oid, iid))
    return reg, t, dm, events, changed


def test_create_by_a_server_makes_it_owner_and_tells_the_store_and_observers():
    from lwm2m import acl as A
    from lwm2m.model import CREATED
    from lwm2m.objects import access
    from test_acl import req

    reg, t, dm, events, changed = _acl_world()
    access.add(reg, 9001, 65535, 1, {0: A.C})
    n = len(reg.obj(2).insts)
    r = dm.handle(req(M.POST, "/9001", 11542, hexb("C1 00 63")), 2, 0)
    assert r.code == M.CREATED
    new = [i for i in reg.obj(2).insts.values() if i.vals[1] == 1]
    assert len(reg.obj(2).insts) == n + 1 and len(new) == 1
    assert (CREATED, 9001, 1) in events and (CREATED, 2, new[0].iid) in events
    assert (2, None) in changed


def test_creating_an_acl_instance_makes_no_acl_for_it():
    from test_acl import req

    reg, t, dm, events, changed = _acl_world(ssids=(1,))  # one server: it may create in /2
    body = hexb("C2 00 23 29 C1 01 00 C1 03 01")  # /2/x: object 9001, instance 0, owner 1
    r = dm.handle(req(M.POST, "/2", 11542, body), 1, 0)
    assert r.code == M.CREATED
    assert [i.vals.get(0) for i in reg.obj(2).insts.values()] == [9001]


def test_remove_server_every_instance_ownership_and_events():
    from lwm2m import acl as A
    from lwm2m.model import WRITTEN
    from lwm2m.objects import access

    reg, t, dm, events, changed = _acl_world()
    for i in range(1, 7):
        t.add(i, {0: "x%d" % i})
    gone0 = access.add(reg, 9001, 0, 2, {2: 15})  # only 2 reaches these two: both go
    gone1 = access.add(reg, 9001, 1, 2, {2: 15})
    dflt = access.add(reg, 9001, 2, 2, {2: 15, 0: A.W | A.D, 1: A.R})  # 3 holds W+D by default
    weigh = access.add(reg, 9001, 3, 2, {2: 15, 1: A.D, 3: A.W})  # W and D weigh the same
    both = access.add(reg, 9001, 4, 2, {2: 15, 1: A.W, 3: A.W | A.D})  # 3 has more
    entry = access.add(reg, 9001, 5, 1, {2: A.R, 1: 15})  # 2 only has an entry here
    other = access.add(reg, 9001, 6, 1, {1: 15, 3: A.R})  # nothing of 2: untouched
    del events[:]
    del changed[:]
    dm.acl.remove_server(2)
    aco = reg.obj(2).insts
    assert gone0.iid not in aco and gone1.iid not in aco
    assert 0 not in t.insts and 1 not in t.insts and sorted(t.insts) == [2, 3, 4, 5, 6]
    assert aco[dflt.iid].vals == {0: 9001, 1: 2, 2: {0: A.W | A.D, 1: A.R}, 3: 3}
    assert aco[weigh.iid].vals[3] == 1  # a tie: the lowest SSID
    assert aco[both.iid].vals[3] == 3
    assert aco[entry.iid].vals == {0: 9001, 1: 5, 2: {1: 15}, 3: 1}
    assert aco[other.iid].vals == {0: 9001, 1: 6, 2: {1: 15, 3: A.R}, 3: 1}
    # every changed ACL instance is announced (the store saves on it), the untouched one is not
    written = sorted(i for k, o, i in events if k == WRITTEN and o == 2)
    assert written == sorted([dflt.iid, weigh.iid, both.iid, entry.iid])
    assert sorted(i for o, i in changed if o == 2 and i is not None) == written


# ---- text (0): exponent case, object link range and sign ---------------------------------

def test_text_float_exponent_either_case_and_objlnk_edges():
    from lwm2m import text
    from lwm2m.errors import CodecError
    from util import raises

    assert parse.text_decode("f", memoryview(b"1.5E3")) == 1500.0
    assert parse.text_decode("f", memoryview(b"-2.5e-2")) == -0.025
    assert parse.text_decode("l", memoryview(b"65535:65535")) == (65535, 65535)
    assert parse.text_decode("l", memoryview(b"0:0")) == (0, 0)
    for bad in (b"65536:0", b"0:65536", b"+1:2", b"1:+2", b"-0:1", b"1:-0", b"1", b"1:2:3"):
        raises(CodecError, parse.text_decode, "l", memoryview(bad))


# ---- JSON (11543): path depth and range, strict base64; link-format's loose ends ----------

def test_json_paths_at_most_four_levels_of_16_bit_ids():
    from lwm2m.errors import CodecError
    from util import raises

    ok = pjson.decode(b'{"bn":"/3/0/","e":[{"n":"6/1","v":5},{"n":"65535","v":1}]}', (3, 0))
    assert ok == [((3, 0, 6, 1), "v", 5), ((3, 0, 65535), "v", 1)]
    for bad in (b'{"bn":"/3/0/","e":[{"n":"6/1/2","v":1}]}',  # /3/0/6/1/2: five levels
                b'{"bn":"/3/","e":[{"n":"65536","v":1}]}'):
        raises(CodecError, pjson.decode, bad, (3,))


def test_json_opaque_base64_strict():
    from lwm2m.errors import CodecError
    from util import raises

    assert pjson.coerce("o", "sv", "zzzz") == b"\xcf<\xf3"
    assert pjson.coerce("o", "sv", "Zz+/") == b"g?\xbf"
    assert pjson.coerce("o", "sv", "09+/") == b"\xd3\xdf\xbf"  # every class at its edges
    assert pjson.coerce("o", "sv", "AZaz") == b"\x01\x96\xb3"
    assert pjson.coerce("o", "sv", "AA==") == b"\x00" and pjson.coerce("o", "sv", "") == b""
    for bad in ("AAA", "A===", "AB_C", "AB__CD__", "AB[[CD]]", "AB``CD^^", "AB\\\\CD\\\\"):
        raises(CodecError, pjson.coerce, "o", "sv", bad)


def test_link_attribute_ends():
    from lwm2m import linkdecode
    from lwm2m.errors import CodecError
    from util import raises

    assert linkdecode.decode(b'</1>;a=') == [("/1", {"a": ""})]
    assert linkdecode.decode(b'</1>;a') == [("/1", {"a": None})]
    assert linkdecode.decode(b'</1>;a="x"') == [("/1", {"a": "x"})]
    assert linkdecode.decode(b'</1>;a=1;b="q",</2/0>') == [("/1", {"a": "1", "b": "q"}),
                                                          ("/2/0", {})]
    assert linkdecode.decode(b'</1>;a="x\\"y\\\\"') == [("/1", {"a": 'x"y\\'})]
    for bad in (b'</1>;a="', b'</1>;a="x', b'</1>;a="x\\', b'</1>,', b'</1'):
        raises(CodecError, linkdecode.decode, bad)


# ---- TLV header: identifier width, length-field size, node checks in size() as in encode() --

def test_tlv_identifier_and_length_field_edges():
    from lwm2m.errors import CodecError
    from lwm2m.tlv import MULTI_RES, OBJ_INST, RES, RES_INST
    from util import raises

    assert tlv.encode([(RES, 255, b"")]) == hexb("C0 FF")  # 8-bit id up to 255
    assert tlv.encode([(RES, 256, b"")]) == hexb("E0 01 00")
    assert tlv.encode([(RES, 65535, b"\x01")]) == hexb("E1 FF FF 01")
    assert tlv.encode([(RES, 1, bytes(7))]) == hexb("C7 01") + bytes(7)  # length in the type
    assert tlv.encode([(RES, 1, bytes(8))]) == hexb("C8 01 08") + bytes(8)
    assert tlv.encode([(RES, 1, bytes(255))])[:3] == hexb("C8 01 FF")
    assert tlv.encode([(RES, 1, bytes(256))])[:4] == hexb("D0 01 01 00")
    assert tlv.encode([(RES, 1, bytes(65536))])[:5] == hexb("D8 01 01 00 00")
    assert [tlv._len_size(n) for n in (7, 8, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFF)] == \
        [0, 1, 1, 2, 2, 3, 3]
    raises(CodecError, tlv._len_size, 0x1000000)
    for bad in ([(RES, 65536, b"")], [(RES, -1, b"")],
                [(OBJ_INST, 0, [(OBJ_INST, 1, [])])], [(MULTI_RES, 0, [(RES, 1, b"")])],
                [(OBJ_INST, 0, [(MULTI_RES, 1, [(RES_INST, 70000, b"")])])]):
        raises(CodecError, tlv.size, bad)
        raises(CodecError, tlv.encode, bad)
    for bad in ([(4, 1, b"")], [(-1, 1, b"")]):
        raises(CodecError, tlv.encode, bad)
        raises(CodecError, tlv.encode_into, bytearray(8), 0, bad)


# ---- Reporting: errors, per-server storing, the order of stored notifications --------------

class _Rig:
    """A Reporter over callables the test controls: values per path (an Exception instance as a
    value makes the read raise it), attributes per path, /1/x/6 per server."""

    def __init__(self, pmax=0):
        from lwm2m import report as rp

        self.vals = {}
        self.attrs = {}
        self.storing = {}
        self.notes = []
        self.ended = False  # what the endpoint's notify() returns: False = observation over
        self.unobserved = []
        rig = self

        class Ep:
            def notify(self, obs, code, payload, cf, now, con=False):
                rig.notes.append((obs.token, code, bytes(payload), cf, now, con))
                return False if rig.ended else None

            def unobserve(self, obs):
                rig.unobserved.append(obs.token)

        self.rep = rp.Reporter(Ep(), self.read, lambda s, p: self.attrs.get(p, {}),
                               lambda s: (0, pmax, self.storing.get(s, True)))

    def read(self, ssid, path, cf):
        v = self.vals[path]
        if isinstance(v, Exception):
            raise v
        return (cf or 0), str(v).encode(), v

    def add(self, ssid, token, path, now=0, cf=0):
        o = Obs(token)
        o.peer = ssid
        assert self.rep.add(ssid, o, path, cf, now)
        return o


def test_read_errors_become_error_notifications_that_end_the_observation():
    from lwm2m.errors import NotFound

    g = _Rig()
    g.vals[P] = 10
    g.attrs[P] = {"gt": 20}
    g.add(1, b"a", P)
    g.vals[P] = RuntimeError("sensor gone")  # no CoAP code: 5.00
    g.rep.changed(P[0], P[1], P[2])  # the failed read in the gt check lets the change through
    g.rep.tick(100)
    assert g.notes == [(b"a", M.INTERNAL_SERVER_ERROR, b"", None, 100, False)]
    assert rep_count(g.rep, 1) == 0
    g.vals[(3, 0, 9)] = 50
    g.add(1, b"b", (3, 0, 9))
    g.vals[(3, 0, 9)] = NotFound()
    g.rep.changed(3, 0, 9)
    g.rep.tick(200)
    assert g.notes[-1][:2] == (b"b", M.NOT_FOUND) and rep_count(g.rep, 1) == 0


def test_threshold_check_when_the_first_read_failed():
    g = _Rig()
    g.vals[P] = RuntimeError("not ready")
    g.attrs[P] = {"gt": 20, "lt": 5}
    g.add(1, b"a", P)  # no last value known
    g.vals[P] = 25
    g.rep.changed(P[0], P[1], P[2])  # compared with nothing: reported, not a TypeError
    g.rep.tick(100)
    assert [n[2] for n in g.notes] == [b"25"]


def test_an_observation_the_endpoint_ended_is_forgotten():
    g = _Rig()
    g.vals[P] = 1
    g.add(1, b"a", P)
    g.ended = True
    g.rep.changed(P[0], P[1], P[2])
    g.rep.tick(100)
    assert len(g.notes) == 1 and rep_count(g.rep, 1) == 0 and rep_count(g.rep) == 0


def test_full_server_observation_refused_and_unobserved():
    g = _Rig()
    g.rep.max_obs = 2
    g.vals[P] = 1
    g.add(1, b"a", P)
    g.add(2, b"x", P)  # another server has its own count
    g.add(1, b"b", P)
    o = Obs(b"c")
    assert g.rep.add(1, o, P, 0, 0) is False and g.unobserved == [b"c"] and o.ctx is None
    assert rep_count(g.rep, 1) == 2 and rep_count(g.rep, 2) == 1 and rep_count(g.rep) == 3
    g.rep.cancel_server(1)
    assert sorted(g.unobserved) == [b"a", b"b", b"c"] and rep_count(g.rep) == 1


def test_storing_is_per_server():
    g = _Rig(pmax=10)
    g.vals[P] = 1
    g.storing = {1: True, 2: False}
    g.add(1, b"a", P)
    g.add(2, b"b", P)
    g.rep.server_offline(1)
    g.rep.server_offline(2)
    g.rep.tick(10000)
    assert g.notes == [] and rep_stored(g.rep, 1) == 1 and rep_stored(g.rep, 2) == 0


def test_undelivered_con_follows_storing_at_the_time_it_is_lost():
    g = _Rig(pmax=10)
    g.rep.con_every = 1
    g.vals[P] = 1
    o = g.add(1, b"a", P)
    g.rep.tick(10000)
    assert g.notes[-1][5] is True  # CON while storing was on
    g.storing[1] = False  # /1/0/6 written false before the CON timed out
    g.rep.undelivered(o, 60000)
    assert rep_stored(g.rep, 1) == 0 and g.rep.is_offline(1)


def test_lost_cons_go_back_in_time_order_with_their_format():
    g = _Rig(pmax=10)
    g.rep.con_every = 1
    g.vals[P] = 1
    g.vals[(3, 0, 9)] = 2
    g.vals[(3, 0, 7)] = 3
    a = g.add(1, b"a", P, 0, cf=0)
    b = g.add(1, b"b", (3, 0, 9), 5, cf=11542)
    g.add(1, b"c", (3, 0, 7), 9996, cf=0)
    g.rep.tick(10000)  # a: CON at 10000
    g.rep.tick(10005)  # b: CON at 10005
    g.rep.undelivered(a, 50000)  # offline from here
    g.rep.tick(10006 + 10000 - 10)  # c: its first pmax (9996 + 10000) is stored
    assert rep_stored(g.rep, 1) == 2
    g.rep.undelivered(b, 50001)  # b's CON (10005) goes between a's (10000) and c's (19996)
    del g.notes[:]
    g.rep.server_online(1, 60000)
    assert [(n[0], n[3], n[5]) for n in g.notes] == [(b"a", 0, False), (b"b", 11542, False),
                                                     (b"c", 0, False)]


def test_lost_cons_reported_out_of_order_still_go_back_in_time_order():
    g = _Rig(pmax=10)
    g.rep.con_every = 1
    for path in (P, (3, 0, 9), (3, 0, 7)):
        g.vals[path] = 1
    a = g.add(1, b"a", P, 0)
    b = g.add(1, b"b", (3, 0, 9), 1)
    g.add(1, b"c", (3, 0, 7), 2)
    g.rep.tick(10000)  # a: CON at 10000
    g.rep.tick(10001)  # b: CON at 10001
    g.rep.undelivered(b, 50000)  # b's loss is noticed first
    g.rep.tick(10002)  # c: stored at 10002
    g.rep.undelivered(a, 50001)  # a (10000) goes before b (10001), 1 ms apart
    del g.notes[:]
    g.rep.server_online(1, 60000)
    assert [n[0] for n in g.notes] == [b"a", b"b", b"c"]


# ---- dedup: off when dedup_size is 0; a retransmitted CON response is ACKed, not re-run ----

def test_dedup_size_zero_remembers_nothing():
    ep, h = server()
    ep.dedup_size = 0
    raw = get("/a").encode()
    ep.receive(raw, A, 0)
    ep.receive(raw, A, 1)
    assert len(h.calls) == 2 and ep._dedup == []


def test_retransmitted_con_response_acked_again_and_handled_once():
    a = Endpoint(None, Rand(60))
    got = []
    a.request(get("/x", token=b""), B, 0, lambda r, now: got.append((r.code, now)))
    req = M.decode(a.out.pop(0)[0])
    a.receive(M.Message(CN.ACK, CN.EMPTY, req.mid, b"").encode(), B, 10)  # separate response
    resp = M.Message(M.CON, M.CONTENT, 0x7777, req.token, payload=b"late").encode()
    a.receive(resp, B, 500)
    first = a.out[:]
    del a.out[:]
    a.receive(resp, B, 2500)  # our ACK was lost: the server sends the response again
    assert a.out == first and first == [(hexb("60 00 77 77"), B)]
    assert got == [(M.CONTENT, 500)]
    a.tick(500 + 247000)
    assert a._dedup == []


def test_values_held_as_bytes_and_nan():
    from lwm2m import text

    assert text.encode("s", b"ab") == b"ab" and text.encode("s", bytearray(b"c")) == b"c"
    assert text.encode("s", "\u00e9") == b"\xc3\xa9"
    assert ljson.encode("/3/0/", [("0", "s", b"ab")]) == b'{"bn":"/3/0/","e":[{"n":"0","sv":"ab"}]}'
    assert pjson.coerce("o", "sv", "AXXX") == b"\x01\x75\xd7"  # trailing X is base64 too
    b = tlv.encode_value("f", float("nan"))
    assert len(b) == 4 and b[0] & 0x7F == 0x7F and (b[1] & 0x80) == 0x80
    v = parse.tlv_decode_value("f", memoryview(b))
    assert v != v


def test_attributes_dropped_per_server_or_per_subtree_only():
    from lwm2m.attrs import Attrs

    a = Attrs()
    a.set(1, (3, 0, 9), {"pmin": 1})
    a.set(2, (3, 0, 9), {"pmin": 2})
    a.set(1, (3303, 0), {"pmax": 5})
    a.set(2, (3303, 1), {"pmax": 6})
    a.drop(ssid=1)  # a deleted server account: only its own attributes
    assert a.get(1, (3, 0, 9)) is None and a.get(1, (3303, 0)) is None
    assert a.get(2, (3, 0, 9)) == {"pmin": 2} and a.get(2, (3303, 1)) == {"pmax": 6}
    a.set(1, (3303, 0, 5700), {"gt": 1})
    a.drop(path=(3303, 0))  # a deleted instance: what is at and below it, for every server
    assert a.get(1, (3303, 0, 5700)) is None
    assert a.get(2, (3303, 1)) == {"pmax": 6} and a.get(2, (3, 0, 9)) == {"pmin": 2}


def test_reporting_per_server_defaults_reads_and_logs():
    g = _Rig()
    reads = []
    plain = g.read

    def read(ssid, path, cf):
        reads.append((ssid, path, cf))
        return plain(ssid, path, cf)

    logs = []
    from lwm2m import report as rp

    ep = g.rep.ep
    g.rep = rp.Reporter(ep, read, lambda s, p: g.attrs.get(p, {}),
                        lambda s: (0, 10 * s, True), log=logs.append)
    g.vals[P] = 7
    g.attrs[P] = {"st": 1}
    g.add(1, b"a", P, 0, cf=0)
    g.add(2, b"b", P, 0, cf=11542)
    assert sorted(reads) == [(1, P, 0), (2, P, 11542)]  # the first value, as each server reads
    assert g.rep.tick(0) == 10000  # server 1's default pmax 10 s, server 2's 20 s
    g.rep.tick(10000)
    g.rep.tick(20000)
    assert [(n[0], n[4]) for n in g.notes] == [(b"a", 10000), (b"a", 20000), (b"b", 20000)]
    assert [r for r in reads[2:] if r[0] == 2] == [(2, P, 11542)]
    del reads[:]
    g.vals[P] = 9
    g.rep.changed(P[0], P[1], P[2])  # the st check reads as each server, in its format
    assert sorted(reads) == [(1, P, 0), (2, P, 11542)]
    g.rep.server_offline(1)
    g.rep.server_online(1, 25000)  # nothing was dropped: nothing logged
    assert logs == []


def test_tick_reaches_every_observation():
    g = _Rig()
    g.vals[(3303, 0, 9)] = 9
    g.add(1, b"idle", (3303, 0, 9), 0)  # neither due nor dirty, listed before the due ones
    for oid in (3, 4, 5, 3303):
        g.vals[(oid, 0, 1)] = oid
        g.attrs[(oid, 0, 1)] = {"pmax": 3} if oid in (4, 3303) else {}
        g.add(1, b"%d" % oid, (oid, 0, 1), 0)
    g.vals[(5, 0, 2)] = 1
    g.add(1, b"5b", (5, 0, 2), 0)
    assert g.rep.tick(0) == 3000
    g.rep.changed(5, 0, 2)  # the second of object 5's observations
    g.rep.tick(10)
    g.rep.tick(3000)
    assert sorted(n[0] for n in g.notes) == [b"3303", b"4", b"5b"]


def test_stored_error_notification_delivered_after_its_observation_ended():
    g = _Rig(pmax=10)
    g.vals[P] = 1
    g.add(1, b"a", P)
    g.rep.server_offline(1)
    g.vals[P] = RuntimeError("gone")
    g.rep.tick(10000)  # stored: 5.00, and the observation is over
    assert rep_stored(g.rep, 1) == 1 and rep_count(g.rep, 1) == 0
    g.rep.server_online(1, 20000)
    assert [(n[0], n[1]) for n in g.notes] == [(b"a", M.INTERNAL_SERVER_ERROR)]


def test_a_change_reaches_observers_behind_one_waiting_for_pmin():
    g = _Rig()
    g.vals[(3303, 0)] = "inst"
    g.vals[P] = 1
    g.attrs[(3303, 0)] = {"pmin": 5}
    g.add(1, b"inst", (3303, 0), 0)
    g.add(1, b"res", P, 0)
    g.rep.changed(3303, 0, 5700)
    g.rep.tick(1000)  # the resource observer at once, the instance one waits for pmin
    g.rep.changed(3303, 0, 5700)
    g.rep.tick(2000)
    g.rep.tick(5000)
    assert [(n[0], n[4]) for n in g.notes] == [(b"res", 1000), (b"res", 2000), (b"inst", 5000)]


def test_message_helpers_and_room():
    assert [CN.code_str(c) for c in (0x01, 0x45, 0x84, 0xA0, 0xBF)] == [
        "0.01", "2.05", "4.04", "5.00", "5.31"]
    m = M.Message(CN.NON, M.GET, 0x1234, b"\xab").set_path("/3/0")
    m.add(M.URI_QUERY, "pmin=1")
    m.payload = b"xyz"
    assert CN.describe(m) == "<NON 0.01 mid=4660 tok=ab 3/0 ['pmin=1'] 3B>"
    g = _Rig()
    g.rep.max_obs = 1
    g.vals[P] = 1
    assert g.rep.room(1)
    g.add(1, b"a", P)
    assert not g.rep.room(1) and g.rep.room(2)


def test_more_codec_edges():
    from lwm2m import link
    from lwm2m.attrs import Attrs
    from lwm2m.errors import CodecError
    from util import raises

    assert link.parse_attrs(["st=0", "pmin=0"]) == {"st": 0.0, "pmin": 0}
    for bad in (["pmin"], ["pmin="], ["st=-0.5"], ["gt"], ["cancel=1"], ["pmin=1", "pmin=2"]):
        raises(CodecError, link.parse_attrs, bad)
    raises(CodecError, tlv.encode_value, "i", -0x8000000000000001)
    raises(CodecError, tlv.encode_value, "i", 0x8000000000000000)
    assert tlv.encode_value("i", -0x8000000000000000) == hexb("80 00 00 00 00 00 00 00")
    for bad in ((65536, 0), (0, 65536), (-1, 0)):
        raises(CodecError, tlv.encode_value, "l", bad)
    assert tlv.encode_value("l", (65535, 65535)) == hexb("FF FF FF FF")
    assert tlv.encode_value("s", b"ab") == b"ab"
    # encode_into: exactly the room it needs, and not a byte less (16-bit id, 8-bit length)
    nodes = [(tlv.RES, 300, bytes(9))]
    n = tlv.size(nodes)
    assert n == 13 and tlv.encode_into(bytearray(n), 0, nodes) == n
    raises(CodecError, tlv.encode_into, bytearray(n - 1), 0, nodes)
    raises(CodecError, tlv.encode_into, bytearray(n), 1, nodes)
    assert pjson.decode('{"bn":"/3/0/","e":[{"n":"9","v":1}]}', (3, 0)) == [((3, 0, 9), "v", 1)]
    a = Attrs()
    a.set(1, (3, 0, 9), {"pmin": 1})
    a.set(1, (3, 0, 9), {})  # an empty set removes the entry
    assert a.get(1, (3, 0, 9)) is None and a.t == {}
