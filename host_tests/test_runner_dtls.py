"""coaps:// wiring without a network peer: Runner transports whose socket changes, and lwm2m.secure
(park/retry/re-register) driven by a fake DTLS transport and a real Registration + Endpoint."""
import socket

from coap import dtls
from coap import msg as M
import coapnums as CN
from coap.endpoint import Endpoint
from coap.runner import Runner
from lwm2m.accounts import Account
from lwm2m.log import Log
from lwm2m.register import Registration
from lwm2m.secure import Refused, Secure
from util import raises

KEY = b"sekrit-key-0123"
PEER = ("127.0.0.1", 5684)
URI = "coaps://127.0.0.1:5684"


class FakeT:
    """DtlsTransport's interface; the test moves it between states by hand."""

    def __init__(self, addr, identity, key, peer):
        self.args = (addr, identity, key, peer)
        self.sock = None
        self.on_sock = None
        self.on_state = None
        self.state = dtls.IDLE
        self.error = None
        self.cipher = None
        self.lost = False
        self.attempts = 0
        self.sessions = 0
        self.retry = None
        self.sent = []
        self.closed = False

    def _set(self, state, now):
        self.state = state
        if self.on_state is not None:
            self.on_state(self, now)

    def start(self, now):
        self.attempts += 1
        self.error = None
        self.lost = False
        self._set(dtls.HANDSHAKING, now)

    def fail(self, now, error, lost=False, retry_in=5000):
        self.error = error
        self.lost = lost
        self.retry = now + retry_in
        self._set(dtls.FAILED, now)

    def ready(self, now):
        self.sessions += 1
        self.cipher = "TLS-PSK-WITH-AES-128-GCM-SHA256"
        self._set(dtls.READY, now)

    def retry_at(self, now):
        return self.retry if self.state == dtls.FAILED else now

    def recv(self, buf):
        return None

    def send(self, data, peer=None):
        self.sent.append(bytes(data))

    def service(self, now):
        return None

    def close(self):
        self.closed = True


class FakeRunner:
    def __init__(self):
        self.hooks = []
        self.transports = []
        self.routes = {}
        self.woken = 0

    def add_hook(self, fn):
        self.hooks.append(fn)

    def add_transport(self, t):
        self.transports.append(t)

    def remove_transport(self, t):
        self.transports.remove(t)
        for p in [p for p, v in self.routes.items() if v is t]:
            del self.routes[p]

    def route(self, peer, t):
        self.routes[peer] = t

    def wake(self):
        self.woken += 1


class FakeClient:
    def __init__(self):
        self.regs = {}
        self.bs = None


def rand(n):
    return n // 2


def setup(mode=0, key=KEY):
    made = []

    def make(addr, identity, key, peer):
        t = FakeT(addr, identity, key, peer)
        made.append(t)
        return t

    lines = []
    runner = FakeRunner()
    client = FakeClient()
    sec = Secure(runner, client, Log("debug", lines), make)
    ep = Endpoint(None, rand)
    events = []
    r = Registration(ep, PEER, "dev-1", lambda: (300, "U", False), lambda: b"</3/0>", rand=rand,
                     on_event=lambda r, what, now, code=0: what in (
                         "registered", "deregistered", "lost") and events.append(what), ssid=1)
    acct = Account(1, URI, 0, 0, mode, b"dev-1", key)
    return sec, runner, client, ep, r, acct, made, lines, events


def attach(client, r, now):
    """What lwm2m.servers._add does right after the factory: create and start the Registration."""
    client.regs[1] = r
    r.start(now)


def sent(ep):
    out = [M.decode(d) for d, p in ep.out]
    ep.out[:] = []
    return out


def answer_register(ep, r, now):
    req = sent(ep)
    assert req[0].code == M.POST and req[0].path() == ["rd"], req
    resp = M.Message(CN.ACK, M.CREATED, req[0].mid, req[0].token)
    resp.add(M.LOCATION_PATH, "rd")
    resp.add(M.LOCATION_PATH, "7")
    ep.receive(resp.encode(), PEER, now)
    assert r.registered and r.location == "/rd/7"


def no_key(lines):
    for ln in lines:
        assert "sekrit" not in ln and KEY.hex() not in ln, ln


