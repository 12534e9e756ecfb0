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
    for nothing."""

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
            self.ex = self.ep.request(m, self.peer, now, self._got)
        except Exception:
            self._got(None, now)

    def _got(self, resp, now):
        """An answer (None: gave up, or RST): the next block, or the end, done(code or None)."""
        d = self.done
        if d is None:
            return  # finished
        code = None if resp is None else resp.code
        if code is not None and code >> 5 == 2:
            pl = resp.payload
            v = resp.uint(_BLOCK2)
            if v is None:  # the server sent it whole
                if self.ep._call(self.fn, 0, pl):
                    self.offset = len(pl)
                else:
                    code = None
            else:
                more = v & 8
                szx = v & 7
                off = v >> 4 << (szx + 4)
                if szx > self.szx:
                    code = None  # the server may only shrink the block size
                elif off != self.offset or (more and len(pl) != 16 << szx):
                    self.retry += 1
                    if self.retry <= _MAX_RETRY:
                        return self._next(now)  # ask again
                    code = None
                else:
                    self.retry = 0
                    s2 = resp.uint(_SIZE2)
                    if s2 is not None:
                        self.size = s2
                    if not self.ep._call(self.fn, off, pl):
                        code = None
                    else:
                        self.offset = off + len(pl)
                        self.szx = szx
                        if more:
                            return self._next(now)
        self.done = None
        self.ep._call(d, code, now)
