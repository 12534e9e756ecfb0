"""Device-management demo program for the DM interop tests (host_tests/test_peer_dm.py), run under
the MicroPython unix port (or CPython): the real DM behind the real CoAP endpoint and runner.

  micropython dm_app.py PORT OBS_MS SSIDS [SRCPORT=SSID ...]
      SSIDS: comma list of Short Server IDs with a Server instance each ("1": single server, ACL
      instances ignored; "1,2": two servers, every request checked against object 2).
      SRCPORT=SSID: a request from that UDP source port acts as that server; any other source
      port acts as the first SSID. OBS_MS: /3303/0's sensor rises by 0.5 every OBS_MS.

Objects: 0 (one instance whose Secret Key is SECRET: it must never leave), 1, 2, 3 (serial
DM-TEST-42, a fake battery at 88 %, USB + internal battery), 4, 5, 3303 (IPSO Temperature:
instance 0 bumped every OBS_MS, instance 1 fixed at 20.0 with min/max 10.0/30.0), and the ACL
test objects below (built the same way in both modes).

ACL layout (requests from SSID 1 are "us", SSID 2 is the other server):
  9001 "Thing" instance 10 * op + role for op in R W E D (0..3), role in ROLES; Name is "n<iid>";
  9101 + role: the same definition, empty, with a Create ACL (instance 65535) per role;
  9001/99: owner 2, ACL {1: R}, the subject of the "owner edits the ACL" test.
Stdout, one event per line, flushed: READY PORT, PEER SRCPORT SSID (first request from a port),
EVENT c|d|w OID IID (registry hooks: what a server created, deleted, wrote), EXEC OID IID.
"""
import sys

from app_common import Period, say  # before lib/'s packages: it puts lib/ on the path
from coap import msg as M
from coap.endpoint import Endpoint
from coap.runner import Runner
from lwm2m.acl import Acl, C, D, E, R, W
from lwm2m.dm import DM, parse_path
from lwm2m.model import Registry, object_def, resource
from lwm2m.objects import access, connmon, device, firmware, security, server
from lwm2m.report import Reporter
from board.battery import Battery
from board.host import Platform
from board.hostsim import FakeADC, FakePin
from board.power import PowerSource

SECRET = b"\x5e\xc7\x3e\x7b-PSK-never-leaks-\x00\xff"
OPS = (R, W, E, D)
RWED = R | W | E | D
# role -> (owner, acl) for the right `bit` being tested; requester is SSID 1
ROLES = (
    lambda bit: (1, {2: RWED | C}),  # 0 owner, no entry of its own: full rights
    lambda bit: (2, {1: bit}),  # 1 other server, an entry with the right
    lambda bit: (2, {1: (RWED | C) & ~bit}),  # 2 other server, an entry without it
    lambda bit: (2, {0: bit}),  # 3 default entry (SSID 0) with the right
    lambda bit: (2, {0: (RWED | C) & ~bit}),  # 4 default entry without it
    lambda bit: (2, {1: (RWED | C) & ~bit, 0: RWED | C}),  # 5 own entry beats the default
)

THING = object_def(9001, "Thing", (
    resource(0, "Name", "RW", "s", mandatory=True),
    resource(1, "Count", "R", "i"),
    resource(2, "Go", "E", "e"),
))

TEMPERATURE = object_def(3303, "Temperature", (
    resource(5700, "Sensor Value", "R", "f", mandatory=True),
    resource(5701, "Sensor Units", "R", "s"),
    resource(5601, "Min Measured Value", "R", "f"),
    resource(5602, "Max Measured Value", "R", "f"),
    resource(5605, "Reset Min and Max Measured Values", "E", "e"),
))


def src_port(peer):
    if isinstance(peer, (bytes, bytearray)):
        return (peer[2] << 8) | peer[3]  # raw struct sockaddr_in: family, port big-endian, addr
    return peer[1]


