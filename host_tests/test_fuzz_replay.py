# Fuzz harness shared by test_cpy_fuzz_lwm2m.py (hypothesis) and tools/bench/fuzz_long.py, plus the
# replay of host_tests/fuzz_corpus/ under both interpreters. One input = (kind, bytes):
#   tlv / link / json: the decoder raises nothing but CodecError (an LwM2MError);
#   coap: a datagram from the registered server's address into the composed client;
#   rogue: the same datagram from an address that is no server's.
# After each input: no exception escaped, no handler fault (5.00 / ep.last_error), a malformed
# CON got an RST with its MID, a rogue peer changed nothing, objects 0/1 still dump and reload.
import os

from coap import msg as M
import coapnums as CN
from lwm2m import accounts, provision
from lwm2m import parsejson as pjson
from lwm2m import linkdecode, parse
from lwm2m.errors import LwM2MError
from test_client import URI, Net, cfg, rmtree, tmpdir
from util import MemStore

_ROGUE_OK = (M.UNAUTHORIZED, M.BAD_REQUEST, CN.BAD_OPTION, CN.REQUEST_ENTITY_INCOMPLETE,
             CN.REQUEST_ENTITY_TOO_LARGE)
KINDS = ("tlv", "link", "json", "coap", "rogue")
ROGUE = ("10.66.6.6", 4444)
_here = __file__.rpartition("/")[0] or "."
CORPUS = _here + "/fuzz_corpus"

# executes that end the process or the registration: the fuzzer sends them only on purpose
_FATAL = ("/3/0/4", "/3/0/5")


def known(fault):
    """Lib bugs already reported, tolerated here so the suite stays green until fixed (none now:
    a non-UTF-8 Uri-Path/Uri-Query answers 4.00 since the DM catches UnicodeError)."""
    return False


class Target:
    """A registered client under test; rebuilt when an input legitimately ended the session."""

    def __init__(self):
        self.n = None
        self.inputs = 0
        self.known = 0  # inputs that hit a known (reported) lib bug
        self.known_mids = []
        self._new()

    def _new(self):
        if self.n is not None:
            self.n.close()
        self.n = Net(cfg(tmpdir()))
        self.s = self.n.srv(URI)
        self.n.run(10)
        if not self.n.c.regs[1].registered:
            raise AssertionError("target did not register")
        self.fresh = 0
        self.fault = None
        dm = self.n.c.dm
        inner = dm._dispatch

        def dispatch(req, ssid):
            try:
                return inner(req, ssid)
            except LwM2MError:
                raise
            except Exception as e:  # DM.handle turns it into 5.00; keep it for the report
                self.fault = e
                raise

        dm._dispatch = dispatch

    def close(self):
        if self.n is not None:
            self.n.close()
            self.n = None

    def snapshot(self):
        reg = self.n.c.registry
        return [reg.dump(oid) for oid in (0, 1, 2, 3)]


def _codec(kind, data):
    try:
        if kind == "tlv":
            parse.tlv_decode(data)
        elif kind == "link":
            linkdecode.decode(data)
        else:
            pjson.decode(data, (3, 0))
    except LwM2MError:
        pass


def _path_of(data):
    try:
        m = M.decode(data)
    except M.DecodeError:
        return None, None
    try:
        return m, "/" + "/".join(m.path())
    except Exception:  # e.g. a Uri-Path that is not UTF-8
        return m, None


