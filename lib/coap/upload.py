"""Client Block1 uploads (RFC 7959), the other half of coap.transfer: loaded by the endpoint's
upload() only (no LwM2M code sends a body block-wise), so a download never loads it."""
from micropython import const

from coap import transfer
from coap.msg import block_value

_BLOCK1 = const(27)  # coap.msg's numbers, as private consts (no heap)
_SIZE1 = const(60)
_CONTINUE = const(0x5F)  # 2.31
_REQUEST_ENTITY_TOO_LARGE = const(0x8D)  # 4.13


class Transfer(transfer.Transfer):
    """A Block1 request of an n-byte body, one block at a time: fn is read(offset, n) -> bytes.
    done(code or None, now) at the end; cancel() stops it without. Sends its first block at
    once. Named like its base, so the resident endpoint's upload() names nothing new (a qstr)."""

    def __init__(self, ep, msg, peer, done, szx, fn, n, now):
        self.total = n
        self.sent = 0
        self.more = False
        transfer.Transfer.__init__(self, ep, msg, peer, done, szx, fn, 0, now)  # from offset 0

    def _next(self, now):
        m = self.msg
        szx = self.szx
        off = self.offset
        n = 16 << szx
        total = self.total
        try:
            data = self.fn(off, min(n, total - off))
        except Exception as e:
            self.ep.errors += 1
            self.ep.last_error = e
            return self._got(None, now)
        ln = len(data)
        more = off + ln < total
        if more and ln != n:
            return self._got(None, now)
        m.remove(_BLOCK1)
        m.remove(_SIZE1)
        if off or more:
            m.add(_BLOCK1, block_value(off >> (szx + 4), more, szx))
            if not off:
                m.add(_SIZE1, total)
        m.payload = data
        self.sent = ln
        self.more = more
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
        if code is not None:
            v = resp.uint(_BLOCK1)
            if code == _REQUEST_ENTITY_TOO_LARGE and v is not None and (v & 7) < self.szx:
                self.szx = v & 7  # the server asks for smaller blocks: resend from the same offset
                return self._next(now)
            if code == _CONTINUE and self.more:
                if v is not None and (v & 7) < self.szx:
                    self.szx = v & 7
                self.offset += self.sent
                return self._next(now)
            if code == _CONTINUE:
                code = None  # Continue to the last block is a broken server
        self.done = None
        self.ep._call(d, code, now)
