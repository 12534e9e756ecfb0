"""Device management end to end at the CoAP Message level: every operation and error code."""
# Over ~400 lines on purpose: one file per module under test (lwm2m.dm), every operation and its
# error codes.
from coap import msg as M
import coapnums as CN
from lwm2m.dm import DM, parse_path
from lwm2m.model import Registry
from lwm2m.objects import access, connmon, device, firmware, security, server
from util import hexb, raises

from lwm2m.errors import NotFound


class _Power:
    def available(self):
        return [1, 5]

    def voltages(self):
        return [3800, 5000]

    def currents(self):
        return [125, 900]


class _Bat:
    def level(self):
        return 100

    def status(self):
        return 0


class _Platform:
    manufacturer = "Open Mobile Alliance"
    model = "Lightweight M2M Client"
    serial = "345000123"
    firmware_version = "1.0"
    power = _Power()
    battery = _Bat()

    def mem_free(self):
        return 15 * 1024


def setup():
    reg = Registry()
    security.make(reg)
    server.make(reg)
    access.make(reg)
    dev = device.make(reg, _Platform())
    connmon.make(reg)
    fw = firmware.make(reg)
    security.add(reg, "coap://s", ssid=1, iid=0)
    security.add(reg, "coap://bs", bootstrap=True, iid=1)
    server.add(reg, 1, lifetime=300, iid=0)
    o3 = reg.obj(3)
    o3.bind(0, 13, get=lambda: 1367491215, set=lambda v: None)
    v = o3.insts[0].vals
    v[14] = "+02:00"
    del v[15]
    return reg, DM(reg), dev, fw


def req(code, path, accept=None, cf=None, payload=b"", query=()):
    m = M.Message(M.CON, code, 0x1234, b"tk")
    m.set_path(path)
    if cf is not None:
        m.add(M.CONTENT_FORMAT, cf)
    if accept is not None:
        m.add(M.ACCEPT, accept)
    for q in query:
        m.add(M.URI_QUERY, q)
    m.payload = payload
    return m


def call(dm, *a, **kw):
    return dm.handle(req(*a, **kw), 1, 0)


def cf(resp):
    return resp.uint(M.CONTENT_FORMAT)


DEVICE_TLV = hexb(
    "C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65"
    "C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74"
    "C8 02 09 33 34 35 30 30 30 31 32 33 C3 03 31 2E 30"
    "86 06 41 00 01 41 01 05 88 07 08 42 00 0E D8 42 01 13 88"
    "87 08 41 00 7D 42 01 03 84 C1 09 64 C1 0A 0F 83 0B 41 00 00"
    "C4 0D 51 82 42 8F C6 0E 2B 30 32 3A 30 30 C1 10 55 C1 14 00")
SERVER_TLV = hexb("C1 00 01 C2 01 01 2C C1 06 01 C1 07 55")


def test_read_device_instance_tlv_spec_bytes():
    reg, dm, dev, fw = setup()
    r = call(dm, M.GET, "/3/0")
    assert r.code == M.CONTENT and cf(r) == 11542
    assert bytes(r.payload) == DEVICE_TLV


def test_read_server_instance_tlv_and_legacy_accept():
    reg, dm, dev, fw = setup()
    r = call(dm, M.GET, "/1/0")
    assert (r.code, cf(r), bytes(r.payload)) == (M.CONTENT, 11542, SERVER_TLV)
    r = call(dm, M.GET, "/1/0", accept=1542)
    assert (r.code, cf(r), bytes(r.payload)) == (M.CONTENT, 1542, SERVER_TLV)


def test_read_object_tlv_wraps_instances():
    reg, dm, dev, fw = setup()
    r = call(dm, M.GET, "/1")
    assert bytes(r.payload) == hexb("08 00 0D") + SERVER_TLV


