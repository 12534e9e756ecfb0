"""Server side of the CoAP endpoint: answering requests (RFC 7252), separate responses and
Observe (RFC 7641); coap.endpoint.Endpoint is a Server. Block1 sequencing is in coap.block."""
from micropython import const

from coap.msg import Message, server_slice

# coap.msg's numbers, as private consts: folded into the code, where an imported name costs
# heap on a board
_CON = const(0)
_NON = const(1)
_ACK = const(2)
_GET = const(1)
_OBSERVE = const(6)
_CONTENT_FORMAT = const(12)
_BLOCK2 = const(23)
_BLOCK1 = const(27)
_BAD_OPTION = const(0x82)  # 4.02
_NOT_FOUND = const(0x84)  # 4.04
_INTERNAL_SERVER_ERROR = const(0xA0)  # 5.00

# critical options we understand in a request, as bits: 1 If-Match, 3 Uri-Host, 5 If-None-Match,
# 7 Uri-Port, 11 Uri-Path, 15 Uri-Query, 17 Accept, 23 Block2, 27 Block1; any other critical
# option gets 4.02 (RFC 7252 5.4.1)
_KNOWN_CRITICAL = const(0x88288AA)
_SEQ_MASK = const(0xFFFFFF)  # Observe values are 24-bit
# coap.endpoint's record of a CON in flight: [peer, MID, data, ...]
_T_MID = const(1)
_T_DATA = const(2)


def _one(fn, a):
    fn(a)  # for Endpoint._call, which passes two arguments


class Observation:
    """One registered observer; ctx is a free slot for the layer above.

    on_timeout: when set, a CON notification that is never ACKed calls on_timeout(obs, now); the
    observation stays (the layer above checks the peer another way); when None it is dropped
    and on_cancel runs, as RFC 7641 4.5 says. Some servers in the field never ACK notifications.
    """

    def __init__(self, peer, token, seq, on_cancel, szx):
        self.peer = peer
        self.token = token
        self.seq = seq
        self.ctx = None
        self.on_cancel = on_cancel
        self.on_timeout = None
        self.active = True
        self.mid = -1  # MID of the last NON notification, so an RST to it cancels
        self.tx = None  # in-flight CON notification
        self.szx = szx


