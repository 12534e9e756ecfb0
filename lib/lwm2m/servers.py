"""A client's server registrations: one Registration per server account, matched to objects 0/1.

Functions over a lwm2m.client.Client `c`, which holds the state (c.regs, c.accts, c.bs, ...) and
calls reconcile() when the accounts may have changed; each Registration tells on_event() what
happened to it. The bootstrap machine is made here too (lwm2m.bootstrap, only when there is a
bootstrap account).
"""
import time

from micropython import const

from lwm2m import accounts
from lwm2m.register import Registration, binding_param

_RETRY_MS = const(30000)  # unresolvable server host: try again this often


def reconcile(c, now, fresh=False):
    """Match the registrations (and the bootstrap machine) to the accounts in objects 0/1.
    fresh: drop every registration first (after a bootstrap)."""
    c._sync = False
    c._resync_at = None
    reg = c.registry
    srv, b = accounts.scan(reg)
    have = {}  # a loop: a comprehension is one more function on a board
    for a in srv:
        have[a.ssid] = a
    for ssid in list(c.regs):
        a = have.get(ssid)
        if fresh or a is None or not a.same_link(c.accts[ssid]):
            _drop(c, ssid, now, a is None)
    for ssid, a in have.items():
        if ssid not in c.regs:
            _add(c, a, now)
    bs = c.bs
    if b is None:
        if bs is not None and not bs.active:
            c.bs = c.bs_acct = None
    elif bs is None or not b.same_link(c.bs_acct) or bs.peer is None:
        peer = _peer(c, b, now)
        if peer is not None:
            from lwm2m.bootstrap import for_client  # here: no bootstrap server, no bootstrap code

            c.bs_acct = b
            c.bs = for_client(c, b, peer)


def _peer(c, a, now):
    """The runner peer of account a (its DTLS transport set up for coaps://), or None when its
    host does not resolve (the accounts are matched again in _RETRY_MS)."""
    try:
        scheme, host, port, peer = c.resolve(a.uri)
    except (OSError, ValueError) as e:
        c.log.error("server %d: cannot resolve %s (%r); retrying" % (a.ssid, a.uri, e))
        c._resync_at = time.ticks_add(now, _RETRY_MS)
        return None
    if scheme == "coaps":
        if c.transport_factory is None:
            c.log.warn("%s: no DTLS transport wired; sending in the clear will fail" % a.uri)
        else:
            c.transport_factory(a, host, port, peer)
    return peer


def _add(c, a, now):
    peer = _peer(c, a, now)
    if peer is None:
        return
    ssid = a.ssid
    r = Registration(c.ep, peer, c.name, lambda: params(c, ssid), c.registry.objects_links,
                     c.rand, lambda *e: on_event(c, *e), ssid)
    r.uri = a.uri
    c.regs[ssid] = r
    c.accts[ssid] = a
    c.reporter.server_offline(ssid)
    if c.bs is None or not c.bs.active:
        resume = getattr(c, "resume", None)  # lwm2m.sleep: a registration kept over sleep
        if resume is None or not resume(r, now):
            r.start(now)


def _drop(c, ssid, now, gone):
    """A changed account re-registers; a deleted one is unbootstrapped (seed 001 D.2.2)."""
    r = c.regs.pop(ssid)
    c.accts.pop(ssid, None)
    if gone and r.registered:
        r.deregister(now)  # D.2.2 step 5: de-register from the server being removed
    else:
        r.stop(now)
    c.reporter.cancel_server(ssid)
    if gone:
        c.acl.remove_server(ssid)
        c.dm.attrs.drop(ssid=ssid)
        c.log.info("server %d account removed: registration, observations and ACLs dropped"
                   % ssid)


def params(c, ssid):
    """(lifetime s or None, binding, queue mode) of server ssid, from its /1 instance."""
    reg = c.registry
    lt = accounts.server_value(reg, ssid, 1)
    b = accounts.server_value(reg, ssid, 7, "U") or "U"
    return lt, b, c.queue or "Q" in b


def on_event(c, r, what, now, code=0):
    """Registration.on_event of server r: reporting follows its reachability; the log."""
    rep = c.reporter
    ssid = r.ssid
    if code:
        c.log.warn("%s by %s: %d.%02d" % (what, r.uri, code >> 5, code & 31))
    elif what == "registered":
        if r.resumes:
            # back from Disable: the observations and what /1/x/6 stored go on (001 resource 6);
            # a server that forgot them answers the notifications with RST
            r.resumes = False
        else:
            rep.cancel_server(ssid)  # a new registration starts without them
        rep.server_online(ssid, now)
        lt, b, q = params(c, ssid)
        c.log.info("registered with %s as %s (lt=%s b=%s)" % (
            r.uri, r.location, "-" if lt is None else lt, binding_param(b, q)))
        c.fw.on_registered(now)  # a new image confirms itself on its first registration
    elif what in ("wake", "online"):
        if what == "online" and rep.is_offline(ssid):
            c.log.info("%s answering again" % r.uri)
        rep.server_online(ssid, now)
    else:  # lost, deregistered, sleep, offline: hold notifications
        rep.server_offline(ssid)
        if what == "lost":
            c.log.warn("registration with %s lost; registering again" % r.uri)
        elif what == "deregistered":
            c.log.info("deregistered from %s" % r.uri)
        elif what == "offline":
            # the registration holds until its lifetime ends: keep it (and the observations)
            # and store notifications while the Update is retried
            c.log.warn("%s not answering; retrying the Update while the registration is valid"
                       % r.uri)


def lazy_secure(runner, client, log):
    """The transport factory, loaded at the first coaps:// account: a coap:// client never imports
    lwm2m.secure and coap.dtls (12 KB of heap on a 32-bit board)."""

    def first(acct, host, port, peer):
        from lwm2m.secure import make_transport_factory  # its runner hook runs after tick's

        f = client.transport_factory = make_transport_factory(runner, client, log)
        f(acct, host, port, peer)

    return first
