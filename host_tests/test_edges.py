"""Exact boundaries and wire behaviour that deliberate bugs once slipped past (issue 16).

Each test names the bug it catches. All pure: they run under CPython and the unix port.
"""
from coap import msg as M
from coap.endpoint import Endpoint
from lwm2m import json as ljson
from lwm2m import tlv
from test_client import TEMP, URI, Net, cfg, rmtree, started, tmpdir
from test_coap_endpoint import A, B, BODY, Rand, get, msgs, run, server
from test_dm import _blocks, call, setup
from test_report import P, Obs, World
from util import hexb


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
        assert tlv.decode_value("i", memoryview(b)) == v
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
    got = ljson.decode(data, (3, 0))
    assert got == [((3, 0, 0), "sv", s)]


# ---- Block2 server: the "more" flag of the last block ------------------------------------

def test_block2_last_block_of_an_exact_multiple_has_more_clear():
    # bug: `off + size <= n` set "more" on the last block of a 2,048-byte body, so the next
    # request (block 2) got 4.02 instead of the transfer ending on 2.05
    body = BODY[:2048]
    ep, h = server(payload=body)
    ep.receive(get("/f", mid=1).encode(), A, 0)
    r, = msgs(ep)
    assert M.block_parts(r.uint(M.BLOCK2)) == (0, True, 6) and r.uint(M.SIZE2) == 2048
    ep.receive(get("/f", mid=2, block2=M.block_value(1, False, 6)).encode(), A, 0)
    r, = msgs(ep)
    assert r.code == M.CONTENT and M.block_parts(r.uint(M.BLOCK2)) == (1, False, 6)
    assert bytes(r.payload) == body[1024:]
    # 64-byte blocks of a 128-byte body: two blocks, the second the last
    h.payload = body[:128]
    ep.receive(get("/f", mid=3, block2=M.block_value(1, False, 2)).encode(), A, 0)
    r, = msgs(ep)
    assert M.block_parts(r.uint(M.BLOCK2)) == (1, False, 2) and bytes(r.payload) == body[64:128]
    # exactly one block: sent whole, no Block2 at all
    h.payload = body[:1024]
    ep.receive(get("/f", mid=4).encode(), A, 0)
    r, = msgs(ep)
    assert r.opt(M.BLOCK2) is None and bytes(r.payload) == body[:1024]


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

def test_download_ignores_a_repeated_or_reordered_block():
    # bug: without the offset check a repeated block 0 or an early block 2 reached the sink
    asked = []

    def srv(req, peer, now):
        num = M.block_parts(req.uint(M.BLOCK2))[0] if req.opt(M.BLOCK2) is not None else 0
        asked.append(num)
        send = num
        if asked.count(num) == 1 and num == 1:
            send = 0  # the answer to block 1 carries block 0 again (a stale, repeated block)
        r = M.Message(code=M.CONTENT, payload=BODY[send * 1024:send * 1024 + 1024])
        r.add(M.BLOCK2, M.block_value(send, send * 1024 + 1024 < len(BODY), 6))
        return r

    a = Endpoint(None, Rand(22))
    b = Endpoint(srv, Rand(23))
    parts = []
    fin = []
    a.download(get("/fw", token=b""), B, 0, lambda off, d: parts.append((off, bytes(d))),
               lambda code, now: fin.append(code))
    run(a, b, 0)
    assert fin == [M.CONTENT]
    assert [p[0] for p in parts] == [0, 1024, 2048]
    assert b"".join(p[1] for p in parts) == BODY
    assert asked == [0, 1, 1, 2]  # block 1 asked again after the stale answer

    # a block from further ahead (2 when 1 was asked) is not written either
    asked[:] = []

    def ahead(req, peer, now):
        num = M.block_parts(req.uint(M.BLOCK2))[0] if req.opt(M.BLOCK2) is not None else 0
        asked.append(num)
        send = 2 if (num == 1 and asked.count(1) == 1) else num
        r = M.Message(code=M.CONTENT, payload=BODY[send * 1024:send * 1024 + 1024])
        r.add(M.BLOCK2, M.block_value(send, send * 1024 + 1024 < len(BODY), 6))
        return r

    a = Endpoint(None, Rand(24))
    b = Endpoint(ahead, Rand(25))
    parts[:] = []
    fin[:] = []
    a.download(get("/fw", token=b""), B, 0, lambda off, d: parts.append((off, bytes(d))),
               lambda code, now: fin.append(code))
    run(a, b, 0)
    assert fin == [M.CONTENT] and [p[0] for p in parts] == [0, 1024, 2048]
    assert b"".join(p[1] for p in parts) == BODY and asked == [0, 1, 1, 2]


