"""Information reporting: observations, pmin/pmax/gt/lt/st timing, notification storing.

Storing (/1/x/6): while a server is offline (server_offline: disabled, queue-mode asleep, or an
Update went unanswered) due notifications are kept, at most max_stored per server with the
oldest dropped (the count is logged when it is back), or dropped when /1/x/6 is false; then
server_online sends them oldest first. A CON notification that was never ACKed is handed back
with undelivered(obs, now): it is stored again and the server is held offline until the Update
the client sends to check it answers. With storing on and con_every set, every con_every-th
notification of an observation is CON (RFC 7641 allows CON at any time), so an outage shows
within that many.
"""
import time
from micropython import const
from coap import msg as m

_CON_EVERY = const(86400000)  # RFC 7641 4.5: a CON notification at least once a day
_MAXSPAN = const(1 << 28)  # pmax longer than ~3 days notifies early (allowed: pmax is a maximum)


class _Rec:
    """One observation; pmin, pmax (ms) and gt, lt, st come from Reporter._load. (No __slots__:
    MicroPython ignores it, and its tuple would cost heap.)"""

    def __init__(self, ssid, obs, path, cf, now):
        self.ssid = ssid
        self.obs = obs
        self.path = path
        self.cf = cf
        self.last = now  # last notification (the observe response counts)
        self.con = now  # last CON notification
        self.val = None  # last notified numeric value
        self.dirty = False  # a reportable change waits for pmin
        self.n = 0  # notifications since the last CON one
        self.unacked = None  # (at, code, cf, payload) of the last CON notification


