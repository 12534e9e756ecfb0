"""A client's server registrations: one Registration per server account, matched to objects 0/1.

Functions over a lwm2m.client.Client `c`, which holds the state (c.regs, c.accts, c.bs, ...).
The matching itself (reconcile, when the accounts may have changed) is lwm2m.reconcile, loaded
for the call and dropped again; what stays is what a running registration needs: make() builds
one, and each Registration tells on_event() what happened to it.
"""
from lwm2m import accounts
from lwm2m.register import Registration, binding_param


def make(c, a, peer):
    """The Registration of account a at peer; its params and events come back here. (Here, not in
    lwm2m.reconcile: these closures hold their module, which must be one that stays.)"""
    ssid = a.ssid
    r = Registration(c.ep, peer, c.name, lambda: params(c, ssid), c.registry.objects_links,
                     c.rand, lambda *e: on_event(c, *e), ssid)
    r.uri = a.uri
    return r


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
