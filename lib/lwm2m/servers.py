"""Server accounts at run time: registrations per account, the bootstrap machine, callbacks."""
import time

from micropython import const

from lwm2m import accounts
from lwm2m.register import Registration, binding_param

_RETRY_MS = const(30000)  # unresolvable server host: try again this often


class Servers:
    """Part of lwm2m.client.Client (a mixin, to keep each module readable): it expects the
    attributes Client.__init__ sets (registry, ep, reporter, acl, dm, store, log, ...)."""

    # ---- accounts and registrations -------------------------------------------------------
    def _reconcile(self, now, fresh=False):
        """Match the registrations (and the bootstrap machine) to the accounts in objects 0/1.
        fresh: drop every registration first (after a bootstrap)."""
        self._sync = False
        self._resync_at = None
        have = {a.ssid: a for a in accounts.servers(self.registry)}
        for ssid in list(self.regs):
            a = have.get(ssid)
            if fresh or a is None or not a.same_link(self.accts[ssid]):
                self._drop_server(ssid, now, a is None)
        for ssid, a in have.items():
            if ssid not in self.regs:
                self._add_server(a, now)
        b = accounts.bootstrap(self.registry)
        if b is None:
            if self.bs is not None and not self.bs.active:
                self.bs = self.bs_acct = None
        elif self.bs is None or not b.same_link(self.bs_acct) or self.bs.peer is None:
            self._make_bootstrap(b, now)

    def _peer(self, a, now):
        """The runner peer of account a (its DTLS transport set up for coaps://), or None when
        its host does not resolve (the accounts are matched again in _RETRY_MS)."""
        try:
            scheme, host, port, peer = self.resolve(a.uri)
        except (OSError, ValueError) as e:
            self.log.error("server %d: cannot resolve %s (%r); retrying" % (a.ssid, a.uri, e))
            self._resync_at = time.ticks_add(now, _RETRY_MS)
            return None
        if scheme == "coaps":
            if self.transport_factory is None:
                self.log.warn("%s: no DTLS transport wired; sending in the clear will fail"
                              % a.uri)
            else:
                self.transport_factory(a, host, port, peer)
        return peer

    def _add_server(self, a, now):
        peer = self._peer(a, now)
        if peer is None:
            return
        ssid = a.ssid
        r = Registration(self.ep, peer, self.name, lambda: self._params(ssid),
                         self.registry.objects_links, self.rand, self._on_reg, ssid)
        r.uri = a.uri
        self.regs[ssid] = r
        self.accts[ssid] = a
        self.reporter.server_offline(ssid)
        if self.bs is None or not self.bs.active:
            resume = getattr(self, "resume", None)  # lwm2m.sleep: a registration kept over sleep
            if resume is None or not resume(r, now):
                r.start(now)

    def _drop_server(self, ssid, now, gone):
        """A changed account re-registers; a deleted one is unbootstrapped (seed 001 D.2.2)."""
        r = self.regs.pop(ssid)
        self.accts.pop(ssid, None)
        if gone and r.registered:
            r.deregister(now)  # D.2.2 step 5: de-register from the server being removed
        else:
            r.stop(now)
        self.reporter.cancel_server(ssid)
        if gone:
            self.acl.remove_server(ssid)
            self.dm.attrs.drop(ssid=ssid)
            self.log.info("server %d account removed: registration, observations and ACLs "
                          "dropped" % ssid)

    def _make_bootstrap(self, b, now):
        peer = self._peer(b, now)
        if peer is not None:
            from lwm2m.bootstrap import for_client  # here: no bootstrap server, no bootstrap code

            self.bs_acct = b
            self.bs = for_client(self, b, peer)

    def _params(self, ssid):
        reg = self.registry
        lt = accounts.server_value(reg, ssid, 1)
        b = accounts.server_value(reg, ssid, 7, "U") or "U"
        return lt, b, self.queue or "Q" in b

    def _defaults(self, ssid):
        reg = self.registry
        # no /1/x/2: the Minimum Period defaults to 1 s (003 6.4, 001 D.2)
        return accounts.server_value(reg, ssid, 2, 1), accounts.server_value(reg, ssid, 3)

    def _storing(self, ssid):
        return accounts.server_value(self.registry, ssid, 6, True) is not False

    def _wake(self, ssid, now):
        r = self.regs.get(ssid)
        if r is not None:
            r.wake(now)

    # ---- registration events ------------------------------------------------------------------
    def _on_reg(self, r, what, now, code=0):
        """Registration.on_event: reporting follows the server's reachability, and the log."""
        rep = self.reporter
        ssid = r.ssid
        if code:
            self.log.warn("%s by %s: %d.%02d" % (what, r.uri, code >> 5, code & 31))
        elif what == "registered":
            if r.resumes:
                # back from Disable: the observations and what /1/x/6 stored go on (001
                # resource 6); a server that forgot them answers the notifications with RST
                r.resumes = False
            else:
                rep.cancel_server(ssid)  # a new registration starts without them
            rep.server_online(ssid, now)
            lt, b, q = self._params(ssid)
            self.log.info("registered with %s as %s (lt=%s b=%s)" % (
                r.uri, r.location, "-" if lt is None else lt, binding_param(b, q)))
            self._note()
            self.fw.on_registered(now)  # a new image confirms itself on its first registration
        elif what in ("wake", "online"):
            if what == "online" and rep.is_offline(ssid):
                self.log.info("%s answering again" % r.uri)
            rep.server_online(ssid, now)
        else:  # lost, deregistered, sleep, offline: hold notifications
            rep.server_offline(ssid)
            if what == "lost":
                self.log.warn("registration with %s lost; registering again" % r.uri)
            elif what == "deregistered":
                self.log.info("deregistered from %s" % r.uri)
            elif what == "offline":
                # the registration holds until its lifetime ends: keep it (and the
                # observations) and store notifications while the Update is retried
                self.log.warn("%s not answering; retrying the Update while the registration "
                              "is valid" % r.uri)

    def _note(self):
        """Registration bookkeeping in the store (where each server has us registered)."""
        loc = {}
        for ssid, r in self.regs.items():
            if r.location:
                loc[str(ssid)] = r.location
        if loc != self._bookkeeping:
            self._bookkeeping = loc
            try:
                self.store.save("registrations", loc)
            except MemoryError:
                self._bookkeeping = None  # not saved: the next pass tries again
                raise
            except (OSError, ValueError) as e:
                self.log.error("store: cannot save registrations (%r)" % (e,))

    def _save(self):
        self._dirty = False
        try:
            if accounts.save(self.registry, self.store):
                self.log.debug("store: accounts saved")
        except MemoryError:
            self._dirty = True  # not saved: the next pass tries again
            raise
        except (OSError, ValueError) as e:
            self.log.error("store: cannot save accounts (%r)" % (e,))
