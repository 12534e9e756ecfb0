"""Object model: definitions, instances, callables, registry hooks, bootstrap operations."""
from coap import msg as M
from lwm2m.bsops import BsOps
from lwm2m.dm import DM
from lwm2m.errors import BadRequest, MethodNotAllowed, NotFound
from lwm2m.model import Registry, object_def, resource
from lwm2m.objects import access, connmon, device, firmware, security, server
from util import hexb, raises


def _get(dm, path, accept=None):
    m = M.Message(M.CON, M.GET, 1, b"t")
    m.set_path(path)
    if accept is not None:
        m.add(M.ACCEPT, accept)
    return dm.handle(m, 1, 0)


def test_ipso_temperature_application_object():
    # --- the README example ---
    from lwm2m.model import Registry, object_def, resource

    TEMPERATURE = object_def(3303, "Temperature", (
        resource(5700, "Sensor Value", "R", "f", mandatory=True),
        resource(5701, "Sensor Units", "R", "s"),
        resource(5601, "Min Measured Value", "R", "f"),
        resource(5602, "Max Measured Value", "R", "f"),
        resource(5605, "Reset Min and Max Measured Values", "E", "e"),
    ))

    class Thermometer:
        """Object 3303 instance backed by a driver callable returning degrees Celsius."""

        def __init__(self, registry, read_celsius):
            self.reg = registry
            self.read = read_celsius
            self.obj = registry.add(TEMPERATURE)
            c = read_celsius()
            self.obj.add(0, {5701: "Cel", 5601: c, 5602: c})
            self.obj.bind(0, 5700, get=self.read)
            self.obj.bind(0, 5605, exe=self.reset)

        def poll(self):
            """Call from the main loop: track min/max and tell observers."""
            c = self.read()
            if c < self.obj.get(0, 5601):
                self.obj.set(0, 5601, c)
            if c > self.obj.get(0, 5602):
                self.obj.set(0, 5602, c)
            self.reg.changed(3303, 0, 5700)

        def reset(self, args):
            c = self.read()
            self.obj.set(0, 5601, c)
            self.obj.set(0, 5602, c)

    reg = Registry()
    sensor = [21.5]
    temp = Thermometer(reg, lambda: sensor[0])
    # --- end of the README example ---
    dm = DM(reg)
    seen = []
    reg.listener = lambda oid, iid, rid: seen.append((oid, iid, rid))
    r = _get(dm, "/3303/0/5700")
    assert (r.code, r.uint(M.CONTENT_FORMAT), bytes(r.payload)) == (M.CONTENT, 0, b"21.5")
    sensor[0] = 19.25
    temp.poll()
    assert seen == [(3303, 0, 5601), (3303, 0, 5700)]
    r = _get(dm, "/3303/0")
    assert bytes(r.payload) == hexb("E4 16 44 41 9A 00 00 E3 16 45 43 65 6C"
                                    "E4 15 E1 41 9A 00 00 E4 15 E2 41 AC 00 00")
    m = M.Message(M.CON, M.POST, 2, b"t")
    m.set_path("/3303/0/5605")
    sensor[0] = 30.0
    assert dm.handle(m, 1, 0).code == M.CHANGED
    assert temp.obj.get(0, 5601) == 30.0 and temp.obj.get(0, 5602) == 30.0
    assert b"</3303/0/5605>" in bytes(_get(dm, "/3303/0", 40).payload)
    assert reg.objects_links() == b"</3303/0>"


def test_definitions_are_constant_tuples():
    for mod in (security, server, access, device, connmon, firmware):
        d = mod.DEF
        assert isinstance(d, tuple) and isinstance(d[4], tuple)
        for r in d[4]:
            assert isinstance(r, tuple) and len(r) == 6 and r[2] in ("", "R", "W", "RW", "E")
            assert r[5] in "sifbotle"
    assert [r[0] for r in device.DEF[4]] == list(range(22))
    assert [r[0] for r in server.DEF[4]] == list(range(9))
    assert [r[0] for r in firmware.DEF[4]] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert [r[0] for r in security.DEF[4]] == [0, 1, 2, 3, 4, 5, 10, 11, 12]
    assert resource(5, "X", "RW", "i", True, True) == (5, "X", "RW", True, True, "i")


