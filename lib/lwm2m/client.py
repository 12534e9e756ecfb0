"""The LwM2M client: objects 0-5, store, bootstrap, one registration per server, DM, reporting.

Application objects go into `client.registry` before start(); values reach observers through
client.changed(oid, iid, rid):

    from lwm2m.client import Client
    from lwm2m.model import object_def, resource
    c = Client(cfg, platform)
    t = c.registry.add(object_def(3303, "Temperature", (resource(5700, "Value", "R", "f"),)))
    t.add(0, {5700: 21.5}); c.start(now)        # later: t.set(0, 5700, 22.0) notifies too

run(cfg, feed) is the whole program on a board: main.py calls it after the network is up.
The registrations are lwm2m.servers (functions over a Client). Code a running client does not
need loads when used and is dropped: lwm2m.provision (start), lwm2m.reconcile (registrations
matched to the accounts), lwm2m.bringup (run's wiring), lwm2m.halt (shutdown, reboot).
"""
import time

from micropython import const

from coap import msg as M
from coap.endpoint import Endpoint
from coap.runner import resolve
from lwm2m import accounts
from lwm2m.acl import Acl
from lwm2m.dm import DM, parse_path
from lwm2m.log import Log
from lwm2m.model import CREATED, DELETED, Registry
from lwm2m.objects import access, connmon, device, firmware, security, server
from lwm2m.report import Reporter
from lwm2m.store import Store

_POLL_MS = const(10000)  # battery / power source sampling period
_OOM_RETRY_MS = const(100)  # a tick that ran out of memory is tried again this much later
BS_AFTER_FAILURES = 3  # consecutive failed Registers on every server -> client-initiated bootstrap

# what the battery / power source drivers report changed -> /3/0 resources
_REPORTS = {"voltage": (7,), "level": (9,), "status": (20,), "sources": (6, 7, 8)}


