"""Device management end to end: host_tests/apps/dm_app.py (DM + ACL behind the real CoAP endpoint and
runner) under the MicroPython unix port, driven by libcoap's coap-client and aiocoap acting as
LwM2M servers. Payloads are checked with decoders written here, not the ones in lib/. A missing
peer fails the test."""
# Over ~400 lines on purpose: one peer run (dm_app against libcoap and aiocoap) shared by all of
# its checks.
import asyncio
import json
import os
import re
import struct
import subprocess
import tempfile
import threading
import time

import aiocoap
import aiocoap.resource as resource
import pytest
from hostenv import coap_client_log, free_udp_port, micropython, peer_bin  # noqa: E402
from proc import Proc, exactly

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "apps", "dm_app.py")
COAP_CLIENT = "coap-client-openssl"


def coap_client():
    return peer_bin(COAP_CLIENT)
OBS_MS = 200
# the Security object's Secret Key in dm_app.py (SECRET there): it must never reach a server
SECRET = b"\x5e\xc7\x3e\x7b-PSK-never-leaks-\x00\xff"
TLV_CF, JSON_CF, LINK_CF = 11542, 11543, 40
R, W = 1, 2  # ACL bits Read, Write
# dm_app.py ROLES, from the point of view of SSID 1: does the role grant the right being tested?
ROLE_NAMES = ("owner", "other-with-right", "other-without-right", "default-with-right",
              "default-without-right", "own-entry-beats-default")
ROLE_ALLOWED = (True, True, False, True, False, False)

SEEN = []  # every byte string any peer got from the app: the Security key must be in none


# ---- processes and peers

def start_app(ssids, ports=()):
    port = free_udp_port()
    argv = [micropython(), "-X", "heapsize=1M", APP, str(port), str(OBS_MS), ssids]
    argv += ["%d=%d" % x for x in ports]
    p = Proc(argv)
    p.wait_for(exactly("READY %d" % port))
    return p, port




class Reply:
    def __init__(self, sent, recv, payload):
        self.sent = sent
        self.recv = recv
        self.payload = payload

    @property
    def code(self):
        return self.recv[-1].code if self.recv else None

    @property
    def opts(self):
        return self.recv[-1].opts if self.recv else ""


def coap(base, path, *args, wait=8):
    """One coap-client request. Its exit status says nothing (0 on 4.04 and timeouts), so the
    answer comes from its debug log (PDUs sent and received) and the -o payload file."""
    fd, out = tempfile.mkstemp(prefix="coapc-")
    os.close(fd)
    try:
        r = subprocess.run([coap_client(), "-B", str(wait), "-v", "7", "-o", out] + list(args)
                           + [base + path], capture_output=True, timeout=wait + 20)
        with open(out, "rb") as f:
            payload = f.read()
    finally:
        os.unlink(out)
    SEEN.extend((r.stdout, r.stderr, payload))
    sent, recv = coap_client_log((r.stdout + b"\n" + r.stderr).decode("latin-1"))
    return Reply(sent, recv, payload)