def test_factory_creates_routes_and_starts():
    sec, runner, client, ep, r, acct, made, lines, _ = setup()
    sec(acct, "127.0.0.1", 5684, PEER)
    t = made[0]
    assert t.args == (PEER, b"dev-1", KEY, PEER)
    assert runner.transports == [t] and runner.routes == {PEER: t}
    assert runner.hooks == [sec.tick]
    assert t.attempts == 1 and t.state == dtls.HANDSHAKING and t.on_state is not None
    assert lines == ["lwm2m: server 1 coaps://127.0.0.1:5684: DTLS-PSK handshake (identity 'dev-1')"]
    no_key(lines)


def test_first_session_needs_no_extra_register():
    sec, runner, client, ep, r, acct, made, lines, _ = setup()
    sec(acct, "h", 5684, PEER)
    attach(client, r, 100)
    assert len(ep.out) == 1  # the Register, which the transport queues during the handshake
    made[0].ready(200)
    assert sec.tick(200) is None
    assert ep.out and len(ep.out) == 1 and r.state == "registering"
    answer_register(ep, r, 300)


def test_handshake_failure_parks_retries_and_registers_when_ready():
    sec, runner, client, ep, r, acct, made, lines, events = setup()
    sec(acct, "h", 5684, PEER)
    attach(client, r, 100)
    t = made[0]
    sent(ep)
    woken = runner.woken
    t.fail(1000, "DTLS handshake failed: Mbed TLS error -0x7780", retry_in=5000)
    assert runner.woken == woken + 1
    assert lines[-1] == ("lwm2m: coaps://127.0.0.1:5684: DTLS handshake failed: Mbed TLS error "
                         "-0x7780 (fatal alert from the server: wrong PSK identity or key?); "
                         "registration failed, next handshake in 5 s")
    assert sec.tick(1000) == 5000
    assert r.state == "disabled" and r.failures == 1 and not r.registered
    assert events == []  # neither "lost" (never registered) nor "deregistered"
    # the Register in flight was cancelled: no retransmission ever
    for at in (4000, 20000, 60000):
        ep.tick(at)
    assert ep.out == []
    assert sec.tick(5999) == 1 and t.attempts == 1
    assert sec.tick(6000) is None and t.attempts == 2
    assert lines[-1] == "lwm2m: coaps://127.0.0.1:5684: DTLS handshake again (attempt 2)"
    t.fail(6100, "DTLS handshake timed out after 10000 ms (wrong PSK identity or key?)",
           retry_in=10000)
    sec.tick(6100)
    assert r.failures == 2 and r.state == "disabled" and ep.out == []
    sec.tick(16100)
    assert t.attempts == 3
    t.ready(16200)
    sec.tick(16200)
    assert lines[-1] == "lwm2m: coaps://127.0.0.1:5684: new DTLS session: registering again"
    assert r.state == "registering"
    answer_register(ep, r, 16300)
    assert r.failures == 0 and events == ["registered"]
    no_key(lines)


def test_session_lost_reregisters_without_deregister():
    sec, runner, client, ep, r, acct, made, lines, events = setup()
    sec(acct, "h", 5684, PEER)
    attach(client, r, 100)
    t = made[0]
    t.ready(200)
    sec.tick(200)
    answer_register(ep, r, 300)
    t.fail(5000, "session lost (the peer closed the DTLS session)", lost=True, retry_in=4000)
    sec.tick(5000)
    assert lines[-1].endswith("registration suspended, next handshake in 4 s")
    assert r.state == "disabled" and r.failures == 0 and r.location is None
    assert events == ["registered", "lost"]
    assert ep.out == []  # no Deregister into a dead session
    sec.tick(9000)
    assert t.attempts == 2
    t.ready(9100)
    assert t.sessions == 2
    sec.tick(9100)
    answer_register(ep, r, 9200)
    assert events == ["registered", "lost", "registered"]


def test_new_session_while_registered_registers_again():
    # a transport that recovered without the glue seeing FAILED still means a new session
    sec, runner, client, ep, r, acct, made, lines, events = setup()
    sec(acct, "h", 5684, PEER)
    attach(client, r, 100)
    t = made[0]
    t.ready(200)
    sec.tick(200)
    answer_register(ep, r, 300)
    t.ready(400)
    sec.tick(400)
    assert r.state == "registering" and len(ep.out) == 1