def _min(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a if a < b else b


class Client:
    """An LwM2M 1.0 client over one coap.endpoint.Endpoint (self.ep); see the module docstring."""

    def __init__(self, cfg, platform=None, store=None, rand=None, log=None):
        self.cfg = cfg
        self.name = cfg["endpoint"]
        self.queue = bool(cfg.get("queue_mode"))
        self.platform = platform
        self.rand = rand
        self.log = log if log is not None else Log(cfg.get("log", "info"), None)
        self.store = store if store is not None else Store(cfg.get("data_dir", "data"))
        self.resolve = resolve  # uri -> (scheme, host, port, peer); tests may replace it
        # coaps:// seam: fn(account, host, port, peer) sets up the DTLS transport for that peer
        self.transport_factory = None
        reg = self.registry = Registry()
        security.make(reg)
        server.make(reg, disable=self._x_disable, update=self._x_update)
        access.make(reg)
        self.device = device.make(reg, platform, binding="UQ" if self.queue else "U",
                                  on_execute=self._x_device)
        connmon.make(reg, platform)
        self.acl = Acl(reg)
        self.dm = DM(reg, self.acl)
        self.ep = Endpoint(self._handle, rand)
        self.fw = firmware.for_client(self)  # firmware update engine behind /5
        firmware.make(reg, self.fw)  # /5, served by self.fw
        self.reporter = Reporter(self.ep, self.dm.observe_read, self.dm.attrs.effective,
                                 self._reporting, wake=self._wake, log=self.log.warn)
        reg.listener = self.reporter.changed
        # client.changed(oid, iid=None, rid=None), the application/driver API: this value changed
        # (free when nobody observes it); the registry's own method, not a forwarding one
        self.changed = reg.changed
        self.regs = {}  # ssid -> Registration
        self.accts = {}  # ssid -> accounts.Account the registration was made for
        self.bs = None
        self.bs_acct = None
        self.stopped = False
        self.started = False
        self._pending = []  # executes run after their 2.04 is out: ("disable"|"update", ssid)
        self._device_op = None
        self._halt = None  # ("reboot"|"factory_reset"|"shutdown", state)
        self._dirty = False  # objects 0-2 changed: save
        self._sync = False  # accounts may have changed: reconcile registrations
        self._links = False  # instances created/deleted: Update where the list changed
        self._check = False  # /1 written: lifetime Update, new default periods
        self._resync_at = None
        self._poll_at = None
        self._clock_s = None  # /3/0/13 as last told to the reporter

    # ---- set-up ------------------------------------------------------------------------------
    def start(self, now):
        """Load or provision the accounts, then register (or bootstrap when nothing is usable)."""
        if self.started:
            return
        self.started = True
        import lwm2m
        from lwm2m import provision

        provision.start(self, now)
        lwm2m.unload("provision")  # start-up code: back to the heap
        self._poll_at = now

    def reconcile(self, now, fresh=False):
        """Match the registrations to the accounts in objects 0/1 (lwm2m.reconcile, loaded for
        the call: accounts change too seldom to hold its code)."""
        from lwm2m import reconcile, unload

        reconcile.reconcile(self, now, fresh)
        unload("reconcile")  # its code goes back to the heap once this returns (after a
        # MemoryError in it the next call finds it loaded still, and drops it then)

    def _on_data(self, kind, oid, iid):
        if oid in (0, 1, 2):
            self._dirty = True
        if oid in (0, 1):
            self._sync = True
        if oid == 1:
            self._check = True
        if kind in (CREATED, DELETED) and oid != 0:
            self._links = True

    # ---- what the reporter asks of server ssid ---------------------------------------------
    def _reporting(self, ssid):
        """(Default Min Period, Default Max Period, Notification Storing) of server ssid."""
        reg = self.registry
        # no /1/x/2: the Minimum Period defaults to 1 s (003 6.4, 001 D.2)
        return (accounts.server_value(reg, ssid, 2, 1), accounts.server_value(reg, ssid, 3),
                accounts.server_value(reg, ssid, 6, True) is not False)

    def _wake(self, ssid, now):
        r = self.regs.get(ssid)
        if r is not None:
            r.wake(now)

    # ---- executes (deferred until the 2.04 is out) -----------------------------------------
    # (bound methods, not closures: a closure and its cells hold more heap for the client's life)
    def _x_disable(self, iid, args):
        self._pending.append(("disable", self.registry.obj(1).get(iid, 0)))

    def _x_update(self, iid, args):
        self._pending.append(("update", self.registry.obj(1).get(iid, 0)))

    def _x_device(self, name):
        self._device_op = name

    # ---- requests from the network ---------------------------------------------------------
    def _handle(self, req, peer, now):
        bs = self.bs
        if bs is not None and peer == bs.peer:
            # bootstrapping, or server-initiated while unregistered: Bootstrap decides
            resp = bs.handle(req, peer, now)
            if resp is not None:
                return resp
        r = None
        for x in self.regs.values():
            if x.peer == peer:
                r = x
                break
        if r is None:
            return M.Message(code=M.UNAUTHORIZED)
        if r.state == "disabled":
            return False  # 001 D.2: ignore all its messages, send nothing (no ACK, no RST)
        if self._halt is not None:
            return None  # silent: an empty ACK and no answer
        ssid = r.ssid
        resp = self.dm.handle(req, ssid, now)
        code = req.code
        if code == M.GET:
            if (req.uint(M.OBSERVE) == 0 and resp.code == M.CONTENT
                    and req.uint(M.ACCEPT) != 40):
                o = self.ep.observe(req, peer, self.reporter.remove)
                if o is not None:
                    o.on_timeout = self._notify_timeout
                    self.reporter.add(ssid, o, parse_path(req.path()), req.uint(M.ACCEPT), now)
        elif code == M.PUT and resp.code == M.CHANGED and req.uint(M.CONTENT_FORMAT) is None \
                and not req.payload:
            self.reporter.refresh(ssid)
        r.activity(now)
        return resp

    def _notify_timeout(self, obs, now):
        """A CON notification was never ACKed. Some servers never ACK them (lwm2m-node-lib), so
        keep the observation and check the server with an Update instead: a failed Update
        registers again, which clears this server's observations anyway."""
        self.reporter.undelivered(obs, now)  # hold this server's notifications, this one first
        for r in self.regs.values():
            if r.peer == obs.peer:
                r.trigger_update(now)

    def address_changed(self, now):
        """Our address changed (new local port, new DHCP lease): an Update to every server we are
        registered with, from the new address, so each can reach us again (a server sends to
        where the last Register/Update came from)."""
        n = 0
        for r in self.regs.values():
            if r.registered:
                r.trigger_update(now)
                n += 1
        self.log.info("address changed: Update to %d server(s)" % n)

    # ---- the loop ------------------------------------------------------------------------------
    def _poll(self, now):
        self._poll_at = time.ticks_add(now, _POLL_MS)

        def report(what):  # the driver names what changed
            for rid in _REPORTS.get(what, ()):
                self.registry.changed(3, 0, rid)

        for attr in ("battery", "power"):
            fn = getattr(getattr(self.platform, attr, None), "poll", None)
            if fn is not None:
                try:
                    fn(report)
                except Exception as e:  # a flaky sensor must not stop the client
                    self.log.warn("%s poll failed: %r" % (attr, e))

    def _run_pending(self, now):
        while self._pending:
            op, ssid = self._pending.pop(0)
            r = self.regs.get(ssid)
            if r is None:
                continue
            if op == "update":
                r.trigger_update(now)
            else:
                t = accounts.server_value(self.registry, ssid, 5)
                t = server.DISABLE_TIMEOUT if t is None else t
                self.log.info("server %d disabled for %d s" % (ssid, t))
                r.disable(now, t)
        if self._device_op is not None and self._halt is None:
            op, self._device_op = self._device_op, None
            self.shutdown(now, op)

    def shutdown(self, now, why="shutdown"):
        """Deregister from every server; `stopped` turns True once they answered (or ~5 s).
        A server's Reboot or Factory Reset comes here too, and ends in it (lwm2m.halt)."""
        if self._halt is None:
            from lwm2m.halt import begin

            begin(self, now, why)

    def tick(self, now):
        """Run everything due; returns ms until the next deadline (or None)."""
        try:
            if self.stopped:
                return None
            if not self.started:
                self.start(now)
            nxt = self.ep.tick(now)
            self._run_pending(now)
            if self._halt is not None:
                from lwm2m.halt import halting

                if self._dirty:
                    self._save()
                return _min(halting(self, now), nxt)
            bs = self.bs
            active = bs is not None and bs.active
            if (self._sync or (self._resync_at is not None
                               and time.ticks_diff(now, self._resync_at) >= 0)) and not active:
                self.reconcile(now, self._sync == "fresh")
                if self.bs is not None and not self.bs.active and not self.regs:
                    self.log.info("no usable server account: bootstrap")
                    self.bs.start(now)
            if self._check:
                self._check = False
                self.reporter.refresh()
                for r in self.regs.values():
                    if r.registered and r.stale():
                        # a binding change goes out on its own Update before the client acts on
                        # it (UQ: the server must know before we stop listening)
                        r.trigger_update(now)
            if self._links:
                self._links = False
                links = bytes(self.registry.objects_links())
                for r in self.regs.values():
                    sent = r.server_view
                    if r.registered and sent and sent[2] != links:
                        r.trigger_update(now)
            bs = self.bs
            active = bs is not None and bs.active
            if bs is not None:
                nxt = _min(bs.tick(now), nxt)
                active = bs.active
            if not active:
                failing = bool(self.regs)
                for r in self.regs.values():
                    if r.state == "idle":
                        r.start(now)
                    nxt = _min(r.tick(now), nxt)
                    if r.failures < BS_AFTER_FAILURES:
                        failing = False
                if failing and bs is not None:
                    self.log.warn("registration failed on every server: bootstrap")
                    bs.start(now)
            if self.reporter.observes(3):
                # Current Time (/3/0/13) changes every second with nobody writing it: tell the
                # reporter when the second turns, so it notifies like any changing value
                t = self.device.now()
                if t != self._clock_s:
                    self._clock_s = t
                    self.registry.changed(3, 0, 13)
                nxt = _min(1000, nxt)
            nxt = _min(self.reporter.tick(now), nxt)
            nxt = _min(self.fw.tick(now), nxt)
            if self._poll_at is not None:
                d = time.ticks_diff(self._poll_at, now)
                if d <= 0:
                    self._poll(now)
                    d = _POLL_MS
                nxt = _min(d, nxt)
            if self._resync_at is not None:
                nxt = _min(max(0, time.ticks_diff(self._resync_at, now)), nxt)
            if self._dirty:
                self._save()
            if self._pending or self._device_op or (self._sync and not (
                    self.bs is not None and self.bs.active)):
                nxt = 0  # work queued by a callback: straight back (never while bootstrapping)
            return _min(self.ep.tick(now), nxt)
        except MemoryError:
            # one step found no room: the client lives on; what the step left undone is still
            # flagged (a dirty store, a due Update) and the next pass does it
            import gc

            gc.collect()
            self.log.error("out of memory in tick: retried")
            return _OOM_RETRY_MS

    # ---- the store --------------------------------------------------------------------------
    def _save(self):
        """Objects 0-2 to the store (the accounts record). Where each server has us registered
        is not stored: nothing read it back (lwm2m.sleep keeps what a deep sleep needs)."""
        self._dirty = False
        try:
            if accounts.save(self.registry, self.store):
                self.log.debug("store: accounts saved")
        except MemoryError:
            self._dirty = True  # not saved: the next pass tries again
            raise
        except (OSError, ValueError) as e:
            self.log.error("store: cannot save accounts (%r)" % (e,))


def run(cfg, feed=None, setup=None):
    """The whole client on a board or the unix port; returns after SIGINT once deregistered.
    setup(client, runner), when given, runs before the client starts: the application adds its
    objects to client.registry and its periodic work with runner.add_hook(fn(now) -> ms)."""
    import lwm2m
    from lwm2m import bringup

    try:
        client, runner, log = bringup.wire(cfg, feed, setup)
    finally:
        del bringup  # with the unload: wiring is start-up code, its heap goes back
        lwm2m.unload("bringup")
    import gc

    gc.collect()
    try:
        # collect after every free/8 bytes allocated, not only when the heap is full: garbage
        # then never lies long between live blocks, so the heap fragments less (two servers and
        # ten observations pass at 140K instead of 152K, 32-bit)
        gc.threshold(gc.mem_free() // 8)
    except AttributeError:  # CPython: its own collector
        pass

    def stopped():  # one function for both runs (a lambda each would be two)
        return client.stopped

    try:
        try:
            if cfg.get("sleep"):
                from lwm2m.sleep import cycle  # only a sleeping client pays for it

                cycle(client, runner, cfg["sleep"], feed)
            else:
                runner.run(stopped)
        except KeyboardInterrupt:
            lwm2m.unlock_heap()
            log.info("interrupted: deregistering")
            client.shutdown(time.ticks_ms())
            runner.run(stopped)
        log.info("stopped")
    finally:
        runner.close()
