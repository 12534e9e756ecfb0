"""Bootstrap interface: client- and server-initiated bootstrap as a sans-I/O state machine."""
import time
from micropython import const
from coap import msg as m
from coap.retry import backoff_ms, urandom_int as _rand

_CF_LINK = const(40)
_MAXSPAN = const(1 << 28)  # longest single ticks wait (ticks_diff is exact up to 2**29)


def _path_ints(segs):
    out = []
    for s in segs:
        if not s:
            continue
        try:
            v = int(s)
        except ValueError:
            return None
        if v < 0 or v > 65535:
            return None
        out.append(v)
    return tuple(out)


class Bootstrap:
    """Bootstrap with one bootstrap server.

    States: idle holdoff requesting bootstrapping backoff done.

    The data operations are callables raising lwm2m.errors exceptions:
    write(path_tuple, content_format|None, payload), delete(path_tuple), discover(path_tuple) ->
    link-format bytes, usable() -> bool (a server account exists that Registration can use).
    """

    timeout_ms = 60000  # give up a bootstrap this long after the last bootstrap request
    backoff_base_ms = 2000
    backoff_cap_ms = 300000

    def __init__(self, ep, name, peer, write, delete, discover, usable, hold_off=None,
                 account_timeout=None, purge=None, rand=None, on_finished=None):
        self.ep = ep
        self.name = name
        self.peer = peer  # the bootstrap server; None when there is no bootstrap account
        self._write = write
        self._delete = delete
        self._discover = discover
        self._usable = usable
        self._hold_off = hold_off  # () -> Client Hold Off Time /0/x/11 in s, or None
        self._account_timeout = account_timeout  # () -> /0/x/12 in s, or None
        self._purge = purge  # () removes the bootstrap account
        self._rand = rand or _rand
        self.on_finished = on_finished  # (now) after a successful Bootstrap-Finish
        self.state = "idle"
        self.done = False
        self.failures = 0
        self._at = None
        self._acct_at = None  # bootstrap account expiry
        self._acct_rest = 0
        self._h = None
        self._gen = 0

    @property
    def active(self):
        """A bootstrap is under way: registrations should hold still."""
        return self.state in ("holdoff", "requesting", "bootstrapping", "backoff")

    def start(self, now):
        """Client-initiated bootstrap: wait Client Hold Off Time, then POST /bs?ep=."""
        if self.active or self.peer is None:
            return
        self.done = False
        hold = (self._hold_off() if self._hold_off else None) or 0
        self.state = "holdoff"
        self._at = time.ticks_add(now, min(hold * 1000, _MAXSPAN))

    def _request(self, now):
        req = m.Message(m.CON, m.POST)
        req.add(m.URI_PATH, "bs")
        req.add(m.URI_QUERY, "ep=" + self.name)
        self.state = "requesting"
        self._at = time.ticks_add(now, self.timeout_ms)
        gen = self._gen + 1
        self._gen = gen

        def cb(resp, t):
            if gen != self._gen:
                return
            self._h = None
            if resp is not None and resp.code == m.CHANGED:
                if self.state == "requesting":
                    self.state = "bootstrapping"
                    self._at = time.ticks_add(t, self.timeout_ms)
            elif self.state == "requesting":  # once the server writes, it clearly heard us
                self._fail(t)

        try:
            self._h = self.ep.request(req, self.peer, now, cb)
        except Exception:  # endpoint full: back off and try again
            self._fail(now)

    def _fail(self, now):
        self._gen += 1
        if self._h is not None:
            self._h.cancel()
            self._h = None
        self.failures += 1
        self.state = "backoff"
        d = backoff_ms(self.failures, self.backoff_base_ms, self.backoff_cap_ms, self._rand)
        self._at = time.ticks_add(now, d)

    def handle(self, req, peer, now):
        """A request from the network; returns the response, or None when it is not for us."""
        if self.peer is None or peer != self.peer:
            return None
        code = req.code
        st = self.state
        if st not in ("requesting", "bootstrapping"):
            # server-initiated bootstrap: the Bootstrap-Server may send Bootstrap Information at
            # any time, registered or not (seed 002 5.2.1); self.peer is its own address
            if code not in (m.PUT, m.DELETE, m.POST):
                return None
            if st in ("holdoff", "backoff"):
                self._gen += 1
            self.done = False
            self.state = "bootstrapping"
        self._at = time.ticks_add(now, self.timeout_ms)
        try:
            segs = req.path()
        except UnicodeError:  # a Uri-Path that is not UTF-8
            return m.response(m.BAD_REQUEST)
        if code == m.POST and segs == ["bs"]:
            return self._finish(now)
        path = _path_ints(segs)
        if path is None:
            return m.response(m.BAD_REQUEST)
        try:
            if code == m.PUT:
                if not path:
                    return m.response(m.BAD_REQUEST)
                self._write(path, req.uint(m.CONTENT_FORMAT), req.payload)
                return m.response(m.CHANGED)
            if code == m.DELETE:
                if len(path) > 2:
                    return m.response(m.BAD_REQUEST)
                self._delete(path)
                return m.response(m.DELETED)
            if code == m.GET and req.uint(m.ACCEPT) == _CF_LINK and len(path) <= 1:
                return m.response(m.CONTENT, self._discover(path), _CF_LINK)
        except Exception as e:  # a data-model error answers with its code; nothing escapes
            return m.response(getattr(e, "code", m.INTERNAL_SERVER_ERROR) or m.INTERNAL_SERVER_ERROR)
        return m.response(m.METHOD_NOT_ALLOWED)

    def _finish(self, now):
        if not self._usable():
            # 4.06: the configuration cannot be used; go again after a back-off
            self._fail(now)
            return m.response(m.NOT_ACCEPTABLE)
        self._gen += 1
        if self._h is not None:
            self._h.cancel()
            self._h = None
        self.state = "done"
        self.done = True
        self.failures = 0
        self._at = None
        self.arm_account_timeout(now)
        if self.on_finished:
            self.on_finished(now)
        return m.response(m.CHANGED)

    def arm_account_timeout(self, now):
        """Start the Bootstrap-Server Account Timeout (/0/x/12); 0 or absent never expires."""
        s = self._account_timeout() if self._account_timeout else None
        if not s or s < 0:
            self._acct_at = None
            return
        ms = s * 1000
        span = min(ms, _MAXSPAN)
        self._acct_at = time.ticks_add(now, span)
        self._acct_rest = ms - span

    def tick(self, now):
        """Run due timers; returns ms until the next deadline or None."""
        at = self._at
        if at is not None and time.ticks_diff(now, at) >= 0:
            self._at = None
            st = self.state
            if st in ("holdoff", "backoff"):
                self._request(now)
            elif st in ("requesting", "bootstrapping"):
                self._fail(now)  # no Finish in time
        acct = self._acct_at
        if acct is not None and time.ticks_diff(now, acct) >= 0:
            if self._acct_rest > 0:
                span = min(self._acct_rest, _MAXSPAN)
                self._acct_at = time.ticks_add(now, span)
                self._acct_rest -= span
            else:
                self._acct_at = None
                if not self.active:
                    self.peer = None
                    if self._purge:
                        self._purge()
                else:  # never pull the account from under a running bootstrap
                    self._acct_at = time.ticks_add(now, self.timeout_ms)
        best = None
        for t in (self._at, self._acct_at):
            if t is not None:
                d = max(0, time.ticks_diff(t, now))
                if best is None or d < best:
                    best = d
        return best