def feed(t, kind, data):
    """Run one input; raises AssertionError (or whatever escaped) on a finding."""
    data = bytes(data)
    t.inputs += 1
    if kind in ("tlv", "link", "json"):
        _codec(kind, data)
        return
    n = t.n
    c = n.c
    ep = c.ep
    m, path = _path_of(data)
    if m is not None and m.code == M.POST and path in _FATAL:
        return  # reboot / factory reset by design
    peer = ROGUE if kind == "rogue" else t.s.peer
    before = t.snapshot() if kind == "rogue" else None
    ep.last_error = None
    t.fault = None
    errs = ep.errors
    del ep.out[:]
    ep.receive(data, peer, n.clock.now)
    out = [d for d, p in ep.out if p == peer]
    if m is None and len(data) >= 4 and data[0] & 0xF0 == 0x40:
        rst = bytes((0x70, 0, data[2], data[3]))
        assert out == [rst], ("malformed CON without RST", data, out)
    for d, p in ep.out:
        r = M.decode(d)  # what we send must itself be well formed
        if r.code == M.INTERNAL_SERVER_ERROR and (known(t.fault) or r.mid in t.known_mids):
            t.known += 1
            t.known_mids.append(r.mid)  # a duplicate of this MID replays the cached answer
            continue
        assert r.code != M.INTERNAL_SERVER_ERROR, ("5.00 for", data, r, ep.last_error, t.fault)
        if kind == "rogue" and r.code >= 64:
            # 4.01, or a CoAP-layer rejection that happens before any LwM2M look-up (malformed
            # option, block out of sequence): nothing that tells what exists
            assert r.code in _ROGUE_OK, ("rogue got", r.code, data)
    assert ep.last_error is None and ep.errors == errs, ("fault", data, ep.last_error)
    if kind == "rogue":
        n.c.ep.out[:] = [x for x in ep.out if x[1] != ROGUE]
    n.pump()  # deferred work (executes, saves, Updates) runs here; must not raise
    n.clock.advance(1)
    assert ep.errors == errs, ("fault after tick", data, ep.last_error)
    if kind == "rogue":
        assert t.snapshot() == before, ("rogue changed state", data)
    t.fresh += 1
    if t.fresh % 16 == 0 or t.inputs % 97 == 0:
        check_state(t)


def check_state(t):
    """Objects 0-2 serialise and load back; the device object still reads; else rebuild."""
    reg = t.n.c.registry
    st = MemStore()
    accounts.save(reg, st)
    dumped = [reg.dump(oid) for oid in (0, 1, 2)]
    assert provision.load(reg, st) is None, "stored accounts do not load"
    assert [reg.dump(oid) for oid in (0, 1, 2)] == dumped
    reg.objects_links()
    r = t.n.c.dm.handle(M.Message(M.CON, M.GET, 1, b"a").set_path("/3/0"), 1, t.n.clock.now)
    assert r.code in (M.CONTENT, M.NOT_FOUND, M.UNAUTHORIZED), r.code
    regs = t.n.c.regs
    if 1 not in regs or not regs[1].registered or t.fresh > 400:
        t._new()


def corpus():
    """[(name, kind, bytes)] from host_tests/fuzz_corpus/<kind>-<name>.bin"""
    out = []
    try:
        names = sorted(os.listdir(CORPUS))
    except OSError:
        return out
    for name in names:
        kind = name.split("-")[0]
        if kind not in KINDS or not name.endswith(".bin"):
            continue
        f = open(CORPUS + "/" + name, "rb")
        out.append((name, kind, f.read()))
        f.close()
    return out


def test_replay_fuzz_corpus():
    items = corpus()
    assert len(items) >= 10
    t = Target()
    try:
        for name, kind, data in items:
            try:
                feed(t, kind, data)
            except AssertionError as e:
                raise AssertionError("%s: %r" % (name, e))
        check_state(t)
    finally:
        t.close()


def test_rogue_address_gets_401_and_changes_nothing():
    t = Target()
    try:
        before = t.snapshot()
        reqs = len(t.s.reqs)
        for code, path, payload, cf in ((M.PUT, "/1/0/1", b"77", 0), (M.DELETE, "/1/0", b"", None),
                                        (M.POST, "/1/0/8", b"", None), (M.GET, "/3/0", b"", None),
                                        (M.PUT, "/0/0/3", b"\x01", 42),
                                        (M.DELETE, "/", b"", None)):
            m = M.Message(M.CON, code, 7 + code, b"r%d" % code, payload).set_path(path)
            if cf is not None:
                m.add(M.CONTENT_FORMAT, cf)
            t.n.c.ep.receive(m.encode(), ROGUE, t.n.clock.now)
            r = M.decode(t.n.c.ep.out.pop()[0])
            assert r.code == M.UNAUTHORIZED and r.mid == 7 + code and not bytes(r.payload)
            t.n.pump()
        assert t.snapshot() == before and len(t.s.reqs) == reqs
    finally:
        t.close()