def test_download_gives_up_after_repeated_wrong_blocks():
    def stuck(req, peer, now):  # always block 0, whatever is asked
        r = M.Message(code=M.CONTENT, payload=BODY[:1024])
        r.add(M.BLOCK2, M.block_value(0, True, 6))
        return r

    a = Endpoint(None, Rand(26))
    b = Endpoint(stuck, Rand(27))
    parts = []
    fin = []
    a.download(get("/fw", token=b""), B, 0, lambda off, d: parts.append((off, bytes(d))),
               lambda code, now: fin.append(code))
    run(a, b, 0)
    assert fin == [None] and [p[0] for p in parts] == [0]


# ---- Reporting: gt / lt are strict ----------------------------------------------------------

def test_gt_value_equal_to_gt_is_not_above():
    # bug: `>=` made reaching gt a crossing. "above gt" means strictly greater (TS 5.1.2)
    w = World()
    w.attrs[P] = {"gt": 20}
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    for i, v in enumerate((15, 20, 21, 20, 20, 19)):
        w.set(P, v)
        w.rep.tick(1000 * (i + 1))
    # 15 -> 20: still not above; 20 -> 21 crosses up; 21 -> 20 crosses down; 20 -> 19 no change
    assert [n[0] for n in w.notes()] == [b"21", b"20"]


def test_lt_value_equal_to_lt_is_not_below():
    w = World()
    w.attrs[P] = {"lt": 5}
    w.rep.add(1, Obs(b"t"), P, 0, 0)
    for i, v in enumerate((7, 5, 4, 5, 5, 6)):
        w.set(P, v)
        w.rep.tick(1000 * (i + 1))
    assert [n[0] for n in w.notes()] == [b"4", b"5"]


def test_st_step_of_exactly_st_reports():
    w = World()
    w.attrs[P] = {"st": 5}
    w.rep.add(1, Obs(b"t"), P, 0, 0)  # last notified value 10
    for i, v in enumerate((14, 15, 11, 10)):
        w.set(P, v)
        w.rep.tick(1000 * (i + 1))
    # 10 -> 14 is 4: no; 10 -> 15 is 5: yes; 15 -> 11 is 4: no; 15 -> 10 is 5: yes
    assert [n[0] for n in w.notes()] == [b"15", b"10"]


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
    assert codes == [M.CHANGED, M.CHANGED, M.REQUEST_ENTITY_TOO_LARGE]
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
        assert n.c.reporter.count(1) == 0 and n.c.ep.observations == []
        n.c.changed(3, 0, 13)
        n.run(5000)
        assert n.notes == []
        # the same GET without Accept: 40 does observe (the test above is not vacuous)
        got = s.request(M.GET, "/3/0/0", observe=0)
        n.run(10)
        assert got[0].uint(M.OBSERVE) is not None and n.c.reporter.count(1) == 1
    finally:
        n.close()


def test_write_attributes_reach_a_live_observation():
    # bug: without the refresh, pmax=2 written after the observe started sent nothing in 7 s
    d = tmpdir()
    n = Net(cfg(d))
    try:
        t = n.c.registry.add(TEMP)
        t.add(0, {5700: 21.5, 5701: "Cel"})
        s = n.srv(URI)
        n.run(10)
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