class Temperature:
    """IPSO 3303, every instance backed by one callable-per-iid sensor table."""

    def __init__(self, reg):
        self.reg = reg
        self.c = {0: 21.5, 1: 20.0}
        o = self.obj = reg.add(TEMPERATURE)
        o.add(0, {5701: "Cel", 5601: 21.5, 5602: 21.5})
        o.add(1, {5701: "Cel", 5601: 10.0, 5602: 30.0})
        o.bind(None, 5700, get=lambda iid: self.c.get(iid, 0.0))
        o.bind(None, 5605, exe=self.reset)

    def poll(self, iid):
        c = self.c[iid]
        if c < self.obj.get(iid, 5601):
            self.obj.set(iid, 5601, c)
        if c > self.obj.get(iid, 5602):
            self.obj.set(iid, 5602, c)
        self.reg.changed(3303, iid, 5700)

    def reset(self, iid, args):
        c = self.c.get(iid, 0.0)
        self.obj.set(iid, 5601, c)
        self.obj.set(iid, 5602, c)
        say("EXEC", 3303, iid)


class App:
    def __init__(self, ssids, ports, period):
        self.ports = ports
        self.default = ssids[0]
        self.seen = set()
        self.period = Period(period)
        reg = self.reg = Registry()
        security.make(reg)
        server.make(reg)
        access.make(reg)
        bat = Battery(FakeADC(27140))  # 4100 mV -> 88 %
        plat = Platform(serial="DM-TEST-42", battery=bat,
                        power=PowerSource(vbus_pin=FakePin(1), battery=bat))
        device.make(reg, plat)
        connmon.make(reg, plat)
        firmware.make(reg)
        for i, s in enumerate(ssids):
            security.add(reg, "coap://127.0.0.1:%d" % (5683 + i), mode=security.PSK,
                         identity=b"dm-app", key=SECRET, ssid=s)
            server.add(reg, s, lifetime=300, pmin=10, pmax=120)
        self.temp = Temperature(reg)
        self._acl_objects()
        reg.watch(lambda kind, oid, iid: say("EVENT", kind, oid, iid))
        self.ep = Endpoint(self.handle)
        self.dm = DM(reg, Acl(reg))
        self.rep = Reporter(self.ep, self.dm.observe_read, self.dm.attrs.effective,
                            lambda ssid: (None, None, True))
        reg.listener = self.rep.changed

    def _acl_objects(self):
        reg = self.reg
        t = reg.add(THING)
        t.bind(None, 2, exe=lambda iid, args: say("EXEC", 9001, iid))
        for k, bit in enumerate(OPS):
            for j, role in enumerate(ROLES):
                iid = 10 * k + j
                t.add(iid, {0: "n%d" % iid, 1: iid})
                owner, acl = role(bit)
                access.add(reg, 9001, iid, owner, acl)
        t.add(99, {0: "n99", 1: 99})
        access.add(reg, 9001, 99, 2, {1: R})
        for j, role in enumerate(ROLES):
            o = reg.add(object_def(9101 + j, "Thing%d" % j, THING[4]))
            owner, acl = role(C)
            access.add(reg, o.oid, 65535, owner, acl)

    def handle(self, req, peer, now):
        port = src_port(peer)
        ssid = self.ports.get(port, self.default)
        if port not in self.seen:
            self.seen.add(port)
            say("PEER", port, ssid)
        resp = self.dm.handle(req, ssid, now)
        if req.code == M.GET and req.uint(M.OBSERVE) == 0 and resp.code == M.CONTENT:
            obs = self.ep.observe(req, peer, self.rep.remove)
            if obs is not None:
                self.rep.add(ssid, obs, parse_path(req.path()), req.uint(M.ACCEPT), now)
        return resp

    def bump(self, now):
        left = self.period.left(now)
        if left:
            return left
        self.temp.c[0] += 0.5
        self.temp.poll(0)
        return self.period.ms


def main(argv):
    if len(argv) < 3:
        say("usage: dm_app.py PORT OBS_MS SSIDS [SRCPORT=SSID ...]")
        sys.exit(2)
    ssids = [int(s) for s in argv[2].split(",")]
    ports = {}
    for a in argv[3:]:
        p, _, s = a.partition("=")
        ports[int(p)] = int(s)
    app = App(ssids, ports, int(argv[1]))
    r = Runner(app.ep, int(argv[0]))
    r.add_hook(app.bump)  # before the reporter, so a bump is notified in the same pass
    r.add_hook(app.rep.tick)
    say("READY", argv[0])
    try:
        r.run()
    finally:
        r.close()


main(sys.argv[1:])
