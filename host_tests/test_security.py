# Hostile input and key hygiene of the composed client (issue 7, "Hostile and broken input"):
# Security keys never leave the device (datagrams, log lines), requests from addresses that are no
# registered server's get 4.01 and change nothing, bootstrap writes outside a bootstrap or from
# another address are refused. In memory over real Endpoints with the test_client.py harness.
from util import rep_count
import binascii
import gc
import os

from coap import msg as M
from lwm2m import tlv
from test_client import BS_URI, URI, URI2, Net, cfg, rmtree, tlv_inst, tmpdir

# Distinctive printable keys so a leak shows up raw in a log line as well as in a datagram.
KEY_A = b"K3y-A!psk#SECRET"  # PSK of the coaps:// DM account (factory config)
KEY_B = b"K3y-B!bs#SECRET."  # PSK of the coaps:// bootstrap account (factory config)
KEY_C = b"K3y-C!new#SECRET"  # PSK the bootstrap server writes during a bootstrap
KEYS = (KEY_A, KEY_B, KEY_C)
ID_A = b"ident-A-0042"
ID_C = b"ident-C-0043"
SURI = "coaps://127.0.0.1:5684"  # no transport is wired in memory: it never answers
SURI3 = "coaps://127.0.0.1:5685"
BSS_URI = "coaps://127.0.0.1:5784"  # in memory the harness Srv talks to it in the clear
ROGUES = ("coap://127.0.0.1:5999", "coap://127.0.0.2:5683", "coap://10.66.6.6:4444")

TEXT, TLV, JSON, LINK = 0, 11542, 11543, 40


class Wire(list):
    """The client Endpoint's out queue, keeping a copy of every datagram the client sends."""

    def __init__(self):
        super().__init__()
        self.sent = []

    def append(self, item):
        self.sent.append((bytes(item[0]), item[1]))
        super().append(item)


def wired(n):
    n.c.ep.out = w = Wire()
    return w


def forms(key):
    """Ways a key could leak: raw, hex in both cases, base64."""
    h = binascii.hexlify(key)
    return (key, h, h.upper(), binascii.b2a_base64(key).strip())


def leaks(blob, secrets):
    """The (secret, form) pairs found in blob (bytes or str)."""
    out = []
    for s in secrets:
        for f in forms(s):
            x = f if isinstance(blob, (bytes, bytearray)) else f.decode()
            if x in blob:
                out.append((s, f))
    return out


def test_leak_detector_sees_every_form():
    h = binascii.hexlify(KEY_A)
    assert leaks(b"x" + KEY_A, KEYS) == [(KEY_A, KEY_A)]
    assert leaks("key=" + h.decode(), KEYS) == [(KEY_A, h)]
    assert leaks(b"\x00" + h.upper(), KEYS) == [(KEY_A, h.upper())]
    assert leaks(b"{\"k\": \"SzN5LUMhbmV3I1NFQ1JFVA==\"}", KEYS) == [
        (KEY_C, b"SzN5LUMhbmV3I1NFQ1JFVA==")]
    assert leaks("lwm2m: " + repr(KEY_B), KEYS) == [(KEY_B, KEY_B)]
    assert leaks(b"K3y-A!psk#SECRE", KEYS) == []


def snapshot(n):
    """Everything a request could change: objects, registrations, observations, store files."""
    reg = n.c.registry
    objs = {}
    for oid in reg.oids():
        objs[oid] = reg.dump(oid)
    regs = {}
    for ssid, r in n.c.regs.items():
        regs[ssid] = (r.location, r.state)
    obs = {}
    for ssid in n.c.regs:
        obs[ssid] = rep_count(n.c.reporter, ssid)
    files = {}
    for name in sorted(os.listdir(n.dir)):
        try:
            f = open(n.dir + "/" + name, "rb")
        except OSError:
            continue
        files[name] = f.read()
        f.close()
    return repr((objs, regs, obs, files, n.c.bs.state if n.c.bs else None))


def sec_cfg(d):
    c = cfg(d)
    c["servers"].append({"uri": SURI, "ssid": 2, "lifetime": 300, "binding": "U",
                         "psk_identity": ID_A, "psk_key": KEY_A})
    c["bootstrap"] = {"uri": BSS_URI, "hold_off": 0, "psk_identity": b"bs-ident",
                      "psk_key": KEY_B}
    return c


def get(s, n, path, accept=None, observe=None):
    g = s.request(M.GET, path, accept=accept, observe=observe)
    n.run(10)
    return g[0]