def for_client(c, acct, peer):
    """The Bootstrap machine of lwm2m.client.Client c for its bootstrap account acct, at peer:
    the data operations of lwm2m.bsops on c's registry; a finished bootstrap saves the accounts
    and has c match its registrations to them again."""
    from lwm2m.bsops import BsOps

    reg = c.registry
    ops = BsOps(reg, c.acl)
    iid = acct.sec

    def purge():
        b = c.bs_acct
        if b is not None and b.sec in reg.obj(0).insts:
            c.log.info("bootstrap account timeout: bootstrap account removed")
            reg.delete(0, b.sec)
        c.bs_acct = None

    def finished(now):
        from lwm2m.reconcile import scan  # unloaded by the reconcile _sync asks for

        c.log.info("bootstrap finished: %d server account(s)" % len(scan(reg)[0]))
        c._save()
        # server-initiated while registered: keep what still matches (an Update tells of a
        # changed lifetime or binding); after a client-initiated one every server starts afresh
        c._sync = "fresh"
        for r in c.regs.values():
            if r.registered:
                c._sync = True

    def sec_value(rid):  # of the bootstrap account's /0 instance, read when it is needed
        inst = reg.obj(0).inst(iid)
        return None if inst is None else inst.vals.get(rid)

    return Bootstrap(c.ep, c.name, peer, ops.write, ops.delete, ops.discover, ops.usable,
                     hold_off=lambda: sec_value(11), account_timeout=lambda: sec_value(12),
                     purge=purge, rand=c.rand, on_finished=finished)
