"""The part of a pull (Package URI) of lwm2m.fwupdate.FwUpdate `fu` that stays loaded for the
transfer: the per-block callbacks of a Block2 download attempt. Loaded by FwUpdate.tick for the
first attempt (after lwm2m.fwuri.pull parsed the URI once, into fu._u), dropped with the engine
(lwm2m.objects.firmware). Kept small, as its callbacks keep all of it: starting an attempt and
the back-off after a failure are lwm2m.fwtry, loaded for the call. It imports nothing of
lwm2m.fwupdate (values copied)."""
from micropython import const

_R_BAD_URI = const(7)


def attempt(fu, now, lost=False):
    """A new download attempt from fu.offset on (FwUpdate.tick runs the retries); lost: the one
    under way failed: count it, then a back-off deadline or the end with result 4."""
    sink = done = None  # lost: none
    if not lost:
        fu._deadline = None
        fu._gen += 1
        gen = fu._gen
        fu._at = fu.offset  # (None when all bytes are in: see done)

        # fu and gen as defaults, not closed over: a plain function each, without a closure and
        # cells (64 B less for the whole transfer); the download passes only the first two
        def sink(offset, data, fu=fu, gen=gen):
            if gen != fu._gen:
                raise ValueError("stale transfer")
            skip = fu.offset - offset
            if skip < 0:
                raise ValueError("gap in download")  # ends the attempt: retried as a loss
            if skip < len(data) and fu._take(memoryview(data)[skip:]):
                raise ValueError("package rejected")  # the transfer ended; /5/0/5 says why

        def done(code, now, fu=fu, gen=gen):
            if gen != fu._gen:
                return
            fu._handle = None
            if code is not None and code >> 5 == 2:
                # every byte is in: fu.tick finishes (a failure lands in Idle with its result)
                # once this response's datagram and the download are gone: the check's peak
                fu._at = None
                fu._deadline = now
            elif code is not None and code >> 5 == 4:
                fu._end(_R_BAD_URI)  # 4.04 and friends: nothing to fetch there
            else:
                attempt(fu, now, True)

    from lwm2m.fwtry import go  # it drops itself

    go(fu, now, sink, done)
