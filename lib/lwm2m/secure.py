"""coaps:// glue: a DTLS transport per secure account, its handshake retries, and the registration's fate.

Installed by lwm2m.client.run() as client.transport_factory, which lwm2m.servers calls for every coaps://
account (server or bootstrap) before it creates the Registration/Bootstrap for that peer:

- Security mode (/0/x/2) other than PSK, a bad key, or no DTLS in this port: one clear log line, the
  peer is routed to a transport that refuses to send (nothing goes out in the clear) and the
  registration is failed and parked. No crash.
- Handshake failed or session lost (transport FAILED): log why (never the key), park the registration
  (its in-flight request is cancelled, no Deregister: the session is gone), and start() the transport
  again at its retry_at() back-off; the transport never restarts itself. A handshake failure counts
  as a failed Register (Registration.failures), so a client with a bootstrap server falls back to it.
- Session up (READY) after a park, or a new session (sessions > 1): a fresh Register, since the server
  may have dropped the registration with the session. The first session needs nothing: the Register
  queued during the handshake goes out when it completes, and Updates reuse the session.
"""
import time

from micropython import const

from coap import dtls

_HOLD_S = const(86400)  # a parked registration waits for the session, not for this timer
_ALERT = "-0x7780"  # MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: the server refused the handshake


class Refused:
    """Stands in for the transport of an account this port cannot secure: sends nothing, ever."""

    sock = None
    state = dtls.FAILED
    sessions = 0
    lost = False

    def __init__(self, why):
        self.error = why

    def recv(self, buf):
        return None

    def send(self, data, peer=None):
        raise OSError(111, "coaps refused: " + self.error)

    def service(self, now):
        return None

    def close(self):
        pass


class _Link:
    __slots__ = ("ssid", "uri", "peer", "t", "park", "resume", "failed", "seen")

    def __init__(self, ssid, uri, peer, t):
        self.ssid = ssid  # 0: the bootstrap server
        self.uri = uri
        self.peer = peer
        self.t = t
        self.park = False  # FAILED: park the registration at the next tick
        self.resume = False  # READY after a park: Register at the next tick
        self.failed = False  # the park counts as a failed Register (not a lost session)
        self.seen = False  # its Registration/Bootstrap has existed (so its absence means dropped)


def _dtls(addr, identity, key, peer):
    return dtls.DtlsTransport(addr, identity, key, peer=peer)


def _why(t):
    e = t.error or "failed"
    if not e.startswith("DTLS"):
        e = "DTLS " + e
    if _ALERT in e:
        e += " (fatal alert from the server: wrong PSK identity or key?)"
    return e