def test_objects_links_and_hooks():
    reg = Registry()
    security.make(reg)
    server.make(reg)
    firmware_obj = reg.add(firmware.DEF)
    security.add(reg, "coap://a", ssid=1)
    server.add(reg, 1)
    assert reg.objects_links() == b"</1/0>,</5>"
    events = []
    reg.watch(lambda *a: events.append(a))
    reg.create(5, 0)
    assert reg.objects_links() == b"</1/0>,</5/0>"
    reg.delete(5, 0)
    assert events == [("c", 5, 0), ("d", 5, 0)]
    raises(NotFound, reg.delete, 5, 0)
    raises(NotFound, reg.create, 77)
    raises(BadRequest, firmware_obj.add, 65535)
    firmware_obj.add(0)
    raises(BadRequest, firmware_obj.add, 1)  # single-instance object
    assert reg.servers() == [1]


def test_changed_is_cheap_without_listener():
    reg = Registry()
    reg.changed(3, 0, 1)  # no listener: nothing happens, nothing raises
    got = []
    reg.listener = lambda *a: got.append(a)
    reg.changed(3)
    assert got == [(3, None, None)]


def test_bind_instance_overrides_object_binding():
    reg = Registry()
    o = reg.add(object_def(9002, "T", (resource(0, "V", "RW", "i"), resource(1, "X", "E", "e"))))
    i0 = o.add(0)
    i1 = o.add(1)
    o.bind(None, 0, get=lambda iid: 100 + iid)
    o.bind(1, 0, get=lambda: 7)
    assert o.value(i0, 0) == 100 and o.value(i1, 0) == 7
    assert not o.present(i0, 1)
    o.bind(None, 1, exe=lambda iid, a: None)
    assert o.present(i0, 1) and o.rids(i0) == [0, 1]
    raises(MethodNotAllowed, o.store, i0, 0, 5)  # getter without setter: driver owns it
    o.bind(1, 0)  # unbind: the object-wide getter applies again
    assert o.value(i1, 0) == 101
    raises(NotFound, o.bind, 0, 9, get=int)
    raises(NotFound, o.bind, 5, 0, get=int)
    assert o.get(9, 0, "dflt") == "dflt"


def test_dump_load_roundtrip():
    reg = Registry()
    access.make(reg)
    security.make(reg)
    access.add(reg, 3, 0, 1, {0: 1, 101: 15})
    security.add(reg, "coaps://x", mode=security.PSK, identity=b"id", key=b"\x01\x02", ssid=101)
    d2 = reg.dump(2)
    d0 = reg.dump(0)
    assert d2 == {"0": {"0": 3, "1": 0, "2": {"0": 1, "101": 15}, "3": 1}}
    reg2 = Registry()
    access.make(reg2)
    security.make(reg2)
    reg2.load(2, d2)
    reg2.load(0, d0)
    assert reg2.obj(2).insts[0].vals == reg.obj(2).insts[0].vals
    assert reg2.obj(0).insts[0].vals == reg.obj(0).insts[0].vals


def _bs_setup():
    reg = Registry()
    security.make(reg)
    server.make(reg)
    access.make(reg)
    device.make(reg)
    reg.add(firmware.DEF)
    security.add(reg, "coap://bs", bootstrap=True, iid=0)
    return reg, BsOps(reg)


def test_bootstrap_write_creates_instances():
    reg, bs = _bs_setup()
    assert not bs.usable()
    # /0/1: URI, not bootstrap, NoSec, SSID 101 - TLV of an object instance
    sec = hexb("08 01 16 C8 00 0A 63 6F 61 70 3A 2F 2F 73 72 76 C1 01 00 C1 02 03 C1 0A 65")
    bs.write((0,), 11542, sec)
    assert reg.obj(0).insts[1].vals == {0: "coap://srv", 1: False, 2: 3, 10: 101}
    # Server instance: the read-only SSID is writable by bootstrap
    bs.write((1, 0), 11542, hexb("C1 00 65 C2 01 01 2C C1 06 01 C1 07 55"))
    assert reg.obj(1).insts[0].vals == {0: 101, 1: 300, 6: True, 7: "U"}
    assert bs.usable()
    bs.write((1, 0, 1), 0, b"60")
    assert reg.obj(1).get(0, 1) == 60
    raises(BadRequest, bs.write, (1,), 11542, hexb("C1 01 05"))  # multi-instance, no id
    raises(MethodNotAllowed, bs.write, (1, 0, 8), 11542, hexb("C0 08"))
    raises(BadRequest, bs.write, (1, 0), 11542, hexb("C1 01"))
    assert reg.obj(1).get(0, 1) == 60
    bs.write((5,), 11542, hexb("C0 01"))  # single-instance object: instance 0
    assert reg.obj(5).insts[0].vals == {1: ""}
    assert reg.objects_links() == b"</1/0>,</2>,</3/0>,</5/0>"


