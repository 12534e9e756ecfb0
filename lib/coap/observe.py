"""Server side of CoAP Observe (RFC 7641): observation records and notification sending."""
from micropython import const

from coap.msg import Message, server_slice

# coap.msg's numbers, as private consts: folded into the code, where an imported name costs
# heap on a board
_CON = const(0)
_NON = const(1)
_GET = const(1)
_OBSERVE = const(6)
_CONTENT_FORMAT = const(12)

_SEQ_MASK = const(0xFFFFFF)  # Observe values are 24-bit
# coap.endpoint's record of a CON in flight: [peer, MID, data, ...]
_T_MID = const(1)
_T_DATA = const(2)


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


class Observer:
    """The Observe half of coap.endpoint.Endpoint (its base class): the methods that keep
    self.observations."""

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

    def restore_observation(self, peer, token, seq, on_cancel, szx=6):
        """An observation carried over a restart (lwm2m.sleep): its token and Observe number go
        on, so the observer sees the next notification as the newest of the same observation."""
        o = Observation(peer, token, seq, on_cancel, szx)
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
            self._call(o.on_cancel, o)

    def _find_obs(self, peer, token):
        for o in self.observations:
            if o.peer == peer and o.token == token:
                return o
        return None

    def _before_handler(self, req, peer):
        """A GET with Observe (0 or 1) ends any observation with the same token; 0 may
        re-register."""
        self._carry = None
        if req.code != _GET:
            return
        v = req.opt(_OBSERVE)
        if v is None:
            return
        old = self._find_obs(peer, req.token)
        if old is not None:
            if len(v) <= 3 and not any(v):  # Observe=0: re-registration continues the sequence
                self._carry = old.seq
            self.unobserve(old, True)

    def _on_response(self, req, peer, resp, ok):
        """Add Observe to the answer of an accepted registration; an error answer ends it."""
        if req.code != _GET or req.opt(_OBSERVE) is None:
            return None
        o = self._find_obs(peer, req.token)
        if o is None:
            return None
        if not ok:
            self.unobserve(o, True)
            return None
        resp.remove(_OBSERVE)
        resp.add(_OBSERVE, o.seq)
        return o

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
