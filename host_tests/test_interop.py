"""Issue 12 at the unit level (both interpreters): Server object range checks (also on bootstrap
writes and from the store), Write-Attributes that unset, TLV-wrapped streamed writes, memory
figures sampled at most once a second, pmin == pmax. The wire-level replays are in
test_peer_interop.py."""
from coap import msg as M
import coapnums as CN
from lwm2m import accounts, provision
from lwm2m.bsops import BsOps
from lwm2m.errors import BadRequest
from lwm2m.model import Registry
from lwm2m.objects import device, server
from lwm2m.report import Reporter
from test_dm import call, setup
from util import MemStore, hexb, raises


def test_server_writes_range_checked_before_anything_applies():
    reg, dm, _, _ = setup()
    o1 = reg.obj(1)
    # TLV C1 01 F0: a 1.0 TLV integer, -16
    assert call(dm, M.PUT, "/1/0/1", cf=11542, payload=hexb("C1 01 F0")).code == M.BAD_REQUEST
    assert o1.get(0, 1) == 300
    for path, v in (("/1/0/1", b"0"), ("/1/0/2", b"-1"), ("/1/0/3", b"-1"), ("/1/0/5", b"-3"),
                    ("/1/0/1", b"2147483648"), ("/1/0/7", b"S"), ("/1/0/7", b"US")):
        assert call(dm, M.PUT, path, cf=0, payload=v).code == M.BAD_REQUEST, path
    # an instance write: one bad value and nothing is applied
    tlv = hexb("C1 02 05 C1 01 F0 C1 06 01 C1 07 55")
    assert call(dm, M.POST, "/1/0", cf=11542, payload=tlv).code == M.BAD_REQUEST
    assert 2 not in o1.insts[0].vals and o1.get(0, 1) == 300
    assert call(dm, M.PUT, "/1/0/7", cf=0, payload=b"UQ").code == M.CHANGED
    assert call(dm, M.PUT, "/1/0/1", cf=11542, payload=hexb("C2 01 00 F0")).code == M.CHANGED
    assert o1.get(0, 1) == 240 and o1.get(0, 7) == "UQ"


def test_bootstrap_write_of_server_object_range_checked():
    reg, dm, _, _ = setup()
    ops = BsOps(reg)
    raises(BadRequest, ops.write, (1, 0, 1), 11542, hexb("C1 01 F0"))
    raises(BadRequest, ops.write, (1, 5), 11542, hexb("C1 00 01 C1 01 F0 C1 07 55"))
    assert reg.obj(1).get(0, 1) == 300 and 5 not in reg.obj(1).insts
    ops.write((1, 5), 11542, hexb("C1 00 05 C1 01 3C C1 07 55"))
    assert reg.obj(1).get(5, 1) == 60


def test_stored_out_of_range_value_loads_as_corrupt():
    reg, dm, _, _ = setup()
    st = MemStore()
    accounts.save(reg, st)
    assert provision.load(reg, st) is None
    st.d["accounts"]["1"]["0"]["1"] = -16
    assert provision.load(reg, st) == "corrupt"
    assert reg.obj(1).get(0, 1) == 300  # the registry is left as it was
    st.d["accounts"]["1"]["0"]["1"] = 300
    st.d["accounts"]["1"]["0"]["7"] = "S"
    assert provision.load(reg, st) == "corrupt"


def test_write_attributes_without_value_remove_them():
    reg, dm, _, _ = setup()
    q = ("pmin=1", "pmax=2")
    assert call(dm, M.PUT, "/3/0/13", query=q).code == M.CHANGED
    assert dm.attrs.get(1, (3, 0, 13)) == {"pmin": 1, "pmax": 2}
    q = ("pmin", "pmax", "gt", "lt", "st")
    assert call(dm, M.PUT, "/3/0/13", query=q).code == M.CHANGED
    assert dm.attrs.get(1, (3, 0, 13)) is None
    assert call(dm, M.PUT, "/3/0/9", query=("gt=50", "pmin=5")).code == M.CHANGED
    assert call(dm, M.PUT, "/3/0/9", query=("gt",)).code == M.CHANGED
    assert dm.attrs.get(1, (3, 0, 9)) == {"pmin": 5}
    # removing gt/lt/st is fine anywhere (a String here); setting and removing one is not
    assert call(dm, M.PUT, "/3/0/0", query=("gt", "lt", "st")).code == M.CHANGED
    assert call(dm, M.PUT, "/3/0/9", query=("gt", "gt=3")).code == M.BAD_REQUEST
    assert call(dm, M.PUT, "/3/0/0", query=("gt=3",)).code == M.BAD_REQUEST