def test_read_json():
    reg, dm, dev, fw = setup()
    r = call(dm, M.GET, "/1/0", accept=11543)
    assert cf(r) == 11543
    assert bytes(r.payload) == (b'{"bn":"/1/0/","e":[{"n":"0","v":1},{"n":"1","v":300},'
                                b'{"n":"6","bv":true},{"n":"7","sv":"U"}]}')
    r = call(dm, M.GET, "/3/0/6", accept=11543)
    assert bytes(r.payload) == b'{"bn":"/3/0/6/","e":[{"n":"0","v":1},{"n":"1","v":5}]}'
    r = call(dm, M.GET, "/3/0", accept=1543)
    assert r.code == M.CONTENT and cf(r) == 1543
    assert b'{"n":"7/1","v":5000}' in bytes(r.payload)


def test_read_resource_text_and_formats():
    reg, dm, dev, fw = setup()
    r = call(dm, M.GET, "/3/0/0")
    assert (r.code, cf(r), bytes(r.payload)) == (M.CONTENT, 0, b"Open Mobile Alliance")
    assert r.opt(M.CONTENT_FORMAT) == b""  # format 0 is the empty uint
    assert bytes(call(dm, M.GET, "/1/0/1").payload) == b"300"
    assert bytes(call(dm, M.GET, "/1/0/6").payload) == b"1"
    r = call(dm, M.GET, "/1/0/1", accept=11542)
    assert (cf(r), bytes(r.payload)) == (11542, hexb("C2 01 01 2C"))
    r = call(dm, M.GET, "/1/0/1", accept=1541)
    assert (cf(r), bytes(r.payload)) == (1541, b"300")
    # multiple resource defaults to TLV; text is not acceptable for it
    r = call(dm, M.GET, "/3/0/6")
    assert (cf(r), bytes(r.payload)) == (11542, hexb("86 06 41 00 01 41 01 05"))
    assert call(dm, M.GET, "/3/0/6", accept=0).code == M.NOT_ACCEPTABLE
    assert call(dm, M.GET, "/3/0/0", accept=42).code == M.NOT_ACCEPTABLE
    assert call(dm, M.GET, "/3/0", accept=0).code == M.NOT_ACCEPTABLE
    assert call(dm, M.GET, "/3/0", accept=50).code == M.NOT_ACCEPTABLE


def test_read_resource_instance():
    reg, dm, dev, fw = setup()
    r = call(dm, M.GET, "/3/0/7/1")
    assert (r.code, cf(r), bytes(r.payload)) == (M.CONTENT, 0, b"5000")
    r = call(dm, M.GET, "/3/0/7/1", accept=11542)
    assert bytes(r.payload) == hexb("42 01 13 88")
    assert call(dm, M.GET, "/3/0/7/9").code == M.NOT_FOUND
    assert call(dm, M.GET, "/3/0/0/0").code == M.NOT_FOUND


def test_read_opaque_defaults_to_42():
    reg, dm, dev, fw = setup()
    from lwm2m.model import object_def, resource
    o = reg.add(object_def(9000, "Blob", (resource(0, "Data", "RW", "o"),)))
    o.add(0, {0: b"\x00\xff"})
    r = call(dm, M.GET, "/9000/0/0")
    assert (cf(r), bytes(r.payload)) == (42, b"\x00\xff")
    assert call(dm, M.GET, "/9000/0/0", accept=0).code == M.NOT_ACCEPTABLE
    r = call(dm, M.PUT, "/9000/0/0", cf=1544, payload=b"\x01")
    assert r.code == M.CHANGED and o.get(0, 0) == b"\x01"


def test_not_found_paths():
    reg, dm, dev, fw = setup()
    for p in ("/9", "/3/1", "/3/0/99", "/3/0/3x", "/1/0/2", "/3/0/1/2/3", "/x"):
        assert call(dm, M.GET, p).code == M.NOT_FOUND, p
    assert call(dm, M.GET, "/").code == M.METHOD_NOT_ALLOWED