def test_keys_never_leak_in_datagrams_or_log_lines():
    d = tmpdir()
    n = Net(sec_cfg(d))
    w = wired(n)
    try:
        s = n.srv(URI)
        b = n.srv(BSS_URI)
        b.bs_steps = []
        n.run(100)
        assert "lwm2m: store: accounts missing, factory bootstrap from config" in n.lines
        assert n.c.regs[1].registered and not n.c.regs[2].registered
        # the keys are really in the Security object (and so could leak)
        vals = [i.vals for i in n.c.registry.obj(0).insts.values()]
        assert [bytes(v[5]) for v in vals if v.get(5)] == [KEY_B, KEY_A]

        # reads of everything in every format: /0 is invisible to a DM server
        for path in ("/", "/0", "/0/0", "/0/0/5", "/0/2", "/0/2/5", "/0/2/3", "/1", "/1/0",
                     "/2", "/3/0", "/4/0", "/5/0"):
            for acc in (None, TEXT, TLV, JSON, LINK):
                r = get(s, n, path, accept=acc)
                if path.startswith("/0"):
                    assert r.code == M.NOT_FOUND and bytes(r.payload) == b"", (path, acc)
        r = get(s, n, "/", accept=LINK)
        assert r.code == M.CONTENT and b"</0" not in bytes(r.payload)
        r = get(s, n, "/3/0", accept=JSON)
        assert r.code == M.CONTENT and b"MicroPython" in bytes(r.payload)
        # observe, writes (each write of /1 saves the store), an Update trigger
        o1 = get(s, n, "/1/0/1", observe=0)
        assert o1.code == M.CONTENT
        assert get(s, n, "/3/0", accept=TLV, observe=0).code == M.CONTENT
        for path, pl, cf in (("/1/0/1", b"120", TEXT), ("/1/0/3", b"5", TEXT),
                             ("/0/2/5", b"leak?", TEXT),
                             ("/0/2", tlv_inst([(5, "o", b"x")]), TLV)):
            g = s.request(M.PUT, path, pl, cf=cf)
            n.run(1500)
            assert g[0].code == (M.NOT_FOUND if path.startswith("/0") else M.CHANGED), path
        # /3/0 notifies too (Current Time moves every second): pick /1/0/1's by its token
        mine = [m for _s, m in n.notes if m.token == o1.token]
        assert mine and bytes(mine[-1].payload) == b"120"
        g = s.request(M.POST, "/1/0/8")
        n.run(10)
        assert g[0].code == M.CHANGED

        # a client-initiated bootstrap while registered: Discover, a new PSK account, Finish
        n.c.bs.start(n.clock.now)
        n.run(100)
        assert b.reqs == [(M.POST, "/bs", ["ep=dev-1"], b"")]
        disc = get(b, n, "/", accept=LINK)
        assert disc.code == M.CONTENT
        assert bytes(disc.payload) == (b'</>;lwm2m="1.0",</0/0>,</0/1>;ssid=1,</0/2>;ssid=2,'
                                       b'</1/0>;ssid=1,</1/1>;ssid=2,</2/0>,</2/1>,</2/2>,'
                                       b'</2/3>,</2/4>,</3/0>,</4/0>,</5/0>'), \
            bytes(disc.payload)
        for path, pl in (("/0/3", tlv_inst([(0, "s", SURI3), (1, "b", False), (2, "i", 0),
                                            (3, "o", ID_C), (4, "o", b""), (5, "o", KEY_C),
                                            (10, "i", 3)])),
                         ("/1/2", tlv_inst([(0, "i", 3), (1, "i", 300), (6, "b", True),
                                            (7, "s", "U")]))):
            g = b.request(M.PUT, path, pl, cf=TLV)
            n.run(10)
            assert g[0].code == M.CHANGED, path
        disc = get(b, n, "/0", accept=LINK)
        assert bytes(disc.payload) == b"</0/0>,</0/1>;ssid=1,</0/2>;ssid=2,</0/3>;ssid=3"
        # bootstrap Read is not an operation in 1.0: the keys cannot be read back either
        for acc in (None, TLV, JSON, TEXT):
            r = get(b, n, "/0", accept=acc)
            assert r.code == M.METHOD_NOT_ALLOWED and bytes(r.payload) == b"", acc
            r = get(b, n, "/0/3/5", accept=acc)
            assert r.code in (M.METHOD_NOT_ALLOWED, M.BAD_REQUEST) and not bytes(r.payload)
        g = b.request(M.POST, "/bs")
        n.run(200)
        assert g[0].code == M.CHANGED
        assert "lwm2m: bootstrap finished: 3 server account(s)" in n.lines
        assert n.c.regs[1].registered and 3 in n.c.regs
        r = get(s, n, "/", accept=LINK)
        assert r.code == M.CONTENT and b"</0" not in bytes(r.payload)
        assert get(s, n, "/0/3/5", accept=TEXT).code == M.NOT_FOUND
        n.run(5000)

        # the scenario really ran: plenty of datagrams and log lines to search
        assert len(w.sent) > 100 and len(n.lines) > 5
        for data, peer in w.sent:
            assert leaks(data, KEYS) == [], (peer, data)
            # the PSK identity is not secret in DTLS, but nothing in CoAP has reason to carry it
            assert ID_A not in data and ID_C not in data
        for ln in n.lines:
            assert leaks(ln, KEYS) == [], ln

        # The keys must be persisted (a reboot needs them): the store's accounts record holds
        # them (hex, the store's bytes escape) and no other file in the data dir does.
        files = sorted(os.listdir(d))
        assert "accounts.rec" in files
        for name in files:
            f = open(d + "/" + name, "rb")
            data = f.read()
            f.close()
            if name == "accounts.rec":
                for k in KEYS:
                    assert binascii.hexlify(k) in data, k
            else:
                assert leaks(data, KEYS) == [], name
    finally:
        n.close()


