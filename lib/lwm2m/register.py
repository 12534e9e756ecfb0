"""Registration interface: one sans-I/O Register/Update/Deregister state machine per server.

An Update that gets no answer at all means the network (not necessarily the server's state)
is gone, and the registration stays valid on the server until its lifetime runs out (TS 8.2.3):
so the machine goes "retrying", tells on_event "offline", and retries the Update with back-off and
jitter while the lifetime since the last successful Register/Update has not expired; a retried
Update that succeeds tells "online" and nothing else changes (observations survive). Once the
lifetime has expired, or on 4.04 or any other error code, it Registers again ("lost").
"""
import time
from micropython import const
from coap import msg as m
from coap.retry import backoff_ms, urandom_int as _rand

_CF_LINK = const(40)
_DEFAULT_LIFETIME = const(86400)  # what the server assumes when we send no lt (seed 004)
_MARGIN_MAX = const(60000)  # Update at most this long before expiry ...
_MARGIN_MIN = const(1000)  # ... and never less than this
_MAXSPAN = const(1 << 28)  # longest single ticks wait (ticks_diff is exact up to 2**29)


def binding_param(binding, queue):
    """1.0 `b=` value: the binding letters with Q after U when queue mode is on."""
    b = (binding or "U").replace("Q", "")
    if queue:
        b = b[0] + "Q" + b[1:]
    return b


