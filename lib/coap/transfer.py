"""Client block-wise transfers (RFC 7959): a Block2 download and a Block1 upload, streamed block
by block (a whole body is never held here). Loaded by the endpoint's download() and upload()."""
from micropython import const

from coap.msg import block_value, block_parts

# coap.msg's numbers, as private consts: folded into the code, where an imported name costs
# heap on a board
_BLOCK1 = const(27)
_BLOCK2 = const(23)
_SIZE1 = const(60)
_SIZE2 = const(28)
_CONTINUE = const(0x5F)  # 2.31
_REQUEST_ENTITY_TOO_LARGE = const(0x8D)  # 4.13

_MAX_RETRY = const(3)  # re-asks for a block answered with the wrong offset


class Transfer:
    """A client transfer, one block at a time: a Block2 GET (download; fn is sink(offset, data),
    data only valid during the call) or a Block1 request (upload; fn is read(offset, n) -> bytes
    supplying a body of n bytes). done(code or None, now) at the end; cancel() stops it without.
    Sends its first block at once: from block number n (download) or of an n-byte body (upload).
    """

    def __init__(self, ep, msg, peer, done, szx, fn, up, n, now):
        self.ep = ep
        self.msg = msg
        self.peer = peer
        self.done = done
        self.szx = szx
        self.fn = fn
        self.up = up
        self.offset = 0 if up else n << (szx + 4)
        self.ex = None
        self.finished = False
        self.resp = None  # last response Message
        self.size = None  # download: Size2 when the server sent it
        self.total = n if up else 0
        self.sent = 0
        self.more = False
        self.retry = 0
        self._next(now)

    def cancel(self):
        """Stop without calling done."""
        self.finished = True
        if self.ex is not None:
            self.ex.cancel()

    def _end(self, code, now):
        if not self.finished:
            self.finished = True
            self.ep._call(self.done, code, now)

    def _next(self, now):
        m = self.msg
        szx = self.szx
        off = self.offset
        if self.up:
            n = 16 << szx
            total = self.total
            try:
                data = self.fn(off, min(n, total - off))
            except Exception as e:
                self.ep.errors += 1
                self.ep.last_error = e
                return self._end(None, now)
            ln = len(data)
            more = off + ln < total
            if more and ln != n:
                return self._end(None, now)
            m.remove(_BLOCK1)
            m.remove(_SIZE1)
            if off or more:
                m.add(_BLOCK1, block_value(off >> (szx + 4), more, szx))
                if not off:
                    m.add(_SIZE1, total)
            m.payload = data
            self.sent = ln
            self.more = more
        else:
            m.remove(_BLOCK2)
            m.add(_BLOCK2, block_value(off >> (szx + 4), False, szx))
        m.mid = 0
        m.token = b""  # a fresh token per block: a late answer to an old block matches nothing
        try:
            self.ex = self.ep.request(m, self.peer, now, self._got)
        except Exception:
            self._end(None, now)

    def _got(self, resp, now):
        if self.finished:
            return
        self.resp = resp
        if resp is None:  # gave up, or RST
            return self._end(None, now)
        code = resp.code
        if self.up:
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
            return self._end(code, now)
        if code >> 5 != 2:
            return self._end(code, now)
        pl = resp.payload
        v = resp.uint(_BLOCK2)
        if v is None:  # the server sent it whole
            if not self.ep._call(self.fn, 0, pl):
                return self._end(None, now)
            self.offset = len(pl)
            return self._end(code, now)
        num, more, szx = block_parts(v)
        if szx > self.szx:
            return self._end(None, now)  # the server may only shrink the block size
        off = num << (szx + 4)
        if off != self.offset or (more and len(pl) != 16 << szx):
            self.retry += 1
            if self.retry > _MAX_RETRY:
                return self._end(None, now)
            return self._next(now)
        self.retry = 0
        s2 = resp.uint(_SIZE2)
        if s2 is not None:
            self.size = s2
        if not self.ep._call(self.fn, off, pl):
            return self._end(None, now)
        self.offset = off + len(pl)
        self.szx = szx
        if more:
            self._next(now)
        else:
            self._end(code, now)