def started_with_bs(c=None):
    d = tmpdir()
    c = c or cfg(d)
    c["bootstrap"] = {"uri": BS_URI, "hold_off": 0, "psk_identity": None, "psk_key": None}
    n = Net(c)
    for s in c["servers"]:
        n.srv(s["uri"])
    b = n.srv(BS_URI)
    b.bs_steps = []
    n.run(100)
    return n, b


def rogue_requests(s):
    """(method, path, payload, cf, accept, observe, query) a hostile peer tries."""
    paths = ("/", "/0", "/0/0", "/0/0/5", "/0/1", "/1", "/1/0", "/1/0/1", "/1/0/4", "/1/0/8",
             "/2", "/2/0", "/3", "/3/0", "/3/0/4", "/3/0/5", "/3/0/13", "/4/0", "/5/0/0",
             "/5/0/1", "/5/0/2", "/bs", "/rd", "/65535")
    out = []
    for p in paths:
        out.append((M.GET, p, b"", None, None, None, ()))
        out.append((M.GET, p, b"", None, LINK, None, ()))
        out.append((M.GET, p, b"", None, TLV, 0, ()))
        out.append((M.PUT, p, b"7", TEXT, None, None, ()))
        out.append((M.PUT, p, tlv_inst([(1, "i", 5)]), TLV, None, None, ()))
        out.append((M.PUT, p, b"", None, None, None, ("pmin=1", "pmax=2")))
        out.append((M.POST, p, b"", None, None, None, ()))
        out.append((M.POST, p, tlv_inst([(1, "i", 5)]), TLV, None, None, ()))
        out.append((M.DELETE, p, b"", None, None, None, ()))
    return out


def fire(n, s, reqs):
    got = []
    for code, path, pl, cf, acc, obs, q in reqs:
        got.append((code, path, s.request(code, path, pl, cf=cf, accept=acc, observe=obs,
                                          query=q)))
        n.run(10)
    return [(code, path, g[0].code, bytes(g[0].payload)) for code, path, g in got]


def test_unknown_addresses_get_401_no_payload_and_change_nothing():
    n, b = started_with_bs(cfg(tmpdir(), servers=((URI, 1), (URI2, 2))))
    try:
        assert n.c.regs[1].registered and n.c.regs[2].registered
        before = snapshot(n)
        k1, k2 = len(n.srv(URI).reqs), len(n.srv(URI2).reqs)
        lines = len(n.lines)
        for uri in ROGUES:
            s = n.srv(uri)
            res = fire(n, s, rogue_requests(s))
            assert len(res) == 24 * 9
            for code, path, rc, pl in res:
                assert (rc, pl) == (M.UNAUTHORIZED, b""), (uri, code, path, rc, pl)
            assert s.reqs == []  # and the client never talked to it
            s.answers = []
            gc.collect()  # the unix port at 2 MB: keep the 648 exchanges from piling up
        n.run(1000)
        assert snapshot(n) == before
        assert len(n.srv(URI).reqs) == k1 and len(n.srv(URI2).reqs) == k2  # no Update either
        assert b.reqs == [] and not n.c.stopped and n.c._halt is None
        assert n.lines[lines:] == []
    finally:
        n.close()