class Registration:
    """Registration with one server. Drive with tick(now); read `state`, `registered`, `awake`."""

    backoff_base_ms = 2000
    backoff_cap_ms = 300000
    queue_window_ms = 93000  # stay reachable this long after the last exchange in queue mode

    def __init__(self, ep, peer, name, params, links, rand=None, on_event=None, ssid=None):
        self.ep = ep
        self.peer = peer
        self.name = name
        self.ssid = ssid
        self._params = params  # () -> (lifetime_s|None, binding, queue_mode)
        self._links = links  # () -> link-format bytes of objects and instances
        self._rand = rand or _rand
        # on_event(reg, what, now, code=0), one callback for everything (one bound method per
        # registration, not eight); what is
        #   "registered"    a new registration: drop the old observations
        #   "deregistered"  Deregister answered, or the registration forgotten (stop)
        #   "lost"          no longer valid (Update refused or lifetime over): Registering again
        #   "sleep"         queue mode window closed: stop listening
        #   "wake"          queue mode Update answered: send held notifications
        #   "offline"       Update unanswered: retrying while the registration is still valid
        #   "online"        an Update answered outside queue mode
        #   "Register refused" / "Update refused"  the server answered with error code `code`
        self.on_event = on_event
        self.state = "idle"
        self.location = None  # "/rd/5a3f": where the server keeps the registration, or None
        self.failures = 0  # consecutive failed Registers (client falls back to bootstrap on this)
        self.update_failures = 0  # consecutive unanswered Updates (state "retrying")
        self._expires = None  # when the server drops the registration (ticks), or None
        self.awake = False
        # (lifetime, b, links) as the server knows them from the last Register/Update, or None
        self.server_view = None
        self._next = None  # (lt, b, links) of the Register/Update in flight
        self._at = None  # next action deadline
        self._rest = 0  # ms still to wait after _at (waits longer than _MAXSPAN)
        self._idle_at = None  # queue mode: when the reachability window closes
        self._h = None
        self._gen = 0
        self._again = False
        self._dereg_cb = None
        self._disable_ms = None
        self.resumes = False  # the next registration follows a Disable: observations stay

    @property
    def registered(self):
        return self.state in ("registered", "updating", "retrying")

    def _arm(self, now, ms):
        span = min(ms, _MAXSPAN)
        self._at = time.ticks_add(now, span)
        self._rest = ms - span

    def _send(self, req, now, done):
        gen = self._gen + 1
        self._gen = gen

        def cb(resp, t):
            if gen == self._gen:
                self._h = None
                done(resp, t)

        self._at = None
        self.awake = True  # listen for the answer
        self._idle_at = None
        try:
            self._h = self.ep.request(req, self.peer, now, cb)
        except Exception:  # endpoint full: count it as a failed exchange, retried by back-off
            self._gen += 1
            done(None, now)

    # --- public operations -------------------------------------------------------------------

    def start(self, now):
        """Register now (also restarts a stopped or deregistered machine)."""
        if self.state in ("registering", "deregistering"):
            return
        lt, binding, queue = self._params()
        b = binding_param(binding, queue)
        links = bytes(self._links())
        req = m.Message(m.CON, m.POST)
        req.add(m.URI_PATH, "rd")
        req.add(m.URI_QUERY, "ep=" + self.name)
        if lt is not None:
            req.add(m.URI_QUERY, "lt=%d" % lt)
        req.add(m.URI_QUERY, "lwm2m=1.0")
        req.add(m.URI_QUERY, "b=" + b)
        req.add(m.CONTENT_FORMAT, _CF_LINK)
        req.payload = links
        self.state = "registering"
        self._again = False
        self._next = (lt, b, links)
        self._send(req, now, self._on_register)

    def _on_register(self, resp, now):
        loc = []
        if resp is not None and resp.code == m.CREATED:
            # Location-Path as segments: several options, or one option holding "rd/5a"
            for v in resp.all(m.LOCATION_PATH):
                for seg in bytes(v).decode().split("/"):
                    if seg:
                        loc.append(seg)
        if not loc:
            if resp is not None and self.on_event:
                self.on_event(self, "Register refused", now, resp.code)
            self.failures += 1
            self.state = "backoff"
            self.location = None
            self._arm(now, self.backoff_ms(self.failures))
            self.awake = False
            return
        self.failures = 0
        self.location = "/" + "/".join(loc)
        self.server_view = self._next
        self.state = "registered"
        self._registered_at(now, "registered")

    def _registered_at(self, now, what):
        self.update_failures = 0
        lt = self.server_view[0]
        lt = (lt if lt is not None else _DEFAULT_LIFETIME) * 1000
        self._expires = time.ticks_add(now, min(lt, _MAXSPAN))
        # the next Update: lifetime minus 10% of it, the margin clamped to [1 s, 60 s] (room for
        # a few CON retransmissions), never sooner than 1 s
        margin = min(max(lt // 10, _MARGIN_MIN), _MARGIN_MAX)
        self._arm(now, min(max(lt - margin, _MARGIN_MIN), _MAXSPAN))
        self._idle_at = time.ticks_add(now, self.queue_window_ms)
        if self._again:
            self._again = False
            self._at = now
            self._rest = 0
        if self.on_event:
            self.on_event(self, what, now)

    def backoff_ms(self, n):
        """Delay before Register attempt n+1 after n failures: base * 2**(n-1) capped, +-25%."""
        return backoff_ms(n, self.backoff_base_ms, self.backoff_cap_ms, self._rand)

    def trigger_update(self, now):
        """Registration Update Trigger (/1/x/8), Lifetime write, object list change: Update now."""
        if self.state == "registered":
            self._update(now)
        elif self.state in ("updating", "registering"):
            self._again = True

    def wake(self, now):
        """Queue mode: something needs the server while asleep; an Update re-opens the window."""
        if self.state == "registered" and not self.awake:
            self._update(now)

    def activity(self, now):
        """Any exchange with this server (request from it, notification to it): keep awake."""
        if self.registered and self.awake:
            self._idle_at = time.ticks_add(now, self.queue_window_ms)

    def stale(self):
        """Lifetime or binding differ from what the server knows: an Update is due now."""
        s = self.server_view
        if s is None:
            return False
        lt, binding, queue = self._params()
        return lt != s[0] or binding_param(binding, queue) != s[1]

    def _update(self, now):
        """Update with only what changed since the last Register/Update."""
        lt, binding, queue = self._params()
        b = binding_param(binding, queue)
        links = bytes(self._links())
        old_lt, old_b, old_links = self.server_view
        req = m.Message(m.CON, m.POST).set_path(self.location)
        if lt != old_lt:
            # an absent Lifetime means 86400 to the server, so say that when it disappears
            req.add(m.URI_QUERY, "lt=%d" % (lt if lt is not None else _DEFAULT_LIFETIME))
        if b != old_b:
            req.add(m.URI_QUERY, "b=" + b)
        if links != old_links:
            req.add(m.CONTENT_FORMAT, _CF_LINK)
            req.payload = links
        self.state = "updating"
        self._next = (lt, b, links)
        self._send(req, now, self._on_update)

    def _on_update(self, resp, now):
        if resp is not None and resp.code == m.CHANGED:
            self.server_view = self._next
            self.state = "registered"
            self._registered_at(now, "wake" if self._params()[2] else "online")
            return
        exp = self._expires
        if resp is None and exp is not None and time.ticks_diff(now, exp) < 0:
            # no answer: the server still holds the registration (and its observations) until
            # the lifetime ends, so keep it and try the Update again after a back-off
            self.update_failures += 1
            self.state = "retrying"
            self.awake = False
            self._again = False
            wait = min(self.backoff_ms(self.update_failures),
                       time.ticks_diff(exp, now))
            self._arm(now, wait)
            if self.update_failures == 1 and self.on_event:
                self.on_event(self, "offline", now)
            return
        # 4.04 (or another error): the server forgot us or refuses the Update; lifetime over:
        # the registration has lapsed. A fresh Register replaces whatever the server holds.
        if resp is not None and self.on_event:
            self.on_event(self, "Update refused", now, resp.code)
        self.state = "lost"
        self.update_failures = 0
        self.location = None
        if self.on_event:
            self.on_event(self, "lost", now)
        self.start(now)

    def deregister(self, now, cb=None, send=True):
        """DELETE the registration; cb(now) once done (at once when there is none). send=False:
        forget it without a message (the in-flight exchange, if any, is cancelled either way)."""
        self._gen += 1
        if self._h is not None:
            self._h.cancel()
            self._h = None
        self._at = None
        self._dereg_cb = cb
        if not self.location or not send:
            self._stopped(None, now)
            return
        req = m.Message(m.CON, m.DELETE).set_path(self.location)
        self.state = "deregistering"
        self._send(req, now, self._stopped)

    def _stopped(self, resp, now):
        was = self.location
        self.location = None
        self._expires = None
        self.update_failures = 0
        self.server_view = None
        self.awake = False
        self._idle_at = None
        ms = self._disable_ms
        self._disable_ms = None
        self.resumes = ms is not None
        if ms is None:
            self.state = "deregistered"
        else:
            self.state = "disabled"
            self._arm(now, ms)
        if was and self.on_event:
            self.on_event(self, "deregistered", now)
        cb, self._dereg_cb = self._dereg_cb, None
        if cb:
            cb(now)

    def disable(self, now, timeout_s=None):
        """Server Disable (/1/x/4): deregister, keep silent timeout_s (default 86400), Register."""
        self._disable_ms = (86400 if timeout_s is None else timeout_s) * 1000
        self.deregister(now)

    def stop(self, now):
        """Forget the server without a message (account deleted); start() revives it."""
        self._disable_ms = None
        self.deregister(now, None, False)
        self.state = "idle"

    def tick(self, now):
        """Run due timers; returns ms until the next deadline or None."""
        at = self._at
        if at is not None and time.ticks_diff(now, at) >= 0:
            if self._rest > 0:
                self._arm(now, self._rest)
            else:
                self._at = None
                st = self.state
                if st == "registered":
                    self._update(now)
                elif st == "retrying":
                    exp = self._expires
                    if exp is None or time.ticks_diff(now, exp) >= 0:
                        self._on_update(None, now)  # lifetime over: Register again
                    else:
                        self._update(now)
                elif st in ("backoff", "disabled"):
                    self.start(now)
        idle = self._idle_at
        if (idle is not None and self.awake and self.state == "registered"
                and time.ticks_diff(now, idle) >= 0):
            self._idle_at = None
            if self._params()[2]:
                self.awake = False
                if self.on_event:
                    self.on_event(self, "sleep", now)
        best = None
        for t in (self._at, self._idle_at if self.awake and self._params()[2] else None):
            if t is not None:
                d = max(0, time.ticks_diff(t, now))
                if best is None or d < best:
                    best = d
        return best
