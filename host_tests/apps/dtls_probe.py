"""MicroPython program for test_peer_dtls: DTLS-PSK handshake with DtlsTransport in a select.poll loop,
then a CoAP GET, printing one line per event.

usage: micropython dtls_probe.py PORT IDENTITY HEXKEY [TIMEOUT_MS] [lost]
Prints "READY <cipher>", "CODE 2.05", "PAYLOAD <text>", or "FAILED <error>" (exit 2).
With "lost" (liveness check shortened to a 0.5 s ping and 3 s lost): after the first GET prints
"WAITING" and reads a line from stdin (the test restarts the server meanwhile), GETs again, expects
"FAILED session lost...", then re-handshakes and GETs again ("RECOVERED 2.05"). The whole program
gives up after 60 s (exit 3) so it can never hang.
"""
import select
import socket
import sys
import time

_HERE = sys.argv[0].rpartition("/")[0] or "."
sys.path.insert(0, _HERE + "/../../lib")

from coap import dtls, msg  # noqa: E402

_T0 = time.ticks_ms()
_LIMIT_MS = 60000


def _code_str(code):
    return "%d.%02d" % (code >> 5, code & 31)  # 0x45 -> "2.05"


def out(*a):
    print(*a)


class Loop:
    def __init__(self, t):
        self.t = t
        self.poll = select.poll()
        t.on_sock = self.on_sock
        t.on_state = self.on_state
        self.buf = bytearray(1500)

    def on_sock(self, old, new):
        if old is not None:
            try:
                self.poll.unregister(old)
            except (OSError, KeyError, ValueError):
                pass
        if new is not None:
            self.poll.register(new, select.POLLIN)

    def on_state(self, t, now):
        if t.state == dtls.READY:
            out("READY", t.cipher)
        elif t.state == dtls.FAILED:
            out("FAILED", t.error)

    def run_until(self, done):
        """Runs the poll loop until done() is true or the transport fails; False on failure."""
        t = self.t
        while not done():
            now = time.ticks_ms()
            if time.ticks_diff(now, _T0) > _LIMIT_MS:
                out("PROBE-TIMEOUT state", dtls.state_name(t.state))
                sys.exit(3)
            if t.state == dtls.FAILED:
                return False
            wait = t.service(now)
            if t.state == dtls.FAILED:
                return False
            for _ in self.poll.poll(200 if wait is None else min(wait, 200)):
                pass
            n = t.recv_into(self.buf)
            while n:
                self.on_datagram(memoryview(self.buf)[:n])
                n = t.recv_into(self.buf)
        return True

    def on_datagram(self, data):
        try:
            m = msg.decode(bytes(data))
        except msg.DecodeError as e:
            out("BAD", repr(e))
            return
        if bytes(m.token) == self.token:
            self.resp = m

    def get(self, path, mid):
        self.token = bytes((0x5A, mid & 0xFF))
        self.resp = None
        req = msg.Message(msg.CON, msg.GET, mid, self.token)
        req.set_path(path)
        data = req.encode()
        sent = time.ticks_ms()
        tries = 0
        # CON retransmission in miniature: 1 s apart, so a lost-session case has traffic to notice
        while self.resp is None and self.t.state != dtls.FAILED:
            now = time.ticks_ms()
            if tries == 0 or time.ticks_diff(now, sent) >= 1000:
                if self.t.state == dtls.READY or self.t.state == dtls.HANDSHAKING:
                    try:
                        self.t.send(data)
                    except OSError as e:
                        out("SENDERR", repr(e))
                sent = now
                tries += 1
            self.run_until(lambda: self.resp is not None or time.ticks_diff(time.ticks_ms(), sent) >= 1000)
        return self.resp


def handshake_get(loop, t, mid):
    """Start t's handshake now, then GET /.well-known/core: the response; None when the
    handshake or the request failed."""
    t.start(time.ticks_ms())
    if not loop.run_until(lambda: t.state == dtls.READY):
        return None
    return loop.get("/.well-known/core", mid)


def main(argv):
    port = int(argv[1])
    identity = argv[2]
    key = bytes.fromhex(argv[3])
    timeout_ms = int(argv[4]) if len(argv) > 4 else 10000
    lost = len(argv) > 5 and argv[5] == "lost"
    addr = socket.getaddrinfo("127.0.0.1", port, 0, socket.SOCK_DGRAM)[0][-1]
    try:
        t = dtls.DtlsTransport(addr, identity, key, timeout_ms=timeout_ms)
    except ValueError as e:
        out("CONFIG", e)
        return 4
    if lost:
        t.ping_after_ms = 500
        t.lost_ms = 3000
    loop = Loop(t)
    resp = handshake_get(loop, t, 0x1001)
    if resp is None:
        return 2
    out("CODE", _code_str(resp.code))
    out("PAYLOAD", bytes(resp.payload).decode())
    if not lost:
        t.close()
        return 0
    out("WAITING")
    sys.stdin.readline()
    resp = loop.get("/.well-known/core", 0x1002)
    if resp is not None:
        out("STILL-ANSWERED", _code_str(resp.code))
        return 5
    if not t.lost:
        out("NOT-LOST", t.error)
        return 6
    out("RETRY-AFTER-MS", time.ticks_diff(t.retry_at(time.ticks_ms()), time.ticks_ms()))
    resp = handshake_get(loop, t, 0x1003)  # at once: the test doesn't wait out the back-off
    if resp is None:
        return 2
    out("RECOVERED", _code_str(resp.code))
    t.close()
    return 0


sys.exit(main(sys.argv))