def test_bootstrap_delete_and_discover():
    reg, bs = _bs_setup()
    security.add(reg, "coap://a", ssid=101, iid=1)
    server.add(reg, 101, iid=0)
    security.add(reg, "coap://b", ssid=102, iid=2)
    server.add(reg, 102, iid=1)
    access.add(reg, 1, 1, 102, {102: 15})
    assert bs.discover(()) == (b'</>;lwm2m="1.0",</0/0>,</0/1>;ssid=101,</0/2>;ssid=102,'
                               b'</1/0>;ssid=101,</1/1>;ssid=102,</2/0>,</3/0>,</5>')
    assert bs.discover((1,)) == b"</1/0>;ssid=101,</1/1>;ssid=102"
    raises(BadRequest, bs.discover, (1, 0))
    bs.delete((1, 1))
    assert sorted(reg.obj(1).insts) == [0]
    bs.delete((1, 7))  # nothing there: still fine
    raises(BadRequest, bs.delete, (3, 0))
    raises(BadRequest, bs.delete, (1, 0, 1))
    bs.delete(())
    assert reg.obj(1).insts == {} and reg.obj(2).insts == {}
    assert sorted(reg.obj(0).insts) == [0]  # the bootstrap account stays
    assert sorted(reg.obj(3).insts) == [0]  # so does the Device
    bs.delete((0,))
    assert sorted(reg.obj(0).insts) == [0]


def test_bootstrap_delete_root_keeps_board_backed_singletons():
    reg, bs = _bs_setup()
    connmon.make(reg)
    reg.objs.pop(5)
    firmware.make(reg)
    security.add(reg, "coap://a", ssid=101, iid=1)
    server.add(reg, 101, iid=0)
    bs.delete(())
    assert reg.obj(1).insts == {} and sorted(reg.obj(0).insts) == [0]
    assert sorted(reg.obj(3).insts) == [0] and sorted(reg.obj(4).insts) == [0]
    assert sorted(reg.obj(5).insts) == [0]  # firmware update still reachable after bootstrap
    raises(BadRequest, bs.delete, (5, 0))


def test_bootstrap_delete_server_cleans_acl():
    from lwm2m.acl import Acl
    reg, bs = _bs_setup()
    bs.acl = Acl(reg)
    server.add(reg, 101, iid=0)
    server.add(reg, 102, iid=1)
    t = reg.add(object_def(9003, "T", (resource(0, "V", "RW", "i"),)))
    t.add(0, {0: 1})
    access.add(reg, 9003, 0, 102, {102: 15})
    bs.delete((1, 1))
    assert t.insts == {} and reg.obj(2).insts == {}


def test_device_values_from_platform():
    class Plat:
        manufacturer = "M"
        model = "X"
        serial = "S1"
        firmware_version = "1.2"
        battery = None
        power = None

        def mem_free(self):
            return 40 * 1024

        def mem_total(self):
            return 100 * 1024
    reg = Registry()
    asked = []
    dev = device.make(reg, Plat(), on_execute=asked.append)
    o = reg.obj(3)
    assert [o.get(0, r) for r in (0, 1, 2, 3, 10, 21, 16)] == ["M", "X", "S1", "1.2", 40, 100, "U"]
    t = o.get(0, 13)
    assert t > 1600000000
    dev.set_time(t + 3600)
    assert 3599 <= o.get(0, 13) - t <= 3601
    o.execute(o.insts[0], 5, b"")
    assert dev.pending == "factory_reset" and asked == ["factory_reset"]
    assert not o.deletable


def test_connmon_from_platform():
    class Plat:
        def rssi(self):
            return -61

        def ifconfig(self):
            return ("10.0.0.5", "255.255.255.0", "10.0.0.1", "10.0.0.1")
    reg = Registry()
    connmon.make(reg, Plat())
    o = reg.obj(4)
    assert o.get(0, 2) == -61 and o.get(0, 4) == {0: "10.0.0.5"} and o.get(0, 5) == {0: "10.0.0.1"}
    dm = DM(reg)
    assert bytes(_get(dm, "/4/0/2").payload) == b"-61"
