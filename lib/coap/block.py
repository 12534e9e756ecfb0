"""Server-side Block1 sequencing (RFC 7959): the per (peer, path) state of bodies we receive
block by block (a firmware push). Loaded by the endpoint at a Block1 request, gone again once no
body is in progress; client transfers are coap.transfer, and cutting a response into Block2
blocks is coap.msg.server_slice, which every response needs."""
import time

from micropython import const

from coap import unload
from coap.msg import Message, block_value, block_parts

# coap.msg's numbers, as private consts: folded into the code, where an imported name costs
# heap on a board
_BLOCK1 = const(27)
_BLOCK2 = const(23)
_URI_PATH = const(11)
_CONTINUE = const(0x5F)  # 2.31
_BAD_REQUEST = const(0x80)  # 4.00
_REQUEST_ENTITY_INCOMPLETE = const(0x88)  # 4.08
_REQUEST_ENTITY_TOO_LARGE = const(0x8D)  # 4.13

_BLOCK1_LIFETIME = const(247000)  # ms an unfinished Block1 body is remembered (EXCHANGE_LIFETIME)


def _find(ep, peer, req):
    """(key, state or None) of req: the key is the Uri-Path joined by "/"."""
    k = None  # a loop, as a comprehension is one more function
    for v in req.all(_URI_PATH):
        k = bytes(v) if k is None else k + b"/" + bytes(v)
    k = k or b""
    for st in ep._b1:
        if st[0] == peer and st[1] == k:
            return k, st
    return k, None


def server_check(ep, req, peer, now):
    """Check a Block1 request against the per (peer, path) state: an error Message or None."""
    num, more, szx = block_parts(req.uint(_BLOCK1))
    if szx == 7:
        return Message(code=_BAD_REQUEST)
    if szx > ep.max_szx:
        r = Message(code=_REQUEST_ENTITY_TOO_LARGE)
        r.add(_BLOCK1, block_value(0, False, ep.max_szx))
        return r
    size = 16 << szx
    if more and len(req.payload) != size:
        return Message(code=_BAD_REQUEST)  # only the last block may be short
    key, st = _find(ep, peer, req)
    b1 = ep._b1
    if num == 0:
        if st is not None:
            b1.remove(st)  # a new body for this path starts over
        if more:
            while b1 and len(b1) >= ep.max_block1:
                b1.pop(0)
            b1.append([peer, key, size, time.ticks_add(now, _BLOCK1_LIFETIME), req.mid])
        else:
            _gone(ep)  # the whole body in one block
        return None
    if st is None or st[2] != num * size:
        return Message(code=_REQUEST_ENTITY_INCOMPLETE)
    _answered(ep, peer, st[4])
    if more:
        st[2] += size
        st[3] = time.ticks_add(now, _BLOCK1_LIFETIME)
        st[4] = req.mid
    else:
        b1.remove(st)
        _gone(ep)
    return None


def _answered(ep, peer, mid):
    """The block before this one (request mid) had its answer: a peer sends the next block of a
    body only once it has that (RFC 7959 2.5), so no retransmission of it will come. Its dedup
    entry stays (a late copy is still ignored) without the reply: 32 B a block, 16 entries of a
    firmware push (32-bit)."""
    d = ep._dedup
    for i in range(0, len(d), 4):
        if d[i + 1] == mid and d[i] == peer:
            d[i + 3] = None
            return


def _gone(ep):
    """No body in progress: this module goes (the endpoint imports it again for the next
    Block1 that has more to come). At a body's last block it goes before the handler runs, so
    what the handler does with the whole body (a firmware push's check) has this heap too;
    the last block's answer needs nothing of it (coap.server echoes its Block1)."""
    if not ep._b1:
        unload("block")


def server_answer(ep, req, peer, resp, ok):
    """For a block with more to come: 2.31 Continue when accepted, with the Block1 echo; an
    error drops the body's state."""
    num, more, szx = block_parts(req.uint(_BLOCK1))
    if ok:
        resp.code = _CONTINUE
        if resp.opt(_BLOCK1) is None:
            resp.add(_BLOCK1, block_value(num, more, szx))
    elif resp.code != _REQUEST_ENTITY_INCOMPLETE:  # not our answer to a stray block
        st = _find(ep, peer, req)[1]
        if st is not None:
            ep._b1.remove(st)
    _gone(ep)


def expire(ep, now):
    b1 = ep._b1
    diff = time.ticks_diff
    for st in b1[:]:
        if diff(st[3], now) <= 0:
            b1.remove(st)
    _gone(ep)  # all given up: go too
