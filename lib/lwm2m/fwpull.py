"""The part of a pull (Package URI) of lwm2m.fwupdate.FwUpdate `fu` that stays loaded for the
transfer: the per-block callbacks of a Block2 download attempt. Loaded by FwUpdate.tick for the
first attempt (after lwm2m.fwuri.pull parsed the URI once, into fu._u), dropped with the engine
(lwm2m.objects.firmware). Only the callbacks and what makes them, as they keep all of it (384 B
on a board, was 592): an attempt's start and its bookkeeping, a failed one's end (4.xx: result 7,
else a back-off) are lwm2m.fwtry, loaded for the call. It imports nothing of lwm2m.fwupdate."""


def attempt(fu, now):
    """A new download attempt from fu.offset on (FwUpdate.tick runs the retries)."""
    gen = fu._gen + 1  # the attempt's: lwm2m.fwtry.go counts it into fu._gen

    # fu and gen as defaults, not closed over: a plain function each, without a closure and
    # cells (64 B less for the whole transfer); the download passes only the first two
    def sink(offset, data, fu=fu, gen=gen):
        # its frame (4 arguments, skip, 5 for a call's stack) stays on the C stack, one slot to
        # spare: 2 locals more put it on the heap under every block's write (80 B); a block
        # taken whole goes on as it came (a memoryview of it was 16 B more per block)
        skip = fu.offset - offset
        # a stale attempt's block, a gap (retried as a loss) or the package rejected (the
        # transfer ended; /5/0/5 says why): the exception ends the download. No message: the
        # endpoint only keeps it as last_error, and each string is heap on a board
        if gen != fu._gen or skip < 0 or skip < len(data) and fu._take(
                memoryview(data)[skip:] if skip else data):
            raise ValueError

    def done(code, now, fu=fu, gen=gen):
        if gen == fu._gen:
            fu._handle = None
            if code is not None and code >> 5 == 2:
                # every byte is in: fu.tick finishes (a failure lands in Idle with its result)
                # once this response's datagram and the download are gone: the check's peak
                fu._at = None
                fu._deadline = now
            else:
                from lwm2m.fwtry import lost  # it drops itself

                lost(fu, now, code)

    from lwm2m.fwtry import go  # it drops itself

    go(fu, now, sink, done)
