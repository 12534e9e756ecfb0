"""Starting one download attempt of a pull, and the end of a failed one with its back-off
(lwm2m.fwpull loads this module for the call, which drops it: it runs once per attempt, not per
block, so what it holds is no heap during the blocks). It imports nothing of lwm2m.fwupdate: the
State and Update Result values it needs are copied."""
from micropython import const

from lwm2m import unload

_DOWNLOADING = const(1)
_R_CONN_LOST = const(4)
_R_BAD_URI = const(7)
_R_BAD_PROTOCOL = const(9)


def go(fu, now, sink, done):
    """sink, done: the callbacks of a new attempt (lwm2m.fwpull's, made for fu._gen + 1), sent
    from fu.offset on over what fu._u says (see lwm2m.fwuri.pull); an OSError on the way: the
    attempt was lost (see lost()). Drops this module (the call holds it)."""
    unload("fwtry")
    fu._deadline = None
    fu._gen += 1
    gen = fu._gen
    fu._at = fu.offset  # (None when all bytes are in: lwm2m.fwpull's done)
    szx = fu.szx
    start = fu.offset >> (szx + 4)
    coaps, host, port, req = fu._u
    c = fu.client
    peer = None
    try:
        if req is not None:
            # a client's engine: over client.ep, to the peer as its runner resolves it
            from coap.runner import resolve

            peer = resolve("coap://%s:%d" % ("[%s]" % host if ":" in host else host, port))[3]
        elif fu._resolve is not None:
            peer = fu._resolve(host, port)
        if coaps:
            # only through a DTLS session to that host: never send the request as plain UDP
            if req is None:
                ok = fu._secure is not None and fu._secure(peer)
            else:
                link = getattr(c.transport_factory, "links", {}).get(peer)
                ok = link is not None and hasattr(link.t, "start")
            if not ok:
                fu._end(_R_BAD_PROTOCOL)
                return
        if req is None:
            h = fu._download(fu.uri, start, sink, done, now, peer)
        else:
            h = c.ep.download(req, peer, now, sink, done, szx, start)
        if gen == fu._gen and fu.state == _DOWNLOADING:
            fu._handle = h
        return
    except OSError:
        pass
    lost(fu, now, None)


def lost(fu, now, code):
    """The attempt under way ended with code (None: no answer, or it failed on our side): a 4.xx
    ends the pull with result 7 (nothing to fetch there); anything else is a lost attempt, retried
    with back-off (fu.tick) or, after fu.tries attempts that got nowhere, the end with result 4.
    Drops this module (the call holds it)."""
    unload("fwtry")
    fu._handle = None
    if code is not None and code >> 5 == 4:
        fu._end(_R_BAD_URI)  # 4.04 and friends
        return
    if fu.offset > fu._at:
        fu._fails = 0  # it moved forward: only attempts that get nowhere count
    fu._fails += 1
    if fu._fails >= fu.tries:
        fu._end(_R_CONN_LOST)
        return
    import time

    from coap.retry import backoff_ms, urandom_int

    d = backoff_ms(fu._fails, fu.retry_ms, fu.retry_cap_ms, fu._rand or urandom_int)
    fu._deadline = time.ticks_add(now, d)
    fu._set(fu.state)  # the resume offset, once per failure rather than once per block