def test_security_object_invisible():
    reg, dm, dev, fw = setup()
    for code, p, kw in ((M.GET, "/0", {}), (M.GET, "/0/0", {}), (M.GET, "/0/0/0", {}),
                        (M.GET, "/0", {"accept": 40}), (M.PUT, "/0/0/0", {"payload": b"x"}),
                        (M.POST, "/0", {"cf": 11542, "payload": b""}), (M.DELETE, "/0/0", {}),
                        (M.POST, "/0/0/1", {}), (M.PUT, "/0/0", {"query": ["pmin=1"]}),
                        (M.GET, "/0/9", {})):
        r = call(dm, code, p, **kw)
        assert r.code == M.NOT_FOUND and not r.payload, p
    assert reg.obj(0).get(0, 0) == "coap://s"
    assert b"</0" not in bytes(call(dm, M.GET, "/", accept=40).payload)
    assert b"</0" not in reg.objects_links()
    raises(NotFound, dm.read, "/0/0", 1)


def test_write_resource_text_and_tlv():
    reg, dm, dev, fw = setup()
    seen = []
    reg.listener = lambda *a: seen.append(a)
    r = call(dm, M.PUT, "/1/0/1", cf=0, payload=b"120")
    assert r.code == M.CHANGED and reg.obj(1).get(0, 1) == 120
    assert seen == [(1, 0, 1)]
    r = call(dm, M.PUT, "/1/0/1", cf=11542, payload=hexb("C1 01 3C"))
    assert r.code == M.CHANGED and reg.obj(1).get(0, 1) == 60
    r = call(dm, M.PUT, "/1/0/7", cf=1541, payload=b"UQ")
    assert r.code == M.CHANGED and reg.obj(1).get(0, 7) == "UQ"


def test_write_errors_leave_values_unchanged():
    reg, dm, dev, fw = setup()
    s = reg.obj(1)
    before = dict(s.insts[0].vals)
    cases = (
        (M.PUT, "/1/0/1", 0, b"12x", M.BAD_REQUEST),
        (M.PUT, "/1/0/6", 0, b"2", M.BAD_REQUEST),
        (M.PUT, "/1/0/1", 11542, hexb("C3 01 00 00 01"), M.BAD_REQUEST),  # 3-byte integer
        (M.PUT, "/1/0/1", 11542, hexb("C4 01 00"), M.BAD_REQUEST),  # length past end
        (M.PUT, "/1/0/1", 11543, b"[1]", M.BAD_REQUEST),
        (M.PUT, "/1/0/1", 60, b"\xa0", CN.UNSUPPORTED_CONTENT_FORMAT),
        (M.PUT, "/1/0/1", 42, b"\x01", CN.UNSUPPORTED_CONTENT_FORMAT),
        (M.PUT, "/1/0/0", 0, b"7", M.METHOD_NOT_ALLOWED),  # SSID is read-only
        (M.PUT, "/1/0/8", 0, b"", M.METHOD_NOT_ALLOWED),  # executable
        (M.PUT, "/1/0/99", 0, b"1", M.NOT_FOUND),
        # instance writes: a good value then a bad one must change nothing
        (M.POST, "/1/0", 11542, hexb("C1 01 0A C1 06 05"), M.BAD_REQUEST),
        (M.POST, "/1/0", 11542, hexb("C1 01 0A C1 00 07"), M.METHOD_NOT_ALLOWED),
        (M.POST, "/1/0", 11542, hexb("C1 01 0A C1 63 07"), M.NOT_FOUND),
        (M.POST, "/1/0", 11542, hexb("C1 01 0A C1 01 0B"), M.BAD_REQUEST),  # duplicate
        (M.POST, "/1/0", 0, b"10", CN.UNSUPPORTED_CONTENT_FORMAT),
        (M.PUT, "/1/0", 11542, hexb("C1 01 0A"), M.BAD_REQUEST),  # replace misses mandatory
        (M.POST, "/1/0", 11543, b'{"e":[{"n":"1","v":10},{"n":"6","v":3}]}', M.BAD_REQUEST),
        (M.POST, "/1/0", 11543, b'{"e":[{"n":"1","v":10},{"n":"7","sv":1}]}', M.BAD_REQUEST),
        (M.PUT, "/1", 11542, SERVER_TLV, M.METHOD_NOT_ALLOWED),
        (M.PUT, "/3/0/7/1", 0, b"1", M.METHOD_NOT_ALLOWED),
    )
    for code, p, fmt, pl, want in cases:
        r = call(dm, code, p, cf=fmt, payload=pl)
        assert r.code == want, (p, pl, CN.code_str(r.code))
        assert s.insts[0].vals == before, (p, pl)


