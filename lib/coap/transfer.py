"""Client Block2 downloads (RFC 7959), streamed block by block (a whole body is never held here).
Loaded by the endpoint's download(); the Block1 upload half is coap.upload, so a firmware pull
loads only what it runs."""
from micropython import const

# coap.msg's numbers, as private consts: folded into the code, where an imported name costs
# heap on a board (the Block2 value is spelled out here for the same reason: NUM << 4 | M << 3 |
# SZX, RFC 7959 2.2)
_BLOCK2 = const(23)
_SIZE2 = const(28)

_MAX_RETRY = const(3)  # re-asks for a block answered with the wrong offset


class Transfer:
    """A client transfer, one block at a time: a Block2 GET (fn is sink(offset, data), data only
    valid during the call) from block number n; coap.upload.Transfer is the Block1 kind. done(code
    or None, now) at the end; cancel() stops it without (done None: finished). Sends its first
    block at once. The last response is not kept: between blocks it would hold a block's payload
    for nothing. The instance is its requests' response callback (t(resp, now)): no bound method
    per request, 64 B less while a block is handled (measured, 32-bit)."""

    def __init__(self, ep, msg, peer, done, szx, fn, n, now):
        self.ep = ep
        self.msg = msg
        self.peer = peer
        self.done = done
        self.szx = szx
        self.fn = fn
        self.offset = n << (szx + 4)
        self.ex = None
        self.size = None  # Size2 when the server sent it
        self.retry = 0
        self._next(now)

    def cancel(self):
        """Stop without calling done."""
        self.done = None
        if self.ex is not None:
            self.ex.cancel()

    def _next(self, now):
        m = self.msg
        szx = self.szx
        m.remove(_BLOCK2)
        m.add(_BLOCK2, self.offset >> (szx + 4) << 4 | szx)  # M is 0 in a request
        m.mid = 0
        m.token = b""  # a fresh token per block: a late answer to an old block matches nothing
        try:
            self.ex = self.ep.request(m, self.peer, now, self)
        except Exception:
            self(None, now)

    def __call__(self, resp, now):
        """An answer (None: gave up, or RST): the next block, or the end, done(code or None).
        This frame is under every block's fn, so it is kept to 11 slots (3 arguments, d, code
        and v, 5 for a call's stack: once the offset matched, self.offset is it), the most
        MicroPython keeps on the C stack: one local more puts it on the heap, 80 B for each
        block (measured, 32-bit; host_tests test_coap_endpoint checks it)."""
        d = self.done
        if d is None:
            return  # finished
        code = None if resp is None else resp.code
        if code is not None and code >> 5 == 2:
            v = resp.uint(_BLOCK2)
            if v is None:  # the server sent it whole: as block 0 (of any size), the last
                self.offset = 0
                v = self.szx
            if v & 7 > self.szx:
                code = None  # the server may only shrink the block size
            elif v >> 4 << ((v & 7) + 4) != self.offset or (
                    v & 8 and len(resp.payload) != 16 << (v & 7)):
                self.retry += 1
                if self.retry <= _MAX_RETRY:
                    return self._next(now)  # ask again
                code = None
            else:
                self.retry = 0
                self.size = resp.uint(_SIZE2, self.size)  # the last value sent, if any
                if not self.ep._call(self.fn, self.offset, resp.payload):
                    code = None
                else:
                    self.offset += len(resp.payload)
                    self.szx = v & 7
                    if v & 8:
                        return self._next(now)
        self.done = None
        self.ep._call(d, code, now)