def _push(dm, payload, cf):
    size = 256
    codes = []
    n = 0
    off = 0
    while True:
        chunk = payload[off:off + size]
        more = off + size < len(payload)
        r = M.Message(M.CON, M.PUT, 1, b"t")
        r.set_path("/5/0/0")
        r.add(M.CONTENT_FORMAT, cf)
        r.add(M.BLOCK1, (n << 4) | (8 if more else 0) | 4)  # 256 B blocks
        r.payload = chunk
        codes.append(dm.handle(r, 1, 0).code)
        if not more or codes[-1] != M.CHANGED:
            return codes
        off += size
        n += 1


def test_tlv_wrapped_streamed_write_reaches_the_sink_unwrapped():
    reg, dm, _, fw = setup()
    got = []
    fw.on_package_block = lambda off, data, last: got.append((off, bytes(data), last))
    value = bytes(range(256)) * 8 + bytes(128)  # 2,176 B, as in the issue
    wrapped = hexb("D0 00 08 80") + value
    assert _push(dm, wrapped, 11542) == [M.CHANGED] * 9
    assert b"".join(g[1] for g in got) == value
    assert [g[0] for g in got] == [0] + [256 * i - 4 for i in range(1, 9)]
    assert got[-1][2] and not got[0][2]
    # length mismatch, another resource id, not a resource TLV: 4.00
    assert _push(dm, hexb("D0 00 09 00") + value, 11542)[-1] == M.BAD_REQUEST
    assert _push(dm, hexb("D0 01 08 80") + value, 11542)[0] == M.BAD_REQUEST
    assert _push(dm, hexb("08 00 04 C1 00 01"), 11542)[0] == M.BAD_REQUEST
    # a continuation without its first block
    r = M.Message(M.CON, M.PUT, 1, b"t")
    r.set_path("/5/0/0")
    r.add(M.CONTENT_FORMAT, 11542)
    r.add(M.BLOCK1, (3 << 4) | 8 | 4)
    r.payload = bytes(256)
    assert dm.handle(r, 1, 0).code == CN.REQUEST_ENTITY_INCOMPLETE


class _CountingPlatform:
    def __init__(self):
        self.free_calls = 0
        self.total_calls = 0

    def mem_free(self):
        self.free_calls += 1
        return 40 * 1024

    def mem_total(self):
        self.total_calls += 1
        return 100 * 1024


def test_memory_figures_sampled_at_most_once_a_second():
    reg = Registry()
    p = _CountingPlatform()
    d = device.make(reg, p)
    t = [5000]
    d.ticks = lambda: t[0]
    o = reg.obj(3)
    for i in range(50):
        assert o.get(0, 10) == 40 and o.get(0, 21) == 100
        t[0] += 10
    assert p.free_calls == 1 and p.total_calls == 1
    t[0] += 600
    o.get(0, 10)
    assert p.free_calls == 2
    for i in range(5):
        t[0] += 1000
        o.get(0, 10)
    assert p.free_calls == 7 and p.total_calls == 1


class _Obs:
    def __init__(self):
        self.token = b"t"
        self.peer = ("p", 1)
        self.ctx = None


class _Ep:
    def __init__(self):
        self.notes = []

    def notify(self, obs, code, payload, cf, now, con):
        self.notes.append(now)


def test_pmin_equal_pmax_notifies_every_pmax_and_default_pmin():
    ep = _Ep()
    attrs = {}
    rep = Reporter(ep, lambda s, p, c: (0, b"x", None), lambda s, p: attrs.get(p),
                   lambda s: (1, None, True))
    attrs[(3, 0, 15)] = {"pmin": 2, "pmax": 2}
    rep.add(1, _Obs(), (3, 0, 15), None, 0)
    for t in range(0, 7001, 500):
        rep.tick(t)
    assert ep.notes == [2000, 4000, 6000]
    # no attributes: the default pmin (1 s, from the Server object) holds a change back
    o = _Obs()
    rep.add(1, o, (3, 0, 14), None, 10000)
    rep.changed(3, 0, 14)
    rep.tick(10000)
    assert ep.notes[-1] == 6000
    rep.tick(11000)
    assert ep.notes[-1] == 11000


def test_server_check_table():
    for rid, v in ((1, 1), (1, 0x7FFFFFFF), (2, 0), (3, 0), (5, 0), (0, 65534), (7, "U"),
                   (7, "UQ"), (6, False)):
        server.check(rid, v)
    for rid, v in ((1, 0), (1, -16), (1, True), (2, -1), (0, 0), (0, 65535), (7, "S"),
                   (7, "UQS"), (6, 1), (1, 1.5)):
        raises(BadRequest, server.check, rid, v)