class Server:
    """The server half of coap.endpoint.Endpoint (its base class): answering requests,
    separate responses, and the observations it keeps in self.observations."""

    def _serve(self, req, peer, now):
        # remembered once answered (Endpoint._remember): a handler that fails (out of memory
        # while answering) leaves nothing to replay, so its retransmission is handled afresh
        con = req.type == _CON
        resp = self._dispatch(req, peer, now)
        reply = None  # NON, or ignored: a duplicate gets nothing
        if resp is None and con:  # separate response to come through respond()
            reply = bytes((0x60, 0, req.mid >> 8, req.mid & 0xFF))  # an empty ACK
            self.out.append((reply, peer))
        elif resp is not None and resp is not False:  # False: nothing at all goes back
            data, _ = self._answer(req, peer, resp, _ACK if con else _NON,
                                   req.mid if con else self._next_mid())
            self.out.append((data, peer))
            if con:
                reply = data
        self._remember(peer, req.mid, now, reply)

    def _dispatch(self, req, peer, now):
        for n, _ in req.opts:
            if n & 1 and (n > 31 or not (_KNOWN_CRITICAL >> n) & 1):
                return Message(code=_BAD_OPTION)
        if req.opt(_BLOCK1) is not None:
            from coap import block  # loaded by the first Block1 request (a firmware push)

            r = block.server_check(self, req, peer, now)
            del block  # at a body's last block it is gone again: what the handler does has it
            if r is not None:
                return r
        self._carry = None
        v = req.opt(_OBSERVE) if req.code == _GET else None
        if v is not None:
            # a GET with Observe (0 or 1) ends any observation with the same token
            old = self._find_obs(peer, req.token)
            if old is not None:
                if len(v) <= 3 and not any(v):  # Observe=0: re-registration continues the sequence
                    self._carry = old.seq
                self.unobserve(old, True)
        h = self.handler
        if h is None:
            return Message(code=_NOT_FOUND)
        try:
            resp = h(req, peer, now)
            if resp is not None and resp is not False and not isinstance(resp, Message):
                raise TypeError("handler returned %r" % type(resp))
        except Exception as e:
            self.last_error = e
            resp = Message(code=_INTERNAL_SERVER_ERROR)
        self._carry = None
        return resp

    def _answer(self, req, peer, resp, typ, mid):
        """Fill in a handler's response and encode it; returns (bytes, observation or None)."""
        resp.type = typ
        resp.mid = mid
        resp.token = req.token
        ok = resp.code >> 5 == 2
        obs = None
        if req.code == _GET and req.opt(_OBSERVE) is not None:
            # Observe on the answer of an accepted registration; an error answer ends it
            obs = self._find_obs(peer, req.token)
            if obs is not None:
                if ok:
                    resp.remove(_OBSERVE)
                    resp.add(_OBSERVE, obs.seq)
                else:
                    self.unobserve(obs, True)
                    obs = None
        v = req.uint(_BLOCK1)
        if v is not None:
            if v & 8:  # more to come: 2.31 Continue, or the body forgotten on an error
                from coap import block

                block.server_answer(self, req, peer, resp, ok)
            elif ok and resp.opt(_BLOCK1) is None:
                resp.add(_BLOCK1, v)  # the last block's echo (coap.block is done with the body)
        if ok:
            num, szx = self._szx(req)
            if not server_slice(resp, num, szx):
                resp.code = _BAD_OPTION
                resp.payload = b""
                resp.opts = []
        data = self._encode(resp)
        if obs is not None and typ == _NON:
            obs.mid = mid
        return data, obs

    def respond(self, req, peer, resp, now):
        """Send the separate response to a request the handler answered with None."""
        try:
            con = req.type == _CON
            mid = self._next_mid()
            data, obs = self._answer(req, peer, resp, _CON if con else _NON, mid)
            if con:
                tx = self._con(data, peer, mid, obs, now)
                if obs is not None:
                    obs.tx = tx
            else:
                self.out.append((data, peer))
        except Exception as e:
            self.errors += 1
            self.last_error = e

    def _szx(self, req):
        """(block number, szx) a response to req is cut at: the client's Block2 or our max_szx."""
        v = req.uint(_BLOCK2)
        szx = self.max_szx
        if v is not None and (v & 7) < szx:
            szx = v & 7
        return (0 if v is None else v >> 4), szx

    # ---- Observe
    def observe(self, req, peer, on_cancel):
        """Accept the GET Observe=0 being handled; None when it can't be (the GET is then
        answered without Observe)."""
        if req.code != _GET or req.opt(_OBSERVE) is None or req.uint(_OBSERVE) != 0:
            return None
        o = self._find_obs(peer, req.token)
        if o is not None:
            return o
        if len(self.observations) >= self.max_observations:
            return None
        seq = 0 if self._carry is None else (self._carry + 1) & _SEQ_MASK
        o = Observation(peer, req.token, seq, on_cancel, self._szx(req)[1])
        self.observations.append(o)
        return o

    def unobserve(self, o, call=False):
        """End an observation from our side; on_cancel runs only when call is true (the peer or
        the protocol ended it)."""
        if not o.active:
            return
        o.active = False
        if o in self.observations:
            self.observations.remove(o)
        tx = o.tx
        if tx is not None:
            o.tx = None
            if tx in self._tx:
                self._tx.remove(tx)
        if call and o.on_cancel is not None:
            self._call(_one, o.on_cancel, o)

    def _find_obs(self, peer, token):
        for o in self.observations:
            if o.peer == peer and o.token == token:
                return o
        return None

    def notify(self, o, code, payload, content_format, now, con=False):
        """Send the next notification; False when the observation has ended."""
        try:
            if not o.active:
                return False
            ok = code >> 5 == 2
            o.seq = seq = (o.seq + 1) & _SEQ_MASK
            mid = self._next_mid()
            m = Message(_CON if con else _NON, code, mid, o.token, payload or b"")
            if ok:
                m.add(_OBSERVE, seq)
            if content_format is not None:
                m.add(_CONTENT_FORMAT, content_format)
            if ok:
                server_slice(m, 0, o.szx)
            data = self._encode(m)
            if not ok:
                # RFC 7641 3.2: a non-2.xx notification ends the observation
                self.unobserve(o, False)
            peer = o.peer
            if con:
                old = o.tx
                if old is not None and old in self._tx:
                    # RFC 7641 4.5.2: the new state replaces the one in flight, keeping its
                    # back-off
                    old[_T_DATA] = data
                    old[_T_MID] = mid
                    return True
                tx = self._con(data, peer, mid, o if ok else None, now)
                if ok:
                    o.tx = tx
            else:
                o.mid = mid
                self.out.append((data, peer))
            return True
        except Exception as e:
            self.errors += 1
            self.last_error = e
            return False