class Reporter:
    """Observations of all servers. changed() only marks (it may run inside a DM handler); the
    notification goes out from the next tick(now), so the runner ticks after handling events."""

    max_obs = 16  # per server
    max_stored = 16  # stored notifications per offline server, oldest dropped first
    # with storing on, every Nth notification is CON so an outage shows within N of them
    # (e.g. 10); 0: only the daily CON. Off by default: a late CON retransmission can reach the
    # server less than pmin before the next notification (the soak's timing check counts that)
    con_every = 0

    def __init__(self, ep, read, attrs, server, wake=None, log=None):
        self.ep = ep
        self._read = read  # (ssid, path, cf) -> (cf, payload, number|None); raises LwM2MError
        self._attrs = attrs  # (ssid, path) -> {pmin pmax gt lt st}, inheritance resolved
        # (ssid) -> (pmin_s|None, pmax_s|None, storing): /1/x/2, /1/x/3, /1/x/6 of that server
        self._server = server
        self._wake = wake  # (ssid, now): a notification was stored for an offline server
        self._log = log  # (text) for dropped stored notifications
        self._by_oid = {}  # oid -> [_Rec]: changed() looks up one key and is done
        self._count = {}  # ssid -> observations
        self._offline = set()
        self._stored = {}  # ssid -> [(at, rec, code, cf, payload)] oldest first
        self.dropped = {}  # ssid -> stored notifications dropped (logged when it is back)

    # --- observations ------------------------------------------------------------------------

    def observes(self, oid):
        return oid in self._by_oid

    def room(self, ssid):
        return self._count.get(ssid, 0) < self.max_obs

    def add(self, ssid, obs, path, content_format, now):
        """The DM layer accepted an observe on path (tuple of ints) and answered it; False when
        the server already has max_obs observations (the caller should then cancel it)."""
        path = tuple(path)
        self._drop(obs, None, True)
        if not path or self._count.get(ssid, 0) >= self.max_obs:
            self.ep.unobserve(obs)  # the GET is then answered without Observe: not accepted
            return False
        r = _Rec(ssid, obs, path, content_format, now)
        self._load(r)
        if len(path) == 3 and (r.gt is not None or r.lt is not None or r.st is not None):
            try:
                r.val = self._read(ssid, path, content_format)[2]
            except Exception:
                pass
        self._by_oid.setdefault(path[0], []).append(r)
        self._count[ssid] = self._count.get(ssid, 0) + 1
        obs.ctx = r
        return True

    def _load(self, r):
        a = self._attrs(r.ssid, r.path) or {}
        dmin, dmax, _ = self._server(r.ssid)
        pmin = a.get("pmin")
        pmax = a.get("pmax")
        pmin = (dmin if pmin is None else pmin) or 0
        pmax = (dmax if pmax is None else pmax) or 0
        if pmax and pmax < pmin:
            pmax = 0  # an inconsistent pmax is ignored (TS 5.1.2); pmin == pmax notifies every pmax
        r.pmin = min(pmin * 1000, _MAXSPAN)
        r.pmax = min(pmax * 1000, _MAXSPAN)
        r.gt = a.get("gt")
        r.lt = a.get("lt")
        r.st = a.get("st")

    def refresh(self, ssid=None):
        """Re-read attributes (after Write-Attributes or a Default Min/Max Period write)."""
        for lst in self._by_oid.values():
            for r in lst:
                if ssid is None or r.ssid == ssid:
                    self._load(r)

    def _drop(self, obs, ssid=None, same=False):
        """Forget the observation of obs (same: and any other with its token and peer) or every
        one of server ssid; returns their endpoint observations. (Arguments, not a predicate:
        each lambda is one more function on a board.)"""
        gone = []
        for oid in list(self._by_oid):
            keep = []
            for r in self._by_oid[oid]:
                o = r.obs
                if o is obs or r.ssid == ssid or (
                        same and o.token == obs.token and o.peer == obs.peer):
                    self._count[r.ssid] -= 1
                    o.ctx = None
                    gone.append(o)
                else:
                    keep.append(r)
            if keep:
                self._by_oid[oid] = keep
            else:
                del self._by_oid[oid]
        return gone

    def remove(self, obs):
        """Forget one observation; usable as the endpoint's on_cancel(obs)."""
        self._drop(obs)

    def cancel_server(self, ssid):
        """A new Register or a deleted account: the server's observations and stored ones go."""
        for o in self._drop(None, ssid):
            self.ep.unobserve(o)
        self._stored.pop(ssid, None)
        self._count.pop(ssid, None)

    # --- changes -----------------------------------------------------------------------------

    def changed(self, oid, iid=None, rid=None, now=None):
        """Application/driver: this value changed. One dict lookup when nobody observes oid."""
        lst = self._by_oid.get(oid)
        if not lst:
            return
        for r in lst:
            p = r.path
            n = len(p)
            if n > 1 and iid is not None and p[1] != iid:
                continue
            if n > 2 and rid is not None and p[2] != rid:
                continue
            if r.dirty:
                continue
            if n == 3 and (r.gt is not None or r.lt is not None or r.st is not None):
                if not self._conditions(r):
                    continue
            r.dirty = True

    def _conditions(self, r):
        """gt/lt: the value crossed the threshold (either way) since the last notification;
        st: it moved by at least st since then. Any one of them makes the change reportable."""
        try:
            v = self._read(r.ssid, r.path, r.cf)[2]
        except Exception:
            return True  # let the notification carry the error
        old = r.val
        if not isinstance(v, (int, float)) or not isinstance(old, (int, float)):
            return True
        # "above gt" and "below lt" are the states; moving in or out of either is a crossing
        if r.gt is not None and (old > r.gt) != (v > r.gt):
            return True
        if r.lt is not None and (old < r.lt) != (v < r.lt):
            return True
        return r.st is not None and abs(v - old) >= r.st

    # --- timers ------------------------------------------------------------------------------

    def _deadline(self, r):
        if r.dirty:
            return time.ticks_add(r.last, r.pmin)
        if r.pmax:
            return time.ticks_add(r.last, r.pmax)
        return None

    def tick(self, now):
        """Send or store due notifications; returns ms until the next deadline or None."""
        best = None
        for lst in list(self._by_oid.values()):
            for r in list(lst):
                if r.obs.ctx is not r:
                    continue  # dropped while we were notifying
                at = self._deadline(r)
                if at is None:
                    continue
                d = time.ticks_diff(at, now)
                if d <= 0:
                    self._fire(r, now)
                    if r.obs.ctx is not r:
                        continue
                    at = self._deadline(r)
                    if at is None:
                        continue
                    d = time.ticks_diff(at, now)
                if best is None or d < best:
                    best = d
        return None if best is None else max(0, best)

    def _fire(self, r, now):
        r.last = now
        r.dirty = False
        ssid = r.ssid
        offline = ssid in self._offline
        store = self._server(ssid)[2]
        if offline and not store:
            return  # /1/x/6 false: nothing is kept while the server is away
        try:
            cf, payload, v = self._read(ssid, r.path, r.cf)
            code = m.CONTENT
            r.val = v
        except Exception as e:
            code = getattr(e, "code", 0) or m.INTERNAL_SERVER_ERROR
            cf, payload = None, b""
        if code != m.CONTENT:
            self.remove(r.obs)  # an error notification ends the observation (RFC 7641 3.2)
        else:
            self._load(r)  # picks up attribute changes at least once per notification
        if offline:
            self._keep(ssid, (now, r, code, cf, bytes(payload)))
            if self._wake:
                self._wake(ssid, now)
            return
        self._send(r, code, cf, payload, now, store)

    def _keep(self, ssid, item):
        q = self._stored.setdefault(ssid, [])
        if len(q) >= self.max_stored:
            q.pop(0)
            self.dropped[ssid] = self.dropped.get(ssid, 0) + 1
        i = len(q)
        while i and time.ticks_diff(q[i - 1][0], item[0]) > 0:
            i -= 1  # a returned CON notification is older than what was stored meanwhile
        q.insert(i, item)

    def _send(self, r, code, cf, payload, now, store=False):
        r.n += 1
        every = self.con_every if store else 0
        con = time.ticks_diff(now, r.con) >= _CON_EVERY or (every > 0 and r.n >= every)
        if con:
            r.con = now
            r.n = 0
            # kept (one per observation) so undelivered() can store it again
            r.unacked = (now, code, cf, bytes(payload)) if store else None
        if self.ep.notify(r.obs, code, payload, cf, now, con) is False and code == m.CONTENT:
            self.remove(r.obs)  # the endpoint has ended it

    def undelivered(self, obs, now):
        """A CON notification of obs was never ACKed (the endpoint's obs.on_timeout): store it
        again (when /1/x/6 allows) and hold the server's notifications until it answers an
        Update (server_online) or its registration is renewed."""
        r = obs.ctx
        if r is None or r.obs is not obs:
            return
        ssid = r.ssid
        self._offline.add(ssid)
        u, r.unacked = r.unacked, None
        if u is not None and self._server(ssid)[2]:
            self._keep(ssid, (u[0], r, u[1], u[2], u[3]))

    # --- server reachability -----------------------------------------------------------------

    def server_offline(self, ssid):
        """Disabled, deregistered, queue-mode asleep or unreachable: hold notifications."""
        self._offline.add(ssid)

    def server_online(self, ssid, now):
        """Back: send the stored notifications oldest first, then notify normally."""
        self._offline.discard(ssid)
        q = self._stored.pop(ssid, None)
        n = self.dropped.pop(ssid, 0)
        if n and self._log:
            self._log("ssid %d: %d stored notifications dropped (max_stored %d)" % (
                ssid, n, self.max_stored))
        if q:
            # all NON: a CON among them would be replaced by the next one still in flight
            # (RFC 7641 4.5.2) and overtaken; the answered Update has just shown the way is open
            for at, r, code, cf, payload in q:
                if code != m.CONTENT or r.obs.ctx is r:
                    self._send(r, code, cf, payload, now)

    def is_offline(self, ssid):
        return ssid in self._offline
