"""DTLS-PSK client transport for the CoAP runner: one connected UDP socket per server, non-blocking handshake.

Behaviour of MicroPython 1.29's `tls` module (unix port, Mbed TLS 3.6), found by experiment against
libcoap 4.3.1's coap-server-openssl and coap-server-gnutls; the rest of this module relies on it:

- `write(b"")` returns 0 without starting the handshake and `recv()` drives the handshake but returns
  None both while it runs and after it has finished, so neither can tell when it is done. `cipher()`
  before the handshake has finished crashes the interpreter (segfault). So the handshake is driven by
  writing a CoAP ping (empty CON, RFC 7252 4.3): `write(ping)` returns None until the handshake is
  over and then sends the ping inside the new session and returns 4. The peer answers the ping with a
  RST, which `recv` swallows here.
- A wrong PSK key (or an identity the server maps to another key) gets no alert from libcoap: the
  handshake just never finishes (Mbed TLS retransmits its flight at 1, 2, 4 ... s, and only when the
  socket is called after the timer expired, hence `service()` asks to be called every STEP_MS). The
  handshake timeout is the only signal. libcoap's server with a single `-k KEY` accepts ANY identity
  with that key; identities only matter with its `-i` identity file.
- No server listening: the ICMP port-unreachable turns into OSError ECONNREFUSED from write()/recv()
  at once (handshake or session), so that fails fast instead of waiting for a timeout.
- `SSLSocket.close()` closes the UDP socket it wraps, and an abandoned SSLSocket closes it when it is
  garbage collected, so each attempt needs a new UDP socket (and a new SSLContext: psk_identity and
  psk_key can be set once per context). `sock` therefore changes on every `start()`: set `on_sock`.
  After an error the SSLSocket polls as POLLNVAL forever, so a failed socket is closed and
  unregistered at once, or a poll loop would spin.
- Server stopped gracefully (SIGTERM; libcoap openssl and gnutls builds alike): it sends a DTLS
  close_notify, and `recv()` returns b"" -> FAILED "session lost (the peer closed the DTLS session)".
  If it is down after that, writes raise ECONNREFUSED. A server that crashed or was killed and came
  back (SIGKILL + restart) has forgotten the session without a word: the new instance silently drops
  our records of the old session, so only the liveness check below can tell.
- Idle sessions: nothing expires on our side (no keep-alive needed). libcoap's server closes a
  session after 300 s idle (measured: close_notify at exactly 300 s, both builds); the close_notify
  wakes the poll loop and recv() == b"" makes it "session lost" right then, so a client with a long
  lifetime can re-handshake lazily (just before its next Update) instead of keeping the session
  alive. For the silent cases (peer crashed and restarted, NAT binding gone: records dropped, no
  answer) there is a liveness check: when something was sent and nothing came back for
  ping_after_ms, a CoAP ping goes out (every ping_after_ms); nothing at all received for lost_ms
  after the first unanswered send -> FAILED "session lost (no answer from the peer for N s)".

The client re-handshakes (start()) after FAILED at retry_at(), and must Register again after a
"session lost": the server may have dropped the registration with the session.
"""
import socket
import time

from micropython import const

from coap.retry import urandom_int

IDLE = const(0)  # not started or closed
HANDSHAKING = const(1)
READY = const(2)
FAILED = const(3)

# LwM2M Security object /0/x/2 values (public: the ones lwm2m.secure uses)
MODE_PSK = const(0)
_MODE_RPK = const(1)
_MODE_CERT = const(2)
_MODE_NOSEC = const(3)
supported_modes = (MODE_PSK, _MODE_NOSEC)

_MAX_KEY_LEN = const(32)  # Mbed TLS's MBEDTLS_PSK_MAX_LEN in MicroPython builds
_STEP_MS = const(250)  # service() period in a handshake, so Mbed TLS's retransmit timer can fire
_PING_AFTER_MS = const(5000)
_LOST_MS = const(30000)
_RETRY_MIN_MS = const(5000)
_RETRY_MAX_MS = const(300000)
_MAX_PENDING = const(4)
_ECONNREFUSED = const(111)

_STATE_NAMES = ("IDLE", "HANDSHAKING", "READY", "FAILED")


def state_name(state):
    return _STATE_NAMES[state]


def check_mode(mode):
    """Returns mode if this port can do it (0 PSK, 3 NoSec); else raises ValueError saying why not."""
    if mode in supported_modes:
        return mode
    if mode == _MODE_RPK:
        raise ValueError("security mode 1 (raw public key) is not supported: MicroPython's tls module "
                         "has no RPK; use mode 0 (PSK) or 3 (NoSec)")
    if mode == _MODE_CERT:
        raise ValueError("security mode 2 (certificate) is not supported over DTLS by this client; "
                         "use mode 0 (PSK) or 3 (NoSec)")
    raise ValueError("unknown security mode %r (LwM2M defines 0 PSK, 1 RPK, 2 certificate, 3 NoSec)"
                     % (mode,))