def test_unsupported_modes_and_keys_are_refused():
    for mode, key, word in ((1, KEY, "raw public key"), (2, KEY, "certificate"),
                            (3, KEY, "needs security mode 0"), (0, b"k" * 33, "at most 32")):
        sec, runner, client, ep, r, acct, made, lines, events = setup(mode, key)
        sec(acct, "h", 5684, PEER)
        assert made == []
        t = runner.routes[PEER]
        assert isinstance(t, Refused) and runner.transports == [t]
        assert len(lines) == 1 and lines[0].startswith("lwm2m: server 1 coaps://127.0.0.1:5684: ")
        assert word in lines[0] and lines[0].endswith("; not registering"), lines
        assert raises(OSError, t.send, b"x", PEER)
        attach(client, r, 100)
        assert sec.tick(100) is None
        assert r.state == "disabled" and r.failures == 1
        ep.out[:] = []
        sec.tick(600000)
        ep.tick(600000)
        assert ep.out == [] and r.state == "disabled"
        no_key(lines)


def test_dropped_account_closes_its_transport():
    sec, runner, client, ep, r, acct, made, lines, events = setup()
    sec(acct, "h", 5684, PEER)
    attach(client, r, 100)
    sec.tick(100)
    assert runner.transports == [made[0]]
    del client.regs[1]
    sec.tick(200)
    assert made[0].closed and runner.transports == [] and runner.routes == {} and sec.links == {}


def test_same_peer_again_replaces_the_transport():
    sec, runner, client, ep, r, acct, made, lines, events = setup()
    sec(acct, "h", 5684, PEER)
    sec(acct, "h", 5684, PEER)
    assert made[0].closed and not made[1].closed
    assert runner.transports == [made[1]] and runner.routes[PEER] is made[1]


class SockT:
    """A runner transport whose socket comes and goes, like DtlsTransport across handshakes."""

    def __init__(self):
        self.sock = None
        self.on_sock = None
        self.got = []
        self.closed = False

    def attach(self, s):
        self.sock = s
        self.on_sock(None, s)

    def detach(self):
        old, self.sock = self.sock, None
        self.on_sock(old, None)

    def recv(self, buf):
        if self.sock is None:
            return None
        try:
            data = self.sock.recv(1500)
        except OSError:
            return None
        self.got.append(data)
        return data, "sock-t"

    def send(self, data, peer=None):
        pass

    def service(self, now):
        return None

    def close(self):
        self.closed = True


def _udp(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    s.setblocking(False)
    return s


def _bound():
    """(socket, address) on a free loopback port; MicroPython sockets have no getsockname()."""
    port = 47000 + (id(object()) >> 4) % 9000
    for i in range(50):
        try:
            s = _udp(port + i)
        except OSError:
            continue
        return s, socket.getaddrinfo("127.0.0.1", port + i)[0][-1]
    raise AssertionError("no free UDP port")


def test_runner_follows_a_changing_socket():
    seen = []
    r = Runner(Endpoint(lambda req, peer, now: seen.append(peer)), 0)
    t = SockT()
    try:
        assert r.add_transport(t) is t and t.on_sock is not None  # sock None: nothing polled
        assert r.run_once(0) == 0
        s, addr = _bound()
        t.attach(s)
        tx = _udp()
        tx.sendto(b"\x50\x01\x00\x01", addr)
        assert r.run_once(1000) == 1
        assert t.got == [b"\x50\x01\x00\x01"] and seen == ["sock-t"]
        t.detach()
        tx.sendto(b"\x50\x01\x00\x02", addr)
        assert r.run_once(0) == 0 and len(t.got) == 1  # no longer polled
        s.close()
        tx.close()
        r.remove_transport(t)  # sock None: nothing to unregister, and no error
        assert t.on_sock is None
    finally:
        r.close()


def test_runner_wake_runs_hooks_before_the_wait():
    r = Runner(Endpoint(None), 0)
    calls = []

    def hook(now):
        calls.append(now)
        return 60000

    try:
        r.add_hook(hook)
        r.run_once(0)
        n = len(calls)
        r.run_once(0)  # deadline a minute away: the hooks run once, after the (0 ms) poll
        assert len(calls) == n + 1
        r.wake()
        r.run_once(0)  # woken: once before the poll as well
        assert len(calls) == n + 3
    finally:
        r.close()