def test_bootstrap_server_accepted_while_registered():
    # seed 002 5.2.1 (issue 12 point 6): the client MUST accept Bootstrap Information from the
    # Bootstrap-Server at any time, registered or not; from its address only (anybody else:
    # test_unknown_addresses_get_401_no_payload_and_change_nothing)
    n, b = started_with_bs()
    try:
        assert n.c.regs[1].registered and n.c.bs.state == "idle"
        loc = n.c.regs[1].location
        res = fire(n, b, [
            (M.PUT, "/1/0/1", b"45", TEXT, None, None, ()),
            (M.PUT, "/1/0/1", b"-16", TEXT, None, None, ()),  # range-checked here as well
            (M.POST, "/bs", b"", None, None, None, ()),
        ])
        assert [x[2] for x in res] == [M.CHANGED, M.BAD_REQUEST, M.CHANGED], res
        n.run(1000)
        assert n.c.bs.done and n.c.registry.obj(1).get(0, 1) == 45
        # the registration stayed; the server heard of the new lifetime in an Update
        assert n.c.regs[1].registered and n.c.regs[1].location == loc
        assert n.srv(URI).reqs[-1][:3] == (M.POST, loc, ["lt=45"])
    finally:
        n.close()


def test_dm_server_cannot_do_bootstrap_writes():
    n, b = started_with_bs()
    try:
        s = n.srv(URI)
        before = snapshot(n)
        new = tlv_inst([(0, "s", URI2), (1, "b", False), (2, "i", 0), (5, "o", KEY_C),
                        (10, "i", 9)])
        res = fire(n, s, [
            (M.PUT, "/0/1", new, TLV, None, None, ()),
            (M.PUT, "/0/2", new, TLV, None, None, ()),
            (M.PUT, "/0/0/5", b"x", TEXT, None, None, ()),
            (M.POST, "/0", new, TLV, None, None, ()),
            (M.POST, "/0/1", new, TLV, None, None, ()),
            (M.DELETE, "/0/1", b"", None, None, None, ()),
            (M.DELETE, "/0", b"", None, None, None, ()),
        ])
        for code, path, rc, pl in res:
            assert (rc, pl) == (M.NOT_FOUND, b""), (code, path, rc, pl)
        # the whole-client Delete "/" and Bootstrap-Finish are not DM operations either
        res = fire(n, s, [(M.DELETE, "/", b"", None, None, None, ()),
                          (M.POST, "/bs", b"", None, None, None, ())])
        for code, path, rc, pl in res:
            assert rc >= 0x80 and pl == b"", (code, path, rc, pl)
        n.run(1000)
        assert snapshot(n) == before
        assert n.c.bs.state == "idle"
    finally:
        n.close()


def test_third_address_refused_during_active_bootstrap():
    d = tmpdir()
    c = cfg(d, servers=())
    c["bootstrap"] = {"uri": BS_URI, "hold_off": 0, "psk_identity": None, "psk_key": None}
    n = Net(c)
    try:
        b = n.srv(BS_URI)
        b.bs_steps = []
        s = n.srv(URI)
        n.run(100)
        assert b.reqs == [(M.POST, "/bs", ["ep=dev-1"], b"")]
        assert n.c.bs.state == "bootstrapping"
        before = snapshot(n)
        for uri in ROGUES + (URI,):
            res = fire(n, n.srv(uri), [
                (M.DELETE, "/", b"", None, None, None, ()),
                (M.PUT, "/0/1", tlv_inst([(0, "s", uri), (1, "b", False), (2, "i", 0),
                                          (5, "o", KEY_C), (10, "i", 9)]), TLV, None, None, ()),
                (M.PUT, "/1/0", tlv_inst([(0, "i", 9), (1, "i", 60), (6, "b", True),
                                          (7, "s", "U")]), TLV, None, None, ()),
                (M.GET, "/", b"", None, LINK, None, ()),
                (M.POST, "/bs", b"", None, None, None, ()),
            ])
            for code, path, rc, pl in res:
                assert (rc, pl) == (M.UNAUTHORIZED, b""), (uri, code, path, rc, pl)
        assert snapshot(n) == before and n.c.bs.state == "bootstrapping" and not n.c.regs
        # the real bootstrap server still completes, and only its account exists
        for code, path, pl, cf in (
                (M.PUT, "/0/1", tlv_inst([(0, "s", URI), (1, "b", False), (2, "i", 3),
                                          (3, "o", b""), (4, "o", b""), (5, "o", b""),
                                          (10, "i", 7)]), TLV),
                (M.PUT, "/1/0", tlv_inst([(0, "i", 7), (1, "i", 120), (6, "b", True),
                                          (7, "s", "U")]), TLV),
                (M.POST, "/bs", b"", None)):
            g = b.request(code, path, pl, cf=cf)
            n.run(10)
            assert g[0].code in (M.CHANGED,), (path, g[0].code)
        n.run(100)
        assert list(n.c.regs) == [7] and n.c.regs[7].registered
        assert s.reqs[0][:2] == (M.POST, "/rd")
        for uri in ROGUES:
            assert n.srv(uri).reqs == []
        secs = n.c.registry.obj(0).insts
        assert sorted(secs) == [0, 1] and secs[1].vals[0] == URI
        assert KEY_C not in repr(n.c.registry.dump(0)).encode()
    finally:
        n.close()