def check_psk(identity, key):
    """identity str|bytes (non-empty), key bytes 1..32 -> (identity_bytes, key_bytes) or ValueError."""
    if isinstance(identity, str):
        identity = identity.encode()
    if not isinstance(identity, (bytes, bytearray)) or not identity:
        raise ValueError("PSK identity must be non-empty bytes or str")
    if isinstance(key, str):
        raise ValueError("PSK key must be bytes (decode hex first), not str")
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise ValueError("PSK key must be non-empty bytes")
    if len(key) > _MAX_KEY_LEN:
        raise ValueError("PSK key is %d bytes; MicroPython's tls accepts at most %d"
                         % (len(key), _MAX_KEY_LEN))
    return bytes(identity), bytes(key)


def _family_of(addr):
    if isinstance(addr, (bytes, bytearray)):
        # unix port: raw struct sockaddr, sa_family in host (little-endian) order
        fam = addr[0] | (addr[1] << 8)
        return fam if fam else socket.AF_INET
    if isinstance(addr, tuple) and len(addr) == 4:
        return socket.AF_INET6
    return socket.AF_INET


def _err_text(e):
    code = e.args[0] if e.args else None
    if isinstance(code, int):
        if code < 0:
            return "Mbed TLS error -0x%04X" % -code
        import errno  # the port's own numbers: ESP32 (newlib) differs from Linux (113, 116...)

        name = getattr(errno, "errorcode", {}).get(code)
        if name is not None:
            return name + (" (nothing listening there?)" if name == "ECONNREFUSED" else "")
    return repr(e)