def test_write_instance_partial_and_replace():
    reg, dm, dev, fw = setup()
    s = reg.obj(1)
    s.insts[0].vals[5] = 100
    r = call(dm, M.POST, "/1/0", cf=11542, payload=hexb("C1 01 0A C1 02 05"))
    assert r.code == M.CHANGED
    assert s.get(0, 1) == 10 and s.get(0, 2) == 5 and s.get(0, 5) == 100
    # replace: writable resources not in the payload go, read-only ones stay
    r = call(dm, M.PUT, "/1/0", cf=11542, payload=hexb("C1 01 14 C1 06 00 C1 07 55"))
    assert r.code == M.CHANGED
    assert s.insts[0].vals == {0: 1, 1: 20, 6: False, 7: "U"}
    r = call(dm, M.POST, "/1/0", cf=11543, payload=b'{"bn":"/1/0/","e":[{"n":"3","v":60}]}')
    assert r.code == M.CHANGED and s.get(0, 3) == 60


def test_write_multiple_resource_replace_and_merge():
    reg, dm, dev, fw = setup()
    acl = reg.obj(2)
    acl.add(0, {0: 3, 1: 0, 2: {1: 1, 2: 3}, 3: 1})
    r = call(dm, M.PUT, "/2/0/2", cf=11542, payload=hexb("86 02 41 00 1F 41 05 01"))
    assert r.code == M.CHANGED and acl.get(0, 2) == {0: 31, 5: 1}
    r = call(dm, M.POST, "/2/0", cf=11542, payload=hexb("83 02 41 07 03"))
    assert r.code == M.CHANGED and acl.get(0, 2) == {0: 31, 5: 1, 7: 3}
    r = call(dm, M.PUT, "/2/0/2", cf=11543, payload=b'{"e":[{"n":"2","v":7}]}')
    assert r.code == M.CHANGED and acl.get(0, 2) == {2: 7}
    r = call(dm, M.PUT, "/2/0/2", cf=11542, payload=hexb("C1 02 01"))
    assert r.code == M.BAD_REQUEST and acl.get(0, 2) == {2: 7}


