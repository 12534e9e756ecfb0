"""Server side of CoAP Observe (RFC 7641): observation records and notification sending."""
from micropython import const

from coap.msg import CON, NON, GET, OBSERVE, CONTENT_FORMAT, Message, server_slice

_SEQ_MASK = const(0xFFFFFF)  # Observe values are 24-bit


class Observation:
    """One registered observer; ctx is a free slot for the layer above.

    on_timeout: when set, a CON notification that is never ACKed calls on_timeout(obs, now); the
    observation stays (the layer above checks the peer another way); when None it is dropped
    and on_cancel runs, as RFC 7641 4.5 says. Some servers in the field never ACK notifications.
    """

    __slots__ = ("peer", "token", "seq", "ctx", "on_cancel", "on_timeout", "active", "mid", "tx",
                 "szx")

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

    def __repr__(self):
        return "<Observation %s seq=%d>" % (bytes(self.token).hex(), self.seq)


def find(ep, peer, token):
    for o in ep._obs:
        if o.peer == peer and o.token == token:
            return o
    return None


def before_handler(ep, req, peer):
    """A GET with Observe (0 or 1) ends any observation with the same token; 0 may re-register."""
    ep._carry = None
    if req.code != GET:
        return
    v = req.opt(OBSERVE)
    if v is None:
        return
    old = find(ep, peer, req.token)
    if old is not None:
        if len(v) <= 3 and not any(v):  # Observe=0: re-registration continues the sequence
            ep._carry = old.seq
        drop(ep, old, True)


def register(ep, req, peer, on_cancel, szx):
    if req.code != GET or req.opt(OBSERVE) is None or req.uint(OBSERVE) != 0:
        return None
    o = find(ep, peer, req.token)
    if o is not None:
        return o
    if len(ep._obs) >= ep.max_observations:
        return None
    seq = 0 if ep._carry is None else (ep._carry + 1) & _SEQ_MASK
    o = Observation(peer, req.token, seq, on_cancel, szx)
    ep._obs.append(o)
    return o


def on_response(ep, req, peer, resp, ok):
    """Add Observe to the answer of an accepted registration; an error answer ends it."""
    if req.code != GET or req.opt(OBSERVE) is None:
        return None
    o = find(ep, peer, req.token)
    if o is None:
        return None
    if not ok:
        drop(ep, o, True)
        return None
    resp.remove(OBSERVE)
    resp.add(OBSERVE, o.seq)
    return o


def drop(ep, o, call):
    if not o.active:
        return
    o.active = False
    if o in ep._obs:
        ep._obs.remove(o)
    tx = o.tx
    if tx is not None:
        o.tx = None
        if tx in ep._tx:
            ep._tx.remove(tx)
    if call and o.on_cancel is not None:
        ep._call(o.on_cancel, o)


def rst(ep, peer, mid):
    """An RST answering a NON notification cancels that observation."""
    for o in ep._obs:
        if o.peer == peer and o.mid == mid:
            drop(ep, o, True)
            return


def notify(ep, o, code, payload, content_format, now, con):
    if not o.active:
        return False
    ok = code >> 5 == 2
    o.seq = seq = (o.seq + 1) & _SEQ_MASK
    mid = ep._next_mid()
    m = Message(CON if con else NON, code, mid, o.token, payload or b"")
    if ok:
        m.add(OBSERVE, seq)
    if content_format is not None:
        m.add(CONTENT_FORMAT, content_format)
    if ok:
        server_slice(m, 0, o.szx)
    data = ep._encode(m)
    if not ok:
        # RFC 7641 3.2: a non-2.xx notification ends the observation
        drop(ep, o, False)
    peer = o.peer
    if con:
        old = o.tx
        if old is not None and old in ep._tx:
            # RFC 7641 4.5.2: the new state replaces the one in flight, keeping its back-off
            old.data = data
            old.mid = mid
            return True
        tx = ep._con(data, peer, mid, o if ok else None, now)
        if ok:
            o.tx = tx
    else:
        o.mid = mid
        ep.out.append((data, peer))
    return True