def payload_file(data):
    fd, path = tempfile.mkstemp(prefix="coapp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def coap_bin(base, path, method, cf, data, *args):
    """A request whose payload is arbitrary bytes (coap-client -f)."""
    f = payload_file(data)
    try:
        return coap(base, path, "-m", method, "-t", str(cf), "-f", f, *args)
    finally:
        os.unlink(f)


class Aio:
    """aiocoap contexts bound to fixed source ports (one per LwM2M server), on their own event
    loop in a thread."""

    def __init__(self, ports):
        self.loop = asyncio.new_event_loop()
        self.t = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.t.start()
        self.ctx = [self._run(aiocoap.Context.create_server_context(
            resource.Site(), bind=("127.0.0.1", p))) for p in ports]

    def _run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def request(self, i, base, method, path, payload=b"", cf=None, accept=None):
        """(code 'x.yy', payload bytes, response options) of a request from context i."""
        async def go():
            m = aiocoap.Message(code=method, uri=base + path, payload=payload)
            if cf is not None:
                m.opt.content_format = cf
            if accept is not None:
                m.opt.accept = accept
            return await asyncio.wait_for(self.ctx[i].request(m).response, 20)
        r = self._run(go())
        SEEN.append(bytes(r.payload))
        return r.code.dotted, bytes(r.payload), r.opt

    def close(self):
        try:
            for c in self.ctx:
                self._run(c.shutdown(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.t.join(10)


# ---- an independent TLV codec (LwM2M 1.0 TS 6.4.3), so lib/lwm2m/tlv.py does not check itself

OBJ_INST, RES_INST, MULTI_RES, RES = 0, 1, 2, 3


def tlv_decode(b):
    out = []
    i = 0
    while i < len(b):
        t = b[i]
        i += 1
        kind = t >> 6
        if t & 0x20:
            ident = (b[i] << 8) | b[i + 1]
            i += 2
        else:
            ident = b[i]
            i += 1
        lt = (t >> 3) & 3
        if lt:
            n = int.from_bytes(b[i:i + lt], "big")
            i += lt
        else:
            n = t & 7
        v = b[i:i + n]
        assert len(v) == n, "TLV length past the payload"
        i += n
        out.append((kind, ident, tlv_decode(v) if kind in (OBJ_INST, MULTI_RES) else v))
    return out


def tlv(kind, ident, value):
    if isinstance(value, list):
        value = b"".join(tlv(*x) for x in value)
    n = len(value)
    t = kind << 6 | (0x20 if ident > 255 else 0)
    idb = ident.to_bytes(2 if ident > 255 else 1, "big")
    if n < 8:
        return bytes([t | n]) + idb + value
    ln = n.to_bytes(1 if n < 256 else 2 if n < 65536 else 3, "big")
    return bytes([t | len(ln) << 3]) + idb + ln + value


def tint(v):
    for n in (1, 2, 4, 8):
        if -(1 << (8 * n - 1)) <= v < (1 << (8 * n - 1)):
            return v.to_bytes(n, "big", signed=True)


def resources(nodes):
    """Resource TLV nodes -> {rid: bytes or {riid: bytes}}."""
    out = {}
    for kind, ident, v in nodes:
        assert kind in (RES, MULTI_RES), nodes
        out[ident] = {i: x for _, i, x in v} if kind == MULTI_RES else v
    return out


def ival(b):
    assert len(b) in (1, 2, 4, 8), b
    return int.from_bytes(b, "big", signed=True)


def fval(b):
    return struct.unpack(">f" if len(b) == 4 else ">d", b)[0]


def read_tlv(base, path):
    r = coap(base, path, "-A", str(TLV_CF))
    assert r.code == "2.05" and "Content-Format:%d" % TLV_CF in r.opts, r.recv
    return tlv_decode(r.payload)


# ---- fixtures

@pytest.fixture(scope="module")
def single():
    """The app with one server: every request acts as SSID 1, ACL instances are not consulted."""
    coap_client()
    p, port = start_app("1")
    try:
        yield p, "coap://127.0.0.1:%d" % port
    finally:
        p.kill()


@pytest.fixture(scope="module")
def multi():
    """The app with servers 1 and 2, each an aiocoap context with its own source port."""
    ports = (free_udp_port(), free_udp_port())
    p, port = start_app("1,2", ((ports[0], 1), (ports[1], 2)))
    aio = None
    try:
        aio = Aio(ports)
        yield p, aio, "coap://127.0.0.1:%d" % port, ports
    finally:
        p.kill()
        if aio is not None:
            aio.close()


# ---- Read

def test_read_device_instance_tlv(single):
    _, base = single
    nodes = read_tlv(base, "/3/0")
    assert all(k in (RES, MULTI_RES) for k, _, _ in nodes)
    ids = [i for _, i, _ in nodes]
    assert ids == sorted(ids) and 4 not in ids and 5 not in ids  # executables are not read
    res = resources(nodes)
    assert res[0] == b"MicroPython" and res[2] == b"DM-TEST-42" and res[16] == b"U"
    assert res[3].startswith(b"micropython ")
    assert ival(res[9]) == 88  # the fake battery at 4100 mV
    assert {k: ival(v) for k, v in res[6].items()} == {0: 5, 1: 1}  # USB, internal battery
    assert {k: ival(v) for k, v in res[7].items()} == {0: 5000, 1: 4100}
    assert {k: ival(v) for k, v in res[11].items()} == {0: 0}
    assert abs(ival(res[13]) - time.time()) < 600  # Current Time: Unix seconds
    assert ival(res[10]) > 0


def test_read_resource_text(single):
    _, base = single
    r = coap(base, "/3/0/0")
    assert (r.code, r.payload) == ("2.05", b"MicroPython")
    assert "Content-Format:text/plain" in r.opts and r.recv[0].type == "ACK"
    assert coap(base, "/3/0/9").payload == b"88"
    assert coap(base, "/3/0/0", "-A", "0").payload == b"MicroPython"


def test_read_device_json(single):
    _, base = single
    r = coap(base, "/3/0", "-A", str(JSON_CF))
    assert r.code == "2.05" and "Content-Format:%d" % JSON_CF in r.opts
    doc = json.loads(r.payload)
    assert doc["bn"] == "/3/0/"
    e = {x["n"]: x for x in doc["e"]}
    assert e["0"] == {"n": "0", "sv": "MicroPython"}
    assert e["2"] == {"n": "2", "sv": "DM-TEST-42"}
    assert e["6/0"]["v"] == 5 and e["6/1"]["v"] == 1 and e["9"]["v"] == 88
    assert "4" not in e and "6" not in e


def test_read_multiple_resource_and_resource_instance(single):
    _, base = single
    r = coap(base, "/3/0/6")
    assert r.code == "2.05" and "Content-Format:%d" % TLV_CF in r.opts  # default: TLV
    assert r.payload == bytes.fromhex("86 06 41 00 05 41 01 01")
    assert tlv_decode(r.payload) == [
        (MULTI_RES, 6, [(RES_INST, 0, b"\x05"), (RES_INST, 1, b"\x01")])]
    r = coap(base, "/3/0/6/0")
    assert (r.code, r.payload) == ("2.05", b"5")
    r = coap(base, "/3/0/6/1", "-A", str(TLV_CF))
    assert (r.code, r.payload) == ("2.05", bytes.fromhex("41 01 01"))
    doc = json.loads(coap(base, "/3/0/6", "-A", str(JSON_CF)).payload)
    assert doc == {"bn": "/3/0/6/", "e": [{"n": "0", "v": 5}, {"n": "1", "v": 1}]}


def test_read_object(single):
    _, base = single
    nodes = read_tlv(base, "/1")
    assert [(k, i) for k, i, _ in nodes] == [(OBJ_INST, 0)]
    assert ival(resources(nodes[0][2])[0]) == 1  # SSID


def test_accept_not_acceptable(single):
    _, base = single
    for path, acc in (("/3/0/0", "42"), ("/3/0/6", "0"), ("/3/0", "0"), ("/3/0/0", "50"),
                      ("/3/0", "42")):
        r = coap(base, path, "-A", acc)
        assert (r.code, r.payload) == ("4.06", b""), (path, acc)


# ---- Write

def test_write_text_then_read_back(single):
    p, base = single
    at = p.mark()
    r = coap(base, "/1/0/1", "-m", "put", "-t", "0", "-e", "4242")
    assert r.code == "2.04"
    assert coap(base, "/1/0/1").payload == b"4242"
    p.wait_for(exactly("EVENT w 1 0"), start=at)
    assert coap(base, "/1/0/1", "-m", "put", "-e", "4243").code == "2.04"  # no format: text
    assert coap(base, "/1/0/1").payload == b"4243"


def test_write_partial_update_post_tlv(single):
    _, base = single
    before = resources(read_tlv(base, "/1/0"))
    body = tlv(RES, 2, tint(15)) + tlv(RES, 3, tint(600))
    assert coap_bin(base, "/1/0", "post", TLV_CF, body).code == "2.04"
    after = resources(read_tlv(base, "/1/0"))
    assert ival(after[2]) == 15 and ival(after[3]) == 600
    for k in before:
        if k not in (2, 3):
            assert after[k] == before[k], k  # a partial update touches nothing else


def test_write_replace_instance_put_tlv(single):
    _, base = single
    assert coap_bin(base, "/1/0", "post", TLV_CF, tlv(RES, 2, tint(9))).code == "2.04"
    body = tlv(RES, 1, tint(777)) + tlv(RES, 6, b"\x00") + tlv(RES, 7, b"U")
    assert coap_bin(base, "/1/0", "put", TLV_CF, body).code == "2.04"
    res = resources(read_tlv(base, "/1/0"))
    assert ival(res[0]) == 1  # the read-only SSID stays
    assert ival(res[1]) == 777 and res[6] == b"\x00" and res[7] == b"U"
    assert 2 not in res and 3 not in res  # replaced: writable resources not sent are gone
    # the replacement also takes an instance-wrapped payload
    body = tlv(OBJ_INST, 0, [(RES, 1, tint(778)), (RES, 6, b"\x01"), (RES, 7, b"U")])
    assert coap_bin(base, "/1/0", "put", TLV_CF, body).code == "2.04"
    assert coap(base, "/1/0/1").payload == b"778"
    # a replace that leaves out a mandatory writable resource is refused and changes nothing
    assert coap_bin(base, "/1/0", "put", TLV_CF, tlv(RES, 1, tint(5))).code == "4.00"
    assert coap(base, "/1/0/1").payload == b"778"


def test_write_unsupported_content_format(single):
    _, base = single
    before = coap(base, "/1/0/1").payload
    for cf in ("50", "40", "60"):  # application/json, link-format, cbor
        r = coap(base, "/1/0/1", "-m", "put", "-t", cf, "-e", "5")
        assert (r.code, r.payload) == ("4.15", b""), cf
    assert coap_bin(base, "/1/0", "post", 50, b'{"1": 5}').code == "4.15"
    assert coap(base, "/1/0/1").payload == before


@pytest.mark.parametrize("body", [
    "C1 01",  # value byte missing
    "C8 01 10 00",  # 8-bit length 16 past the payload
    "C3 01 00 01 2C",  # a 3-byte integer
    "C2 02 00 0F C1 01",  # a good resource, then a truncated one: nothing is applied
    "08 00 03 C1 01",  # instance length cuts its resource short
    "C5 07 FF FE 80 81 82",  # invalid UTF-8 in a string
])
def test_write_malformed_tlv_400_value_unchanged(single, body):
    _, base = single
    before = read_tlv(base, "/1/0")
    assert coap_bin(base, "/1/0", "post", TLV_CF, bytes.fromhex(body)).code == "4.00"
    assert read_tlv(base, "/1/0") == before


def test_write_malformed_text_400(single):
    _, base = single
    before = coap(base, "/1/0/1").payload
    for text in ("abc", "1.5", "99999999999999999999999"):
        assert coap(base, "/1/0/1", "-m", "put", "-t", "0", "-e", text).code == "4.00", text
    assert coap(base, "/1/0/1").payload == before


def test_write_read_only_405(single):
    _, base = single
    assert coap(base, "/3/0/0", "-m", "put", "-t", "0", "-e", "Evil").code == "4.05"
    assert coap(base, "/1/0/0", "-m", "put", "-t", "0", "-e", "7").code == "4.05"
    assert coap_bin(base, "/3/0", "post", TLV_CF, tlv(RES, 0, b"Evil")).code == "4.05"
    assert coap(base, "/3303/0/5700", "-m", "put", "-t", "0", "-e", "1.5").code == "4.05"
    assert coap(base, "/3/0/0").payload == b"MicroPython"
    assert coap(base, "/1/0/0").payload == b"1"


# ---- Execute

def test_execute_reset_min_max(single):
    p, base = single
    res = resources(read_tlv(base, "/3303/1"))
    assert (fval(res[5700]), fval(res[5601]), fval(res[5602])) == (20.0, 10.0, 30.0)
    assert res[5701] == b"Cel"
    at = p.mark()
    assert coap(base, "/3303/1/5605", "-m", "post").code == "2.04"
    p.wait_for(exactly("EXEC 3303 1"), start=at)
    res = resources(read_tlv(base, "/3303/1"))
    assert (fval(res[5700]), fval(res[5601]), fval(res[5602])) == (20.0, 20.0, 20.0)
    assert coap(base, "/3303/1/5601").payload == b"20"


def test_execute_non_executable_405(single):
    _, base = single
    assert coap(base, "/3303/1/5700", "-m", "post").code == "4.05"
    assert coap(base, "/3/0/0", "-m", "post").code == "4.05"
    assert coap(base, "/3303/1/5605").code == "4.05"  # reading an executable
    assert coap(base, "/3/0/99", "-m", "post").code == "4.04"


# ---- Create / Delete

def test_create_with_id_then_delete(single):
    p, base = single
    at = p.mark()
    body = tlv(OBJ_INST, 7, [(RES, 5701, b"Far")])
    r = coap_bin(base, "/3303", "post", TLV_CF, body)
    assert r.code == "2.01"
    assert re.findall(r"Location-Path:(\w+)", r.opts) == ["3303", "7"]
    p.wait_for(exactly("EVENT c 3303 7"), start=at)
    assert coap(base, "/3303/7/5701").payload == b"Far"
    assert coap_bin(base, "/3303", "post", TLV_CF, body).code == "4.00"  # exists already
    r = coap(base, "/3303/7", "-m", "delete")
    assert r.code == "2.02"
    p.wait_for(exactly("EVENT d 3303 7"), start=at)
    assert coap(base, "/3303/7").code == "4.04"
    assert coap(base, "/3303/7/5701").code == "4.04"
    assert coap(base, "/3303/7", "-m", "delete").code == "4.04"


def test_create_without_id_allocates_one(single):
    _, base = single
    r = coap_bin(base, "/3303", "post", TLV_CF, tlv(RES, 5701, b"K"))
    assert r.code == "2.01"
    loc = re.findall(r"Location-Path:(\w+)", r.opts)
    assert loc[0] == "3303" and loc[1] not in ("0", "1") and len(loc) == 2
    assert coap(base, "/3303/%s/5701" % loc[1]).payload == b"K"
    assert coap(base, "/3303/" + loc[1], "-m", "delete").code == "2.02"


def test_delete_device_and_bad_targets(single):
    _, base = single
    assert coap(base, "/3/0", "-m", "delete").code == "4.05"
    assert coap(base, "/3303", "-m", "delete").code == "4.05"  # Delete of an object
    assert coap(base, "/3303/0/5700", "-m", "delete").code == "4.05"
    assert coap(base, "/3/0/0").payload == b"MicroPython"


# ---- Discover / Write-Attributes

def links(payload):
    """link-format -> {path: [attr strings in order]} (parsed here, not by lib/lwm2m/link.py)."""
    out = {}
    for item in payload.decode().split(","):
        m = re.match(r"^<([^>]*)>(.*)$", item)
        assert m, item
        out[m.group(1)] = [a for a in m.group(2).split(";") if a]
    return out


def test_discover_after_write_attributes(single):
    _, base = single
    r = coap(base, "/3/0/9?pmin=5&pmax=60", "-m", "put")
    assert not r.sent[0].payload and "Content-Format" not in r.sent[0].opts
    assert "Uri-Query:pmin=5, Uri-Query:pmax=60" in r.sent[0].opts
    assert r.code == "2.04"
    r = coap(base, "/3/0", "-A", str(LINK_CF))
    assert r.code == "2.05" and "Content-Format:application/link-format" in r.opts
    ls = links(r.payload)
    assert list(ls)[0] == "/3/0" and ls["/3/0"] == []
    assert ls["/3/0/9"] == ["pmin=5", "pmax=60"]
    assert ls["/3/0/6"] == ["dim=2"] and ls["/3/0/0"] == [] and "/3/0/4" in ls
    assert not [p for p in ls if not p.startswith("/3/0")]
    # instance-level attributes; a single resource's discover shows what is in force for it
    assert coap(base, "/3/0?pmax=100&pmin=2", "-m", "put").code == "2.04"
    assert links(coap(base, "/3/0", "-A", "40").payload)["/3/0"] == ["pmin=2", "pmax=100"]
    r = coap(base, "/3/0/9", "-A", "40")
    assert r.payload == b"</3/0/9>;pmin=5;pmax=60"
    assert coap(base, "/3/0/6", "-A", "40").payload == b"</3/0/6>;dim=2;pmin=2;pmax=100"


@pytest.mark.parametrize("query", [
    "pmin=10&pmax=5", "pmin=-1", "pmax=-5", "pmin=abc", "pmax=", "pmin=1.5x", "pmin=70",
    "gt=abc", "st=-1",
])
def test_write_attributes_nonsense_400(single, query):
    _, base = single
    assert coap(base, "/3/0/10?pmin=20&pmax=60", "-m", "put").code == "2.04"
    r = coap(base, "/3/0/10?" + query, "-m", "put")
    assert r.code == "4.00", query
    # unchanged (a resource's discover shows the attributes in force: its own override /3/0's)
    assert coap(base, "/3/0/10", "-A", "40").payload == b"</3/0/10>;pmin=20;pmax=60"


def test_write_attributes_numeric_only_for_gt_lt_st(single):
    _, base = single
    assert coap(base, "/3/0/0?gt=5", "-m", "put").code == "4.00"  # a string resource
    assert coap(base, "/3303/1/5700?gt=25&lt=5&st=0.5", "-m", "put").code == "2.04"
    assert links(coap(base, "/3303/1/5700", "-A", "40").payload)["/3303/1/5700"] == [
        "gt=25", "lt=5", "st=0.5"]


# ---- unknown paths and the invisible Security object

def test_unknown_paths_404(single):
    _, base = single
    for path in ("/9999", "/3/1", "/3/0/99", "/3/0/6/9", "/abc", "/3/x", "/1/65535",
                 "/3/0/0/0/0", "/3303/55/5700"):
        r = coap(base, path)
        assert (r.code, r.payload) == ("4.04", b""), path
    assert coap(base, "/9999/0/0", "-m", "put", "-e", "1").code == "4.04"
    assert coap(base, "/3303/55", "-m", "delete").code == "4.04"
    assert coap_bin(base, "/9999", "post", TLV_CF, tlv(RES, 0, b"x")).code == "4.04"
    assert coap(base, "/3303/55/5605", "-m", "post").code == "4.04"


def test_security_object_invisible(single):
    _, base = single
    for path in ("/0", "/0/0", "/0/0/5", "/0/1", "/0/0/0"):
        for acc in (None, "11542", "11543", "42", "0", "40"):
            r = coap(base, path, *(("-A", acc) if acc else ()))
            assert (r.code, r.payload) == ("4.04", b""), (path, acc)
    assert coap(base, "/0/0/5", "-m", "put", "-t", "42", "-e", "x").code == "4.04"
    assert coap(base, "/0/0", "-m", "delete").code == "4.04"
    assert coap_bin(base, "/0", "post", TLV_CF, tlv(RES, 0, b"coap://evil")).code == "4.04"
    assert coap(base, "/0/0/5?pmin=1", "-m", "put").code == "4.04"
    assert coap(base, "/0/0/5", "-m", "post").code == "4.04"
    r = coap(base, "/", "-A", "40")
    assert r.code == "2.05" and b"</0" not in r.payload and b"</1/0>" in r.payload
    assert b"</3/0>" in r.payload and b"</3303/0>" in r.payload
    for out in SEEN:
        assert SECRET not in out and SECRET.hex().encode() not in out


# ---- Observe

def test_observe_notifications_on_change(single):
    _, base = single
    r = coap(base, "/3303/0/5700", "-s", "2", wait=4)
    assert "Observe:0" in r.sent[0].opts
    tok = r.sent[0].token
    notes = [m for m in r.recv if "Observe:" in m.opts]
    assert len(notes) >= 4, r.recv
    assert all(m.code == "2.05" and m.token == tok and "text/plain" in m.opts for m in notes)
    seqs = [int(re.search(r"Observe:(\d+)", m.opts).group(1)) for m in notes]
    vals = [float(m.payload.strip("'")) for m in notes]
    assert seqs == sorted(set(seqs))
    assert vals == sorted(set(vals)) and all(abs(b - a - 0.5) < 1e-9 or b - a > 0.5
                                             for a, b in zip(vals, vals[1:]))
    # libcoap ends -s with an active cancel (GET Observe:1, same token)
    assert any("Observe:1" in m.opts and m.token == tok for m in r.sent[1:])


def test_observe_instance_json_keeps_format(single):
    _, base = single
    r = coap(base, "/3303/0", "-s", "1", "-A", str(JSON_CF), wait=3)
    notes = [m for m in r.recv if "Observe:" in m.opts]
    assert len(notes) >= 2 and all(m.code == "2.05" for m in notes), r.recv
    assert all("Content-Format:%d" % JSON_CF in m.opts for m in notes)


def test_observe_pmax_notifies_unchanged_value(single):
    _, base = single
    # nothing changes /3303/1/5701: with pmax=1 it is still reported about once a second
    assert coap(base, "/3303/1/5701?pmax=1", "-m", "put").code == "2.04"
    r = coap(base, "/3303/1/5701", "-s", "3", wait=5)
    notes = [m for m in r.recv if "Observe:" in m.opts]
    assert 3 <= len(notes) <= 5, r.recv  # the answer plus one per second
    assert all(m.payload == "'Cel'" for m in notes)
    # and without attributes an unchanged value is never notified
    r = coap(base, "/3303/1/5602", "-s", "1", wait=3)
    assert len([m for m in r.recv if "Observe:" in m.opts]) == 1, r.recv


# ---- two servers: the ACL matrix over real sockets

GET, PUT, POST, DELETE = aiocoap.GET, aiocoap.PUT, aiocoap.POST, aiocoap.DELETE
OPS = ("R", "W", "E", "D", "C")


def _sentinel(p, aio, base, start):
    """SSID 2 runs /9001/99/2 (it owns 99): its EXEC line bounds the app's output for the
    request before it, so the absence of an event is checked without waiting."""
    assert aio.request(1, base, POST, "/9001/99/2")[0] == "2.04"
    stop = p.wait_for(exactly("EXEC 9001 99"), start=start)
    return p.between(start, stop)


def _matrix_case(p, aio, base, op, role, allowed, who=0):
    """One op by server `who` (context index; 0 = SSID 1) on the instance/object dm_app.py set
    up for (op, role); returns after checking the answer and its effect."""
    k = OPS.index(op)
    iid = 10 * k + role
    inst = "/9001/%d" % iid
    at = p.mark()
    if op == "R":
        code, pl, opt = aio.request(who, base, GET, inst + "/0")
        ok = "2.05"
    elif op == "W":
        code, pl, opt = aio.request(who, base, PUT, inst + "/0", b"w%d" % iid, cf=0)
        ok = "2.04"
    elif op == "E":
        code, pl, opt = aio.request(who, base, POST, inst + "/2")
        ok = "2.04"
    elif op == "D":
        code, pl, opt = aio.request(who, base, DELETE, inst)
        ok = "2.02"
    else:
        oid = 9101 + role
        code, pl, opt = aio.request(who, base, POST, "/%d" % oid, tlv(RES, 0, b"c"), cf=TLV_CF)
        ok = "2.01"
    if not allowed:
        assert (code, pl, opt.content_format) == ("4.01", b"", None), (op, role, code, pl)
        lines = _sentinel(p, aio, base, at)
        assert not [x for x in lines if x.startswith(("EVENT", "EXEC"))
                    and not x.startswith("EVENT c 2 ")], lines
        return None
    assert code == ok, (op, role, code, pl)
    if op == "R":
        assert pl == b"n%d" % iid and opt.content_format == 0
    elif op == "W":
        p.wait_for(exactly("EVENT w 9001 %d" % iid), start=at)
    elif op == "E":
        p.wait_for(exactly("EXEC 9001 %d" % iid), start=at)
    elif op == "D":
        p.wait_for(exactly("EVENT d 9001 %d" % iid), start=at)
    else:
        loc = list(opt.location_path)
        assert len(loc) == 2 and loc[0] == str(9101 + role)
        p.wait_for(exactly("EVENT c %d %s" % (9101 + role, loc[1])), start=at)
        return loc
    return None


@pytest.mark.parametrize("role", range(len(ROLE_NAMES)), ids=ROLE_NAMES)
@pytest.mark.parametrize("op", OPS)
def test_two_server_acl_matrix(multi, op, role):
    p, aio, base, _ = multi
    allowed = ROLE_ALLOWED[role]
    loc = _matrix_case(p, aio, base, op, role, allowed)
    iid = 10 * OPS.index(op) + role
    # effects seen by the other server, where it may read (roles 0-2 and 4-5 give SSID 2 Read)
    peek = role != 3
    if op == "W" and peek:
        want = b"w%d" % iid if allowed else b"n%d" % iid
        assert aio.request(1, base, GET, "/9001/%d/0" % iid)[:2] == ("2.05", want)
    if op == "D" and peek:
        code = aio.request(1, base, GET, "/9001/%d/0" % iid)[0]
        # a deleted instance takes its ACL instance along: nobody has rights on it any more
        assert code == ("4.01" if allowed else "2.05")
    if op == "C" and allowed:
        new = "/%s/%s" % tuple(loc)
        # the creator owns the new instance with full rights; the other server has none
        assert aio.request(0, base, GET, new + "/0")[:2] == ("2.05", b"c")
        assert aio.request(0, base, PUT, new + "/0", b"d", cf=0)[0] == "2.04"
        assert aio.request(1, base, GET, new + "/0")[:2] == ("4.01", b"")
        assert aio.request(1, base, DELETE, new)[0] == "4.01"
        assert aio.request(0, base, DELETE, new)[0] == "2.02"


def test_two_servers_map_to_two_ssids(multi):
    p, aio, base, ports = multi
    aio.request(0, base, GET, "/3")
    aio.request(1, base, GET, "/3")
    p.wait_for(exactly("PEER %d 1" % ports[0]))
    p.wait_for(exactly("PEER %d 2" % ports[1]))


def test_unauthorized_before_method_not_allowed(multi):
    _, aio, base, _ = multi
    # /9001/11: SSID 1 has W only; /9001/12: everything but W (role 1 and 2 of the W row)
    assert aio.request(0, base, PUT, "/9001/11/1", b"5", cf=0)[:2] == ("4.05", b"")  # Count: R
    assert aio.request(0, base, PUT, "/9001/12/1", b"5", cf=0)[:2] == ("4.01", b"")
    # /9001/1: R only; /9001/2: everything but R
    assert aio.request(0, base, GET, "/9001/1/2")[:2] == ("4.05", b"")  # Go: E only
    assert aio.request(0, base, GET, "/9001/2/2")[:2] == ("4.01", b"")
    # no rights at all hides even whether a resource exists
    assert aio.request(0, base, GET, "/9001/2/77")[:2] == ("4.01", b"")
    # reads of the object list only instances the server may read
    code, pl, _ = aio.request(0, base, GET, "/9001", accept=TLV_CF)
    iids = [i for _, i, _ in tlv_decode(pl)]
    assert code == "2.05" and 1 in iids and 2 not in iids and 99 in iids
    code, pl, _ = aio.request(0, base, GET, "/9001", accept=LINK_CF)
    ls = links(pl)
    assert "/9001/1" in ls and "/9001/2" not in ls
    assert aio.request(0, base, GET, "/0/0/5")[:2] == ("4.04", b"")
    # an observe without Read right: refused, no observation
    async def obs():
        m = aiocoap.Message(code=GET, uri=base + "/9001/2/0", observe=0)
        return await asyncio.wait_for(aio.ctx[0].request(m).response, 20)
    r = aio._run(obs())
    assert (r.code.dotted, r.payload, r.opt.observe) == ("4.01", b"", None)


def test_acl_instance_managed_by_its_owner(multi):
    _, aio, base, _ = multi
    code, pl, _ = aio.request(1, base, GET, "/2", accept=TLV_CF)
    assert code == "2.05"
    k = None
    for kind, iid, sub in tlv_decode(pl):
        res = resources(sub)
        if ival(res[0]) == 9001 and ival(res[1]) == 99:
            k = iid
            assert ival(res[3]) == 2 and {a: ival(b) for a, b in res[2].items()} == {1: R}
    assert k is not None
    # any server reads an ACL; only its owner (SSID 2) changes it
    assert aio.request(0, base, GET, "/2/%d/3" % k)[:2] == ("2.05", b"2")
    assert aio.request(0, base, PUT, "/9001/99/0", b"x", cf=0)[:2] == ("4.01", b"")
    acl_rw = tlv(MULTI_RES, 2, [(RES_INST, 1, tint(R | W))])
    assert aio.request(0, base, PUT, "/2/%d/2" % k, acl_rw, cf=TLV_CF)[0] == "4.01"
    assert aio.request(0, base, DELETE, "/2/%d" % k)[0] == "4.01"
    assert aio.request(1, base, PUT, "/2/%d/2" % k, acl_rw, cf=TLV_CF)[0] == "2.04"
    assert aio.request(0, base, PUT, "/9001/99/0", b"x", cf=0)[0] == "2.04"
    assert aio.request(1, base, GET, "/9001/99/0")[:2] == ("2.05", b"x")
    # the owner takes the right away again
    acl_r = tlv(MULTI_RES, 2, [(RES_INST, 1, tint(R))])
    assert aio.request(1, base, PUT, "/2/%d/2" % k, acl_r, cf=TLV_CF)[0] == "2.04"
    assert aio.request(0, base, PUT, "/9001/99/0", b"y", cf=0)[0] == "4.01"
    assert aio.request(0, base, GET, "/9001/99/0")[:2] == ("2.05", b"x")


# ---- one server: the same matrix, every operation allowed whatever the ACL instances say

@pytest.fixture(scope="module")
def single_aio(single):
    p, base = single
    aio = Aio((free_udp_port(),))
    try:
        yield p, aio, base
    finally:
        aio.close()


@pytest.mark.parametrize("role", range(len(ROLE_NAMES)), ids=ROLE_NAMES)
@pytest.mark.parametrize("op", OPS)
def test_single_server_acl_matrix_all_allowed(single_aio, op, role):
    p, aio, base = single_aio
    _matrix_case(p, aio, base, op, role, True)


def test_block1_write_of_a_long_package_uri(single):
    _, base = single
    uri = "coap://example.com/firmware/" + "a" * 80 + ".bin"  # 112 bytes: 4 blocks of 32
    r = coap(base, "/5/0/1", "-b", "32", "-m", "put", "-t", "0", "-e", uri)
    assert [m.code for m in r.recv] == ["2.31"] * 3 + ["2.04"]
    assert coap(base, "/5/0/1").payload == uri.encode()


def test_block1_partial_update_tlv(single):
    _, base = single
    body = (tlv(RES, 2, tint(15)) + tlv(RES, 3, tint(600)) + tlv(RES, 5, tint(86400))
            + tlv(RES, 7, b"UQ"))  # 21 bytes: 2 blocks of 16
    r = coap_bin(base, "/1/0", "post", TLV_CF, body, "-b", "16")
    assert [m.code for m in r.recv] == ["2.31", "2.04"]
    res = resources(read_tlv(base, "/1/0"))
    assert (ival(res[2]), ival(res[3]), ival(res[5]), res[7]) == (15, 600, 86400, b"UQ")


def test_zz_secret_never_left_the_app(single):
    # last in the module (pytest runs a module's tests in file order): everything every peer
    # received in this run, plus one more look
    tests = [n for n in globals() if n.startswith("test_")]
    assert tests[-1] == "test_zz_secret_never_left_the_app", "a test was added after this one"
    _, base = single
    for path in ("/0/0/5", "/0", "/"):
        coap(base, path, "-A", "40")
        coap(base, path, "-A", "11542")
    assert len(SEEN) >= 6
    for out in SEEN:
        assert SECRET not in out and SECRET.hex().encode() not in out
        assert b"PSK-never-leaks" not in out