def test_write_through_setter_and_driver_fault():
    reg, dm, dev, fw = setup()
    got = []
    o3 = reg.obj(3)
    o3.bind(0, 13, get=lambda: 5, set=got.append)
    assert call(dm, M.PUT, "/3/0/13", cf=0, payload=b"1700000000").code == M.CHANGED
    assert got == [1700000000]

    def boom(v):
        raise OSError(5)
    o3.bind(0, 13, get=lambda: 5, set=boom)
    assert call(dm, M.PUT, "/3/0/13", cf=0, payload=b"1").code == M.INTERNAL_SERVER_ERROR
    o3.bind(0, 9, get=lambda: 1 // 0)
    assert call(dm, M.GET, "/3/0/9").code == M.INTERNAL_SERVER_ERROR


def test_setters_run_with_the_write_path_dropped():
    """A Write's values are decoded and checked by lwm2m.parse, then applied (lwm2m.assign) with
    that module and lwm2m.number gone and nothing holding them, so what a setter starts (a
    Package URI's pull) has their heap; a refused setter still puts the instance back."""
    import sys

    reg, dm, dev, fw = setup()
    seen = []
    wr = None
    try:
        import weakref  # CPython: the frame that imported parse.write must not keep it

        from lwm2m import parse  # the module the write below uses (and drops)

        wr = weakref.ref(parse.write)
        del parse
    except ImportError:
        pass  # MicroPython: no weakref; sys.modules is checked on both

    def setter(v):
        if wr is not None:
            import gc

            gc.collect()  # a module's functions and its dict hold each other: a cycle
        seen.append((v, "lwm2m.parse" in sys.modules, "lwm2m.number" in sys.modules,
                     "lwm2m.assign" in sys.modules, wr is not None and wr() is not None))
        if v == "bad":
            raise OSError(5)

    reg.obj(3).bind(0, 14, get=lambda: "+02:00", set=setter)
    assert call(dm, M.PUT, "/3/0/14", cf=0, payload=b"+01:00").code == M.CHANGED
    assert seen == [("+01:00", False, False, True, False)]
    assert "lwm2m.assign" not in sys.modules and "lwm2m.parse" not in sys.modules
    v = reg.obj(3).insts[0].vals
    before = dict(v)
    assert call(dm, M.PUT, "/3/0/14", cf=0, payload=b"bad").code == M.INTERNAL_SERVER_ERROR
    assert v == before and "lwm2m.assign" not in sys.modules


def test_execute():
    reg, dm, dev, fw = setup()
    got = []
    server.hooks(reg.obj(1), update=lambda iid, a: got.append((iid, a)))
    r = call(dm, M.POST, "/1/0/8", payload=b"0='x'")
    assert r.code == M.CHANGED and got == [(0, b"0='x'")]
    r = call(dm, M.POST, "/3/0/4")
    assert r.code == M.CHANGED and dev.pending == "reboot"
    assert call(dm, M.POST, "/3/0/0").code == M.METHOD_NOT_ALLOWED
    assert call(dm, M.GET, "/3/0/4").code == M.METHOD_NOT_ALLOWED
    assert call(dm, M.POST, "/3/0/77").code == M.NOT_FOUND
    assert call(dm, M.POST, "/3/0/6/0").code == M.METHOD_NOT_ALLOWED
    dev.error(3)
    assert reg.obj(3).get(0, 11) == {0: 3}
    assert call(dm, M.POST, "/3/0/12").code == M.CHANGED
    assert reg.obj(3).get(0, 11) == {0: 0}


def _thing(reg):
    from lwm2m.model import object_def, resource
    return reg.add(object_def(9001, "Thing", (
        resource(0, "Name", "RW", "s", mandatory=True),
        resource(1, "Count", "R", "i"),
        resource(2, "Go", "E", "e"),
        resource(3, "Tags", "RW", "s", multiple=True))))


def test_create_with_and_without_id():
    reg, dm, dev, fw = setup()
    t = _thing(reg)
    events = []
    reg.watch(lambda k, o, i: events.append((k, o, i)))
    r = call(dm, M.POST, "/9001", cf=11542, payload=hexb("08 05 03 C1 01 07"))
    assert r.code == M.BAD_REQUEST  # Name (mandatory) missing
    assert not t.insts and not events
    r = call(dm, M.POST, "/9001", cf=11542,
             payload=hexb("08 05 0B C1 00 61 C1 01 07 83 03 41 00 78"))
    assert r.code == M.CREATED and r.all(M.LOCATION_PATH) == [b"9001", b"5"]
    assert t.insts[5].vals == {0: "a", 1: 7, 3: {0: "x"}}  # read-only Count may be set by Create
    assert ("c", 9001, 5) in events
    # no id: the client picks the first free one
    r = call(dm, M.POST, "/9001", cf=1542, payload=hexb("C1 00 62"))
    assert r.code == M.CREATED and r.all(M.LOCATION_PATH) == [b"9001", b"0"]
    assert t.insts[0].vals == {0: "b"}
    # the creator owns each new instance through an ACL instance made for it
    assert reg.objects_links() == (b"</1/0>,</2/0>,</2/1>,</3/0>,</4/0>,</5/0>,"
                                   b"</9001/0>,</9001/5>")
    assert reg.obj(2).insts[0].vals == {0: 9001, 1: 5, 2: {1: 15}, 3: 1}
    assert reg.obj(2).insts[1].vals == {0: 9001, 1: 0, 2: {1: 15}, 3: 1}
    n = len(t.insts)
    for pl, want in ((hexb("08 05 03 C1 00 63"), M.BAD_REQUEST),  # id taken
                     (hexb("C1 00 63 C0 02"), M.METHOD_NOT_ALLOWED),  # executable
                     (hexb("08 01 03 C1 00 63 08 02 03 C1 00 63"), M.BAD_REQUEST),  # two
                     (hexb("08 05"), M.BAD_REQUEST),
                     (hexb("C1 00 FF"), M.BAD_REQUEST),  # invalid UTF-8
                     (hexb("C1 09 01 C1 00 63"), M.NOT_FOUND)):
        assert call(dm, M.POST, "/9001", cf=11542, payload=pl).code == want, pl
    assert len(t.insts) == n
    assert call(dm, M.POST, "/3", cf=11542, payload=b"").code == M.BAD_REQUEST  # single
    assert call(dm, M.POST, "/9001", cf=0, payload=b"1").code == CN.UNSUPPORTED_CONTENT_FORMAT
    assert call(dm, M.POST, "/77", cf=11542, payload=b"").code == M.NOT_FOUND


def test_create_json():
    reg, dm, dev, fw = setup()
    t = _thing(reg)
    r = call(dm, M.POST, "/9001", cf=11543,
             payload=b'{"bn":"/9001/4/","e":[{"n":"0","sv":"j"},{"n":"3/1","sv":"t"}]}')
    assert r.code == M.CREATED and r.all(M.LOCATION_PATH) == [b"9001", b"4"]
    assert t.insts[4].vals == {0: "j", 3: {1: "t"}}


def test_delete():
    reg, dm, dev, fw = setup()
    t = _thing(reg)
    t.add(3, {0: "z"})
    dm.attrs.set(1, (9001, 3), {"pmin": 5})
    dm.attrs.set(1, (9001, 3, 0), {"pmin": 5})
    r = call(dm, M.DELETE, "/9001/3")
    assert r.code == M.DELETED and 3 not in t.insts
    assert dm.attrs.t == {}
    assert call(dm, M.DELETE, "/9001/3").code == M.NOT_FOUND
    assert call(dm, M.DELETE, "/3/0").code == M.METHOD_NOT_ALLOWED
    assert call(dm, M.DELETE, "/1").code == M.METHOD_NOT_ALLOWED
    assert call(dm, M.DELETE, "/1/0/1").code == M.METHOD_NOT_ALLOWED
    assert 0 in reg.obj(3).insts


def test_discover():
    reg, dm, dev, fw = setup()
    r = call(dm, M.GET, "/1", accept=40)
    assert (r.code, cf(r)) == (M.CONTENT, 40)
    assert bytes(r.payload) == (b"</1>,</1/0>,</1/0/0>,</1/0/1>,</1/0/4>,</1/0/6>,</1/0/7>,"
                                b"</1/0/8>")
    assert call(dm, M.PUT, "/3", query=["pmin=10"]).code == M.CHANGED
    assert call(dm, M.PUT, "/3/0", query=["pmax=60"]).code == M.CHANGED
    assert call(dm, M.PUT, "/3/0/7", query=["gt=50", "lt=42.5"]).code == M.CHANGED
    r = call(dm, M.GET, "/3/0", accept=40)
    assert bytes(r.payload).startswith(b"</3/0>;pmax=60,</3/0/0>,</3/0/1>,")
    assert b"</3/0/6>;dim=2,</3/0/7>;dim=2;gt=50;lt=42.5,</3/0/8>;dim=2," in bytes(r.payload)
    r = call(dm, M.GET, "/3/0/7", accept=40)
    assert bytes(r.payload) == b"</3/0/7>;dim=2;pmin=10;pmax=60;gt=50;lt=42.5"
    r = call(dm, M.GET, "/3", accept=40)
    assert bytes(r.payload).startswith(b"</3>;pmin=10,</3/0>;pmax=60,</3/0/0>")
    r = call(dm, M.GET, "/", accept=40)
    assert bytes(r.payload) == b"</1/0>,</2>,</3/0>,</4/0>,</5/0>"
    assert call(dm, M.GET, "/3/0/7/0", accept=40).code == M.METHOD_NOT_ALLOWED
    assert call(dm, M.GET, "/3/9", accept=40).code == M.NOT_FOUND


def test_write_attributes():
    reg, dm, dev, fw = setup()
    assert call(dm, M.PUT, "/1/0/1", query=["pmin=5", "pmax=50"]).code == M.CHANGED
    assert dm.attrs.get(1, (1, 0, 1)) == {"pmin": 5, "pmax": 50}
    assert call(dm, M.PUT, "/1/0/1", query=["pmin=60"]).code == M.BAD_REQUEST  # > pmax
    assert call(dm, M.PUT, "/1/0", query=["pmax=20"]).code == M.CHANGED
    assert dm.attrs.effective(1, (1, 0, 1)) == {"pmin": 5, "pmax": 50}
    assert dm.attrs.effective(1, (1, 0, 7)) == {"pmax": 20}
    assert dm.attrs.effective(2, (1, 0, 7)) == {}
    for q in (["pmin=-1"], ["pmin=x"], ["pmin=9", "pmax=3"], ["foo=1"], ["st=-1"],
              ["cancel"], ["gt=1", "lt=2", "st=1"]):
        assert call(dm, M.PUT, "/3/0/9", query=q).code == M.BAD_REQUEST, q
    assert call(dm, M.PUT, "/1/0", query=["gt=1"]).code == M.BAD_REQUEST  # not a resource
    assert call(dm, M.PUT, "/1/0/7", query=["gt=1"]).code == M.BAD_REQUEST  # not numeric
    assert call(dm, M.PUT, "/1/0/99", query=["pmin=1"]).code == M.NOT_FOUND
    assert call(dm, M.PUT, "/3/0/7/0", query=["pmin=1"]).code == M.METHOD_NOT_ALLOWED
    assert dm.attrs.get(1, (3, 0, 9)) is None
    assert call(dm, M.PUT, "/3/0/9", query=["st=2.5", "gt=80"]).code == M.CHANGED
    assert dm.attrs.get(1, (3, 0, 9)) == {"st": 2.5, "gt": 80.0}
    dm.attrs.drop(ssid=1)
    assert dm.attrs.t == {}


def test_read_for_observe_and_current():
    reg, dm, dev, fw = setup()
    assert dm.read([3, 0, 9], 1, None) == (0, b"100")
    assert dm.read("/1/0", 1, None) == (11542, SERVER_TLV)
    assert dm.read("/3/0/6", 1, 11543)[0] == 11543
    assert dm.current((3, 0, 9)) == 100 and dm.current((3, 0, 7, 1)) == 5000
    assert dm.current((3, 0, 99)) is None
    assert dm.observe_read(1, (3, 0, 9)) == (0, b"100", 100)
    assert dm.observe_read(1, (1, 0), 11542) == (11542, SERVER_TLV, None)


def test_firmware_package_blocks():
    reg, dm, dev, fw = setup()
    got = []
    fw.on_package_block = lambda off, data, last: got.append((off, bytes(data), last))
    m = req(M.PUT, "/5/0/0", cf=42, payload=b"A" * 16)
    m.add(M.BLOCK1, M.block_value(0, True, 0))
    assert dm.handle(m, 1, 0).code == M.CHANGED
    assert fw.state == firmware.DOWNLOADING
    m = req(M.PUT, "/5/0/0", cf=42, payload=b"BB")
    m.add(M.BLOCK1, M.block_value(1, False, 0))
    assert dm.handle(m, 1, 0).code == M.CHANGED
    assert got == [(0, b"A" * 16, False), (16, b"BB", True)]
    assert fw.state == firmware.DOWNLOADED
    assert bytes(call(dm, M.GET, "/5/0/3").payload) == b"2"
    assert call(dm, M.GET, "/5/0/0").code == M.METHOD_NOT_ALLOWED
    assert call(dm, M.PUT, "/5/0/0", cf=0, payload=b"x").code == CN.UNSUPPORTED_CONTENT_FORMAT
    ran = []
    fw.on_update = ran.append
    assert call(dm, M.POST, "/5/0/2").code == M.CHANGED
    assert ran == [b""] and fw.state == firmware.UPDATING
    assert call(dm, M.POST, "/5/0/2").code == M.METHOD_NOT_ALLOWED


def test_firmware_uri_and_cancel():
    reg, dm, dev, fw = setup()
    uris = []
    fw.on_package_uri = uris.append
    assert call(dm, M.PUT, "/5/0/1", cf=0, payload=b"coap://h/fw").code == M.CHANGED
    assert uris == ["coap://h/fw"] and bytes(call(dm, M.GET, "/5/0/1").payload) == b"coap://h/fw"
    fw._set(firmware.DOWNLOADING)  # forced: the engine's transition, reached through the stand-in
    assert call(dm, M.PUT, "/5/0/1", cf=0, payload=b"").code == M.CHANGED
    assert uris[-1] == "" and fw.state == firmware.IDLE
    assert call(dm, M.PUT, "/5/0/0", cf=42).code == M.CHANGED  # empty package: reset
    assert fw.state == firmware.IDLE and fw.result == 0


def test_parse_path():
    assert parse_path("/3/0/1") == [3, 0, 1]
    assert parse_path([]) == []
    for p in ("/a", "/3/65535", "/3/-1", "/3/0/1/2/3", "/99999999"):
        raises(NotFound, parse_path, p)
    assert parse_path("/3/0/1/65535") == [3, 0, 1, 65535]


def test_other_methods():
    reg, dm, dev, fw = setup()
    assert call(dm, M.POST, "/3/0/6/0").code == M.METHOD_NOT_ALLOWED
    assert call(dm, 5, "/3/0").code == M.METHOD_NOT_ALLOWED  # FETCH is not 1.0
    assert call(dm, M.PUT, "/", cf=0, payload=b"1").code == M.METHOD_NOT_ALLOWED


def _blocks(code, path, cf, body, size):
    out = []
    for i in range(0, len(body), size):
        m = req(code, path, cf=cf, payload=body[i:i + size])
        m.add(M.BLOCK1, M.block_value(i // size, i + size < len(body), 0))
        out.append(m)
    return out


def test_block1_write_is_applied_once_on_the_last_block():
    reg, dm, dev, fw = setup()
    uri = b"coap://example.com/firmware/" + b"a" * 80 + b".bin"
    seen = []
    fw.on_package_uri = seen.append
    codes = [dm.handle(m, 1, 0).code for m in _blocks(M.PUT, "/5/0/1", 0, uri, 16)]
    assert codes == [M.CHANGED] * len(codes)
    assert seen == [uri.decode()]
    assert bytes(call(dm, M.GET, "/5/0/1").payload) == uri


def test_block1_partial_tlv_update_and_size_limit():
    reg, dm, dev, fw = setup()
    body = hexb("C1 02 0F C2 03 02 58 C4 05 00 01 51 80")  # pmin 15, pmax 600, timeout 86400
    for m in _blocks(M.POST, "/1/0", 11542, body, 16 if len(body) > 16 else 8):
        r = dm.handle(m, 1, 0)
    assert r.code == M.CHANGED
    o = reg.obj(1)
    assert (o.get(0, 2), o.get(0, 3), o.get(0, 5)) == (15, 600, 86400)
    dm.max_body = 20
    codes = [dm.handle(m, 1, 0).code for m in _blocks(M.PUT, "/5/0/1", 0, b"x" * 40, 16)]
    assert codes == [M.CHANGED, CN.REQUEST_ENTITY_TOO_LARGE, CN.REQUEST_ENTITY_INCOMPLETE]
    assert bytes(call(dm, M.GET, "/5/0/1").payload) == b""