class DtlsTransport:
    """A DTLS-PSK session to one server. Runner transport interface: .sock (pollable, None when not
    started or failed), recv(buf) -> (data, peer) | None, send(data, peer=None), service(now) -> ms |
    None, close(). on_sock(old, new) is called whenever .sock changes (re-register with the poller);
    on_state(transport, now) on every state change."""

    ping_after_ms = _PING_AFTER_MS
    lost_ms = _LOST_MS

    def __init__(self, addr, identity, key, timeout_ms=10000, peer=None, family=None, rand=None,
                 log=None):
        self.identity, self.key = check_psk(identity, key)
        if timeout_ms <= 0:
            raise ValueError("timeout_ms must be > 0")
        from coap import tlsinfo

        if tlsinfo.level() != tlsinfo.PSK:
            # v1.25-v1.28 would get as far as start(): psk_identity -> AttributeError
            raise NotImplementedError(tlsinfo.why())
        import tls

        self._tls = tls
        self.addr = addr
        self.peer = addr if peer is None else peer
        self.family = _family_of(addr) if family is None else family
        self.timeout_ms = timeout_ms
        self.rand = rand or urandom_int
        self.log = log
        self.on_sock = None
        self.on_state = None
        self.state = IDLE
        self.error = None
        self.cipher = None
        self.sock = None
        self.attempts = 0  # handshakes started
        self.sessions = 0  # handshakes completed: > 1 on READY means a new session -> Register again
        self.failures = 0  # consecutive failures, for the back-off
        self.lost = False  # FAILED because an established session was lost (not a handshake failure)
        self._raw = None
        self._deadline = 0
        self._retry = None
        self._ping = None
        self._ping_mid = -1
        self._ping_at = 0
        self._unanswered = None  # ticks of the first send since the last datagram we received
        self._pending = []

    # --- lifecycle

    def start(self, now):
        """Begins a fresh handshake (new socket and context); returns the state."""
        self._drop_socket()
        self.state = IDLE  # so a setup failure below is a state change that on_state hears about
        self.error = None
        self.cipher = None
        self.lost = False
        self._retry = None
        self.attempts += 1
        tls = self._tls
        try:
            raw = socket.socket(self.family, socket.SOCK_DGRAM)
            self._raw = raw
            raw.connect(self.addr)
            raw.setblocking(False)
            ctx = tls.SSLContext(tls.PROTOCOL_DTLS_CLIENT)
            ctx.verify_mode = tls.CERT_NONE
            ctx.psk_identity = self.identity
            ctx.psk_key = self.key
            ss = ctx.wrap_socket(raw, do_handshake_on_connect=False)
        except (OSError, ValueError) as e:
            self._fail(now, "DTLS setup failed: %s" % _err_text(e))
            return self.state
        self._set_sock(ss)
        self._deadline = time.ticks_add(now, self.timeout_ms)
        self._new_ping()
        self._set_state(HANDSHAKING, now)
        self.step(now)
        return self.state

    def close(self):
        self._pending = []
        self._drop_socket()
        self.state = IDLE

    def _drop_socket(self):
        old = self.sock
        self.sock = None
        if old is not None and self.on_sock is not None:
            self.on_sock(old, None)  # before close: a closed SSLSocket would poll as POLLNVAL
        try:
            if old is not None:
                old.close()
            elif self._raw is not None:
                self._raw.close()
        except OSError:
            pass
        self._raw = None

    def _set_sock(self, ss):
        self.sock = ss
        if self.on_sock is not None:
            self.on_sock(None, ss)

    def _set_state(self, state, now):
        if state != self.state:
            self.state = state
            if self.log:
                self.log("dtls %r: %s%s" % (self.peer, _STATE_NAMES[state],
                                            (" " + self.error) if self.error else ""))
            if self.on_state is not None:
                self.on_state(self, now)

    def _fail(self, now, error, lost=False):
        self.error = error
        self.lost = lost
        self.failures += 1
        self._pending = []
        self._drop_socket()
        self._set_state(FAILED, now)

    def retry_at(self, now):
        """Ticks at which to start() again after a failure: exponential back-off with +-25% jitter,
        fixed once per failure. Returns now when not failed."""
        if self.state != FAILED:
            return now
        if self._retry is None:
            base = _RETRY_MIN_MS << min(self.failures - 1, 10)
            if base > _RETRY_MAX_MS:
                base = _RETRY_MAX_MS
            jitter = self.rand(base // 2 + 1) - base // 4
            self._retry = time.ticks_add(now, base + jitter)
        return self._retry

    # --- handshake and liveness

    def _new_ping(self):
        mid = self.rand(0x10000)
        self._ping_mid = mid
        self._ping = bytes((0x40, 0, mid >> 8, mid & 0xFF))

    def _advance(self, now):
        try:
            r = self.sock.write(self._ping)
        except OSError as e:
            self._fail(now, "DTLS handshake failed: %s" % _err_text(e))
            return
        if r is None:
            if time.ticks_diff(now, self._deadline) >= 0:
                self._fail(now, "DTLS handshake timed out after %d ms (wrong PSK identity or key?)"
                           % self.timeout_ms)
            return
        self.failures = 0
        self.sessions += 1
        try:
            c = self.sock.cipher()
            self.cipher = c[0] if c else None
        except (OSError, TypeError, AttributeError):
            self.cipher = None
        self._ping_at = now
        self._unanswered = now  # the ping just went out
        self._set_state(READY, now)
        pending = self._pending
        self._pending = []
        for data in pending:
            self.send(data)

    def step(self, now):
        """Advances the handshake / liveness check; returns ms until it wants to run again, or None."""
        if self.state == HANDSHAKING:
            self._advance(now)
            if self.state == HANDSHAKING:
                left = time.ticks_diff(self._deadline, now)
                return max(1, min(_STEP_MS, left))
        if self.state != READY:
            return None
        since = self._unanswered
        if since is None:
            return None
        waited = time.ticks_diff(now, since)
        if waited >= self.lost_ms:
            self._fail(now, "session lost (no answer from the peer for %d s)" % (waited // 1000),
                       lost=True)
            return None
        if waited >= self.ping_after_ms and time.ticks_diff(now, self._ping_at) >= self.ping_after_ms:
            self._ping_at = now
            self._new_ping()
            try:
                self._write(self._ping, now)
            except OSError:
                return None  # _write already failed the session
        # the next ping needs both: ping_after_ms unanswered, and ping_after_ms since the last one
        nxt = max(self.ping_after_ms - waited,
                  self.ping_after_ms - time.ticks_diff(now, self._ping_at))
        return max(1, min(nxt, self.lost_ms - waited))

    service = step  # the Runner transport interface's name for it

    # --- data

    def _write(self, data, now):
        try:
            r = self.sock.write(data)
        except OSError as e:
            self._fail(now, "session lost: %s" % _err_text(e), lost=True)
            raise
        if self._unanswered is None:
            self._unanswered = now
        return r

    def send(self, data, peer=None):
        """Sends one datagram in the session; queued (a few) during the handshake; OSError when the
        session is not usable, so the CoAP layer's retransmission or give-up takes over."""
        if self.state == READY:
            if self._write(data, time.ticks_ms()) is None:
                raise OSError(11, "DTLS write would block; datagram dropped")
            return
        if self.state == HANDSHAKING:
            if len(self._pending) >= _MAX_PENDING:
                self._pending.pop(0)
            self._pending.append(bytes(data))
            return
        raise OSError(_ECONNREFUSED, "DTLS session %s: %s" % (_STATE_NAMES[self.state], self.error))

    def _read(self):
        """Next application datagram as bytes, or None when there is none (for now)."""
        now = time.ticks_ms()
        if self.state == HANDSHAKING:
            self._advance(now)
        while self.state == READY:
            try:
                data = self.sock.recv(1500)
            except OSError as e:
                self._fail(now, "session lost: %s" % _err_text(e), lost=True)
                return None
            if data is None:
                return None
            if not data:
                self._fail(now, "session lost (the peer closed the DTLS session)",
                           lost=True)
                return None
            self._unanswered = None
            if (len(data) == 4 and data[0] & 0xF0 in (0x70, 0x60) and data[1] == 0
                    and (data[2] << 8 | data[3]) == self._ping_mid):
                continue  # the RST (or ACK) to our ping
            return data
        return None

    def recv_into(self, buf):
        """Non-blocking: copies one datagram into buf and returns its length, or 0 when none."""
        data = self._read()
        if data is None:
            return 0
        n = min(len(data), len(buf))
        buf[:n] = data[:n]
        return n

    def recv(self, buf):
        """Runner interface: (data, peer) or None when drained. data is a fresh bytes object."""
        data = self._read()
        if data is None:
            return None
        return data, self.peer
