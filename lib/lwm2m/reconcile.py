"""Matching a client's registrations (and its bootstrap machine) to the accounts in objects 0/1.

Functions over a lwm2m.client.Client `c`. Loaded for each call and dropped again
(lwm2m.unload): the accounts change at start-up, after a bootstrap or a /0 or /1 write, too
seldom to hold this code. The registrations themselves are lwm2m.servers.
"""
import time

from micropython import const

from lwm2m import servers
from lwm2m.accounts import Account
from lwm2m.objects import security

_RETRY_MS = const(30000)  # unresolvable server host: try again this often


def reconcile(c, now, fresh=False):
    """Match the registrations (and the bootstrap machine) to the accounts in objects 0/1.
    fresh: drop every registration first (after a bootstrap)."""
    c._sync = False
    c._resync_at = None
    reg = c.registry
    srv, b = scan(reg)
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
    r = servers.make(c, a, peer)
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


def scan(registry):
    """([Account] of every usable server account by SSID, the bootstrap server's Account (ssid
    0, the first bootstrap instance with a URI) or None), from objects 0 and 1."""
    sec = registry.obj(0)
    srv = registry.obj(1)
    out = []
    bs = None
    if sec is None:
        return out, bs
    by_ssid = {}
    for iid in srv.iids() if srv is not None else ():
        s = srv.insts[iid].vals.get(0)
        if s is not None and s not in by_ssid:
            by_ssid[s] = iid
    for iid in sec.iids():
        v = sec.insts[iid].vals
        if v.get(1) is True:
            if bs is not None or not v.get(0):
                continue
            ssid = 0
            s = None
        else:
            ssid = v.get(10)
            s = by_ssid.pop(ssid, None)  # popped: a second /0 instance of one SSID is not used
            if s is None:
                continue
        a = Account(ssid, v.get(0), iid, s, v.get(2, security.NOSEC), bytes(v.get(3) or b""),
                    bytes(v.get(5) or b""))
        if s is None:
            bs = a
            continue
        i = len(out)  # kept in SSID order as it grows (a sort key would be one more function)
        while i and out[i - 1].ssid > ssid:
            i -= 1
        out.insert(i, a)
    return out, bs
