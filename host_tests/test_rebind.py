# Address change (NAT rebinding, new DHCP lease): Runner.rebind() on real loopback sockets, the
# address watch hook, and Client.address_changed() over the in-memory harness of test_client.py.
import os
import socket
import sys

from coap import msg as M
from coap.endpoint import Endpoint
from coap.runner import Runner, peer_key
from test_client import URI, URI2, started, tmpdir, rmtree

PING = b"\x50\x01\x00\x01"  # NON GET, no token, MID 1


def _udp(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    return s


def _bound():
    """(blocking socket, its address) on a free loopback port (MicroPython has no getsockname)."""
    port = 38000 + (id(object()) >> 4) % 9000
    for i in range(50):
        try:
            s = _udp(port + i)
        except OSError:
            continue
        return s, socket.getaddrinfo("127.0.0.1", port + i)[0][-1]
    raise AssertionError("no free UDP port")


def _src(r, rx, dst, data=PING):
    """Where a datagram the runner sends to dst comes from, as seen by rx (bound at dst)."""
    r.sendto(data, peer_key(dst))
    got, src = rx.recvfrom(64)
    assert got == data
    return peer_key(src)


def test_rebind_new_port_sends_and_receives_there():
    seen = []
    r = Runner(Endpoint(lambda req, peer, now: seen.append(peer)), 0)
    rx, addr = _bound()
    calls = []
    r.on_rebind.append(calls.append)
    try:
        old = r.udp
        p1 = _src(r, rx, addr)
        assert _src(r, rx, addr) == p1  # the same socket keeps its port
        new = r.rebind(0, 1234)
        assert new is r.udp and new is not old and old.sock is None
        assert calls == [1234]
        assert r.udp in r._transports and old not in r._transports
        p2 = _src(r, rx, addr)
        assert p2 != p1
        # the poller follows the new socket: a datagram to the new address reaches the endpoint
        rx.sendto(PING, p2)
        assert r.run_once(1000) == 1
        assert seen == [peer_key(addr)]
        assert r.received == 1 and r.sent == 3
        # the rebinding code was loaded for the call only (coap.unload), and so was the URI parser
        from coap.runner import resolve

        assert resolve("coap://127.0.0.1:1")[:3] == ("coap", "127.0.0.1", 1)
        assert "coap.rebind" not in sys.modules and "coap.uri" not in sys.modules
    finally:
        rx.close()
        r.close()


def test_receive_out_of_memory_keeps_the_datagram():
    """A MemoryError from the read (recvfrom(n) allocates n bytes first) is not fatal: logged,
    and the datagram is read on the next pass."""
    seen = []
    lines = []
    r = Runner(Endpoint(lambda req, peer, now: seen.append(peer)), 0, log=lines.append)
    rx, addr = _bound()
    real = r.udp.recv
    fail = [1]

    def recv(n):
        if fail[0]:
            fail[0] = 0
            raise MemoryError
        return real(n)

    r.udp.recv = recv
    try:
        p = _src(r, rx, addr)
        rx.sendto(PING, p)
        r.run_once(1000)
        assert seen == [] and lines == ["runner: no memory to receive: next pass"]
        r.run_once(1000)
        assert seen == [peer_key(addr)] and r.received == 1
    finally:
        rx.close()
        r.close()


def test_rebind_to_a_given_port():
    r = Runner(Endpoint(None), 0)
    rx, addr = _bound()
    probe, want = _bound()
    probe.close()  # a port known to be free
    try:
        port = want[1] if isinstance(want, tuple) else _port(want)
        r.rebind(port)
        assert r.udp.local_port == port
        assert _src(r, rx, addr) == peer_key(want)
    finally:
        rx.close()
        r.close()


def _port(sockaddr):
    b = bytes(sockaddr)  # unix port: raw sockaddr_in, port big-endian at offset 2
    return (b[2] << 8) | b[3]


class Restartable:
    """A DTLS-like transport: it owns a socket and start() makes a new session."""

    def __init__(self, sock):
        self.sock = sock
        self.started = []

    def start(self, now):
        self.started.append(now)

    def recv(self, buf):
        return None

    def service(self, now):
        return None

    def close(self):
        if self.sock is not None:
            self.sock.close()


def test_rebind_restarts_transports_that_have_a_socket():
    r = Runner(Endpoint(None), 0)
    live = r.add_transport(Restartable(_udp()))
    idle = r.add_transport(Restartable(None))  # failed or not started: its own retry handles it
    order = []
    r.on_rebind.append(lambda now: order.append(("listener", list(live.started))))
    try:
        r.rebind(0, 77)
        assert live.started == [77] and idle.started == []
        assert order == [("listener", [77])]  # sessions restarted before the Updates go out
    finally:
        r.close()


def test_watch_address_rebinds_on_a_new_address_only():
    r = Runner(Endpoint(None), 0)
    ip = ["10.0.0.5"]
    n = []
    r.on_rebind.append(n.append)
    try:
        hook = r.watch_address(lambda: (ip[0], "255.255.255.0", "10.0.0.1", "10.0.0.1"))
        assert hook in r.hooks
        assert hook(0) == 10000 and n == []  # first look: nothing to compare with
        ip[0] = "10.0.0.9"
        assert hook(5000) == 5000 and n == []  # not due yet: not even looked at
        assert hook(10000) == 10000 and n == [10000]
        ip[0] = "0.0.0.0"  # Wi-Fi down: no address, nothing to do
        hook(20000)
        ip[0] = "10.0.0.9"  # back with the same lease
        hook(30000)
        assert n == [10000]
        ip[0] = "10.0.0.7"
        hook(40000)
        assert n == [10000, 40000]
    finally:
        r.close()


def test_watch_address_rebind_file_is_removed_and_acted_on_once():
    d = tmpdir()
    flag = d + "/rebind"
    r = Runner(Endpoint(None), 0)
    n = []
    r.on_rebind.append(n.append)
    try:
        hook = r.watch_address(None, flag)
        assert hook(0) == 1000 and n == []
        f = open(flag, "w")
        f.close()
        assert hook(500) == 500 and n == []
        assert hook(1000) == 1000 and n == [1000]
        assert "rebind" not in os.listdir(d)
        hook(2000)
        assert n == [1000]
    finally:
        r.close()
        rmtree(d)


def test_address_changed_updates_every_registered_server():
    n = started(servers=((URI, 1), (URI2, 2)))
    try:
        s1, s2 = n.srv(URI), n.srv(URI2)
        assert n.c.regs[1].registered and n.c.regs[2].registered
        k1, k2 = len(s1.reqs), len(s2.reqs)
        n.c.address_changed(n.clock.now)
        n.run(10)
        # an empty Update each: the server learns the new source address, nothing else changed
        assert s1.reqs[k1:] == [(M.POST, "/rd/1", [], b"")]
        assert s2.reqs[k2:] == [(M.POST, "/rd/1", [], b"")]
        assert "lwm2m: address changed: Update to 2 server(s)" in n.lines
        assert n.c.regs[1].state == "registered" and n.c.regs[2].state == "registered"
    finally:
        n.close()


def test_address_changed_skips_servers_not_registered():
    n = started(servers=((URI, 1), (URI2, 2)))
    try:
        s1, s2 = n.srv(URI), n.srv(URI2)
        n.c.regs[2].stop(n.clock.now)  # e.g. parked: nothing to Update
        n.c.regs[2].start = lambda now: None  # and it stays so during this test
        k1, k2 = len(s1.reqs), len(s2.reqs)
        n.c.address_changed(n.clock.now)
        n.run(10)
        assert s1.reqs[k1:] == [(M.POST, "/rd/1", [], b"")] and s2.reqs[k2:] == []
        assert "lwm2m: address changed: Update to 1 server(s)" in n.lines
    finally:
        n.close()


def test_one_peer_object_while_the_sender_stays():
    """recvfrom makes a new address per datagram; the endpoint keeps the peer of each request
    (16 dedup entries), so the transport hands out one object for a sender that stays: a push
    of 16 blocks keeps one address, not 16 copies of it."""
    r = Runner(Endpoint(lambda req, peer, now: None), 0)
    a, addr = _bound()
    b, addr_b = _bound()
    try:
        p = _src(r, a, addr)
        a.sendto(PING, p)
        a.sendto(PING, p)
        b.sendto(PING, p)
        got = [r.udp.recv(64) for _ in range(3)]
        while None in got:  # loopback delivers at once, but poll until all three are read
            got[got.index(None)] = r.udp.recv(64)
        assert got[0][1] == got[1][1] == peer_key(addr)
        assert got[0][1] is got[1][1]  # the same object, not an equal copy
        assert got[2][1] == peer_key(addr_b) and got[2][1] is not got[1][1]
    finally:
        a.close()
        b.close()
        r.close()
