"""I/O runner: owns the UDP socket(s), polls them and drives a sans-I/O coap Endpoint with ticks_ms."""
import select
import socket
import time

from micropython import const

_WATCH_MS = const(10000)  # address check period on a board (ifconfig is cheap, but not free)
_WATCH_HOST_MS = const(1000)  # on the host: the rebind file is how a test asks, answer quickly


def peer_key(addr):
    """A hashable peer from any socket address, equal for getaddrinfo and recvfrom results."""
    if isinstance(addr, (bytes, bytearray, memoryview)):
        return bytes(addr)  # unix port: raw sockaddr, recvfrom and getaddrinfo agree byte for byte
    if len(addr) == 2:
        return (addr[0], addr[1])
    return (addr[0], addr[1], 0, addr[3])  # IPv6: flowinfo varies between calls, scope does not


def resolve(uri, family=socket.AF_INET):
    """coap[s]://host:port -> (scheme, host, port, peer) where peer is what the runner will report.
    The parser is coap.uri, loaded for the call and dropped again: servers are resolved too
    seldom to hold its code."""
    from coap import uri as parser, unload

    try:
        return parser.resolve(uri, family)
    finally:
        unload("uri")


class UdpTransport:
    """One unconnected non-blocking UDP socket. The interface every transport has:
    .sock (pollable), recv(n) -> (data, peer) or None when drained (n: the largest datagram;
    a bytearray is taken for its length), send(data, peer), close(), service(now) -> ms until
    it next needs a call, or None (handshakes, for DTLS)."""

    def __init__(self, local_port=0, family=socket.AF_INET):
        s = socket.socket(family, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        except (OSError, AttributeError):
            pass
        s.bind(socket.getaddrinfo("::" if family != socket.AF_INET else "0.0.0.0", local_port, 0,
                                  socket.SOCK_DGRAM)[0][-1])
        s.setblocking(False)
        self.sock = s
        self.local_port = local_port
        self._peer = None

    def recv(self, buf):
        try:
            data, addr = self.sock.recvfrom(buf if isinstance(buf, int) else len(buf))
            p = peer_key(addr)
            # recvfrom makes a new address per datagram, and the endpoint keeps the peer of each
            # (16 dedup entries, exchanges, observations): one object while the sender stays
            if p == self._peer:
                p = self._peer
            self._peer = p
            return data, p
        except OSError as e:
            import errno  # the port's numbers: ETIMEDOUT is 116 on ESP32 (newlib), 110 on Linux

            if e.args and e.args[0] in (errno.EAGAIN, errno.ETIMEDOUT):
                return None
            raise

    def send(self, data, peer):
        self.sock.sendto(data, peer)

    def service(self, now):
        return None

    def close(self):
        self.sock.close()


class Runner:
    """Loop: poll the transports, feed datagrams to the endpoint, run timers, send what it queued.

    hooks: callables hook(now) -> ms until the hook wants to run again (or None); the LwM2M client
    adds its timers here. feed: called once per iteration (watchdog). log: callable(str) or None.
    Peers route to the UDP transport unless route(peer, transport) says otherwise (DTLS seam: one
    transport with its own connected socket per coaps server, added with add_transport).
    """

    max_wait_ms = 1000  # longest sleep in one poll, so until() and the watchdog run at least this often
    rx_size = 1280
    rx_burst = 32  # datagrams per transport per pass, bounded so a flood can't starve timers

    def __init__(self, endpoint, local_port=0, log=None):
        self.ep = endpoint
        self.udp = UdpTransport(local_port)
        self.hooks = []
        self.feed = None
        self.log = log
        self.sent = 0
        self.received = 0
        # No receive buffer: recvfrom(n) allocates per datagram anyway (MicroPython has no
        # recvfrom_into), and DTLS reads its own. That allocation needs rx_size contiguous bytes,
        # which a fragmented heap may not have with far more free in total: this spare holds
        # such a run, dropped just before each read so the GC (run by the failing allocation)
        # hands its room to recvfrom
        self._spare = bytearray(self.rx_size)
        self._transports = []
        self._routes = {}
        self._poll = select.poll()
        self._due = None
        self._woken = False
        self._stop = False
        self.on_rebind = []  # fn(now) after rebind(): the client Updates its servers from there
        self.add_transport(self.udp)

    def add_transport(self, t):
        """Polls t.sock (None: not yet); a transport whose socket changes (DTLS: a new one per
        handshake) gets on_sock set so the poller follows it."""
        self._transports.append(t)
        if hasattr(t, "on_sock"):
            t.on_sock = self._resock
        if t.sock is not None:
            self._poll.register(t.sock, select.POLLIN)
        self._due = None  # its service() may want to run before the current deadline
        return t

    def _resock(self, old, new):
        """Polls socket new (None: none) instead of old (None: none)."""
        if old is not None:
            try:
                self._poll.unregister(old)
            except (OSError, KeyError, ValueError):
                pass
        if new is not None:
            self._poll.register(new, select.POLLIN)

    def remove_transport(self, t):
        if t in self._transports:
            self._transports.remove(t)
            if hasattr(t, "on_sock"):
                t.on_sock = None
            self._resock(t.sock, None)
        for p, v in list(self._routes.items()):
            if v is t:
                del self._routes[p]

    def route(self, peer, t):
        self._routes[peer] = t

    def add_hook(self, fn):
        self.hooks.append(fn)
        self._due = None  # the new hook may want to run before the current deadline

    def wake(self):
        """Run the timers and hooks again before the next wait (a transport event needs them)."""
        self._due = None
        self._woken = True

    def rebind(self, local_port=0, now=None):
        """A new UDP socket (a new local port unless given) in place of the old one, then the
        on_rebind listeners: what NAT rebinding or a new DHCP address does to the client, and how
        it recovers (servers answer to where the last Register/Update came from). DTLS transports
        with a socket start() a new handshake: a session belongs to its address and port.
        The work is coap.rebind, loaded for the call and dropped again (a rare event)."""
        from coap import rebind, unload

        try:
            return rebind.rebind(self, local_port, time.ticks_ms() if now is None else now)
        finally:
            unload("rebind")

    def sendto(self, data, peer):
        try:
            self._routes.get(peer, self.udp).send(data, peer)
            self.sent += 1
        except OSError as e:
            # dropped: CON retransmission recovers, a lost NON was allowed to be lost
            if self.log:
                self.log("runner: send to %r failed: %r" % (peer, e))

    def flush(self):
        out = self.ep.out
        while out:
            data, peer = out.pop(0)
            self.sendto(data, peer)

    def _receive(self, now):
        """Reads at most rx_burst datagrams per transport; True when one had more waiting."""
        n = self.rx_size
        more = False
        for t in self._transports:
            for _ in range(self.rx_burst):
                # the spare goes for the read (recvfrom(n) allocates before it reads: the GC its
                # failing allocation runs hands it the spare's run) and comes back once the
                # timers after the reads have run (_timers): until then the datagrams and the
                # steps they start have its room (a firmware block held both, 1.3 KB of its
                # peak, and the package check in the tick after a pull's last block too)
                self._spare = None
                got = None
                try:
                    got = t.recv(n)
                except OSError as e:
                    if self.log:
                        self.log("runner: recv failed: %r" % (e,))
                except MemoryError:
                    # the datagram waits in the socket for the next pass, when a step has given
                    # its memory back
                    if self.log:
                        self.log("runner: no memory to receive: next pass")
                if got is None:
                    break
                self.received += 1
                self.ep.receive(got[0], got[1], now)
            else:
                more = True
        return more

    def _timers(self, now):
        self._woken = False
        nxt = self.ep.tick(now)
        for fn in self.hooks:
            n = fn(now)
            if n is not None and (nxt is None or n < nxt):
                nxt = n
        for t in self._transports:
            n = t.service(now)
            if n is not None and (nxt is None or n < nxt):
                nxt = n
        if self._woken:
            nxt = 0  # woken while the timers ran (a transport failed in service()): once more
        self._due = None if nxt is None else time.ticks_add(now, max(0, nxt))
        if self._spare is None:  # given up for a read (_receive): back now the pass is done
            try:
                self._spare = bytearray(self.rx_size)
            except MemoryError:
                pass  # no such run left now: the next pass tries again

    def run_once(self, timeout_ms=None):
        """One iteration: wait for input or the next deadline, receive, run timers, send."""
        now = time.ticks_ms()
        if self._due is None:
            self._timers(now)
        self.flush()
        wait = self.max_wait_ms if timeout_ms is None else timeout_ms
        if self._woken:
            wait = 0  # a transport event during flush(): its hook must not wait for the deadline
        elif self._due is not None:
            wait = max(0, min(wait, time.ticks_diff(self._due, now)))
        events = self._poll.poll(wait)
        now = time.ticks_ms()
        if events:
            self._receive(now)
        self._timers(now)
        self.flush()
        if self.feed is not None:
            self.feed()
        return len(events)

    def run(self, until=None):
        self._stop = False
        while not self._stop:
            if until is not None and until():
                break
            self.run_once()

    def stop(self):
        self._stop = True

    def watch_address(self, ifconfig=None, flag=None):
        """Hook that calls rebind() when ifconfig()[0] changes (a Wi-Fi reconnect with another
        DHCP lease; 0.0.0.0, no network, is not an address) or, host/test facility, when a file
        named `flag` exists (it is removed first): how a test simulates NAT rebinding from
        outside the process. Checks every 10 s, every 1 s when there is a flag file."""
        period = _WATCH_HOST_MS if flag else _WATCH_MS
        st = [None, None]  # last address, next check

        def hook(now):
            if st[1] is not None and time.ticks_diff(st[1], now) > 0:
                return time.ticks_diff(st[1], now)
            st[1] = time.ticks_add(now, period)
            why = None
            if ifconfig is not None:
                try:
                    ip = ifconfig()[0]
                except Exception:  # a driver hiccup is not an address change
                    ip = None
                if ip and ip != "0.0.0.0":
                    if st[0] is not None and ip != st[0]:
                        why = "address %s -> %s" % (st[0], ip)
                    st[0] = ip
            if flag:
                import os

                try:
                    os.remove(flag)
                    why = "rebind requested (%s)" % flag
                except OSError:
                    pass
            if why is not None:
                if self.log:
                    self.log("runner: %s: new local socket" % why)
                self.rebind(0, now)
            return period

        self.add_hook(hook)
        return hook

    def close(self):
        for t in list(self._transports):
            self.remove_transport(t)
            try:
                t.close()
            except OSError:
                pass