class Secure:
    """The transport factory (callable as fn(account, host, port, peer)) and its runner hook."""

    def __init__(self, runner, client, log, make=None):
        self.runner = runner
        self.client = client
        self.log = log
        self.make = make or _dtls  # (addr, identity, key, peer) -> transport; tests pass a fake
        self.links = {}  # peer -> _Link
        runner.add_hook(self.tick)

    def __call__(self, acct, host, port, peer):
        now = time.ticks_ms()
        old = self.links.pop(peer, None)
        if old is not None:
            self._close(old)
        name = "bootstrap server" if acct.ssid == 0 else "server %d" % acct.ssid
        try:
            if dtls.check_mode(acct.mode) != dtls.MODE_PSK:
                raise ValueError("a coaps:// URI needs security mode 0 (PSK), the account has "
                                 "mode %d (NoSec)" % acct.mode)
            ident, key = dtls.check_psk(acct.identity, acct.key)
            t = self.make(peer, ident, key, peer)
        except (ValueError, NotImplementedError) as e:
            why = str(e)
            self.log.error("%s %s: %s; not registering" % (name, acct.uri, why))
            link = self._add(_Link(acct.ssid, acct.uri, peer, Refused(why)))
            link.park = link.failed = True
            return
        link = self._add(_Link(acct.ssid, acct.uri, peer, t))
        t.on_state = self._on_state
        self.log.info("%s %s: DTLS-PSK handshake (identity %s)" % (
            name, acct.uri, _printable(acct.identity)))
        t.start(now)

    def _add(self, link):
        self.links[link.peer] = link
        self.runner.add_transport(link.t)
        self.runner.route(link.peer, link.t)
        return link

    def _close(self, link):
        self.runner.remove_transport(link.t)
        try:
            link.t.close()
        except OSError:
            pass

    def close(self):
        for link in list(self.links.values()):
            self._close(link)
        self.links = {}

    # ---- transport events (recorded here, acted on in tick, outside the runner's I/O calls)
    def _on_state(self, t, now):
        link = None
        for x in self.links.values():
            if x.t is t:
                link = x
        if link is None:
            return
        self.runner.wake()  # tick acts on it at the runner's next pass, not at its old deadline
        if t.state == dtls.FAILED:
            wait = time.ticks_diff(t.retry_at(now), now)
            self.log.warn("%s: %s; %s, next handshake in %d s" % (
                link.uri, _why(t), "registration suspended" if t.lost else "registration failed",
                (wait + 500) // 1000))
            link.park = True
            link.failed = not t.lost
            link.resume = False
        elif t.state == dtls.READY:
            self.log.info("%s: DTLS session up (%s)" % (link.uri, t.cipher or "?"))
            if link.park:
                link.park = False  # failed before its registration existed: nothing parked
            elif t.sessions > 1 or self._parked(link):
                link.resume = True

    def _reg(self, link):
        c = self.client
        if link.ssid == 0:
            bs = c.bs
            return None if bs is None or bs.peer != link.peer else bs
        r = c.regs.get(link.ssid)
        return r if r is not None and r.peer == link.peer else None

    def _parked(self, link):
        r = self._reg(link)
        return link.ssid != 0 and r is not None and r.state == "disabled"

    def _park(self, r, now, failed):
        was = r.registered
        hold = r.on_event
        r.on_event = None  # not a Deregister: the session (and maybe the server's record) is gone
        try:
            r.stop(now)  # cancels the in-flight Register/Update without sending anything
        finally:
            r.on_event = hold
        r.disable(now, _HOLD_S)  # parked: only resume (a new session) registers again
        if failed:
            r.failures += 1
        if was and r.on_event is not None:
            r.on_event(r, "lost", now)

    def tick(self, now):
        """Runner hook: apply recorded events, restart failed transports when their back-off ends."""
        nxt = None
        for link in list(self.links.values()):
            r = self._reg(link)
            if r is None:
                if link.seen:  # its account went away (reconcile, bootstrap): so does the session
                    del self.links[link.peer]
                    self._close(link)
                continue
            link.seen = True
            if link.ssid == 0:
                link.park = link.resume = False  # Bootstrap retries by itself once a session is up
            else:
                if link.park:
                    link.park = False
                    self._park(r, now, link.failed)
                if link.resume:
                    link.resume = False
                    self.log.info("%s: new DTLS session: registering again" % link.uri)
                    r.start(now)
            t = link.t
            if isinstance(t, Refused) or t.state != dtls.FAILED:
                continue
            d = time.ticks_diff(t.retry_at(now), now)
            if d <= 0:
                self.log.info("%s: DTLS handshake again (attempt %d)" % (link.uri, t.attempts + 1))
                t.start(now)  # from here its service() says when the runner should call back
                continue
            nxt = d if nxt is None or d < nxt else nxt
        return nxt


def _printable(b):
    try:
        s = bytes(b).decode()
    except (UnicodeError, ValueError):
        return "0x" + bytes(b).hex()
    return repr(s)


def make_transport_factory(runner, client, log, make=None):
    """client.transport_factory = make_transport_factory(runner, client, log): coaps:// via DTLS."""
    return Secure(runner, client, log, make)
