"""The part of a pull (Package URI) of lwm2m.fwupdate.FwUpdate `fu` that runs per block and per
retry: one Block2 download attempt, resumed from fu.offset, and the back-off after a failure.
Loaded by lwm2m.fwuri.pull (which parses the URI once, into fu._u) and held for the transfer,
dropped with the engine (lwm2m.objects.firmware); kept small, as its closures keep all of it.
It imports nothing of lwm2m.fwupdate: the State and Update Result values it needs are copied."""
from micropython import const

_DOWNLOADING = const(1)
_R_CONN_LOST = const(4)
_R_BAD_URI = const(7)
_R_BAD_PROTOCOL = const(9)


def attempt(fu, now, failed=False):
    """One download attempt from fu.offset on (FwUpdate.tick runs the retries). failed: the
    attempt under way was lost: count it and set the back-off deadline, or end with result 4."""
    if failed:
        fu._handle = None
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
        return
    fu._deadline = None
    fu._gen += 1
    gen = fu._gen
    fu._at = fu.offset
    szx = fu.szx

    def sink(offset, data):
        if gen != fu._gen:
            raise ValueError("stale transfer")
        skip = fu.offset - offset
        if skip < 0:
            raise ValueError("gap in download")  # ends the attempt: retried as a loss
        if skip < len(data) and fu._take(memoryview(data)[skip:]):
            raise ValueError("package rejected")  # the transfer ended; /5/0/5 says why

    def done(code, now):
        if gen != fu._gen:
            return
        fu._handle = None
        if code is not None and code >> 5 == 2:
            fu._take(None)  # a failure lands in Idle with its result
        elif code is not None and code >> 5 == 4:
            fu._end(_R_BAD_URI)  # 4.04 and friends: nothing to fetch there
        else:
            attempt(fu, now, True)

    coaps, host, port, req = fu._u
    c = fu.client
    start = fu.offset >> (szx + 4)
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
    except OSError:
        attempt(fu, now, True)
        return
    if gen == fu._gen and fu.state == _DOWNLOADING:
        fu._handle = h
