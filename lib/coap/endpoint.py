"""Sans-I/O CoAP endpoint (RFC 7252): MIDs, tokens, CON retransmission, dedup, RST and client
exchanges. The server side (answering requests, Observe) is its base class coap.server.Server;
Block1 sequencing is coap.block, and the client block-wise transfers are coap.transfer (a
Block2 download) and coap.upload (a Block1 upload), each loaded on first use."""
import time

from micropython import const

from coap.server import Server
from coap.retry import urandom_int as _rand
from coap.msg import Message, DecodeError, decode

# coap.msg's numbers, as private consts: folded into the code, where an imported name costs
# heap on a board
_CON = const(0)
_NON = const(1)
_ACK = const(2)
_RST = const(3)
_EMPTY = const(0)
_INTERNAL_SERVER_ERROR = const(0xA0)  # 5.00

# RFC 7252 4.8 transmission parameters, in ms; private: folded into the code, they cannot be
# changed at run time, and a public name would cost heap
_ACK_TIMEOUT = const(2000)
_ACK_RANDOM_FACTOR_PCT = const(150)  # ACK_RANDOM_FACTOR 1.5
_MAX_RETRANSMIT = const(4)
_EXCHANGE_LIFETIME = const(247000)
_MAX_TRANSMIT_WAIT = const(93000)  # ACK_TIMEOUT * (2 ** (MAX_RETRANSMIT + 1) - 1) * 1.5

# exchange states
_DONE = const(-1)
_QUEUED = const(0)
_OUTSTANDING = const(1)  # holds the peer's NSTART slot
_WAITING = const(2)  # ACKed, separate response still to come

# A CON we sent and retransmit until ACK, RST or give-up is a list (a class costs more heap):
# [peer, MID, data, deadline, timeout, count, owner], owner an _Exchange, a
# server.Observation or None (separate response). coap.server relies on _T_MID and _T_DATA.
_T_PEER = const(0)
_T_MID = const(1)
_T_DATA = const(2)
_T_DEADLINE = const(3)
_T_TIMEOUT = const(4)
_T_COUNT = const(5)
_T_OWNER = const(6)


def _empty(typ, mid):
    return bytes((0x40 | (typ << 4), 0, (mid >> 8) & 0xFF, mid & 0xFF))


class _Exchange:
    """Handle of a client request: cancel() stops it without calling cb."""

    def __init__(self, ep, peer, msg, cb):
        self.ep = ep
        self.peer = peer
        self.msg = msg
        self.cb = cb
        self.state = _QUEUED
        self.tx = None
        self.deadline = None

    def cancel(self):
        self.ep._complete(self, None, 0, False)


class Endpoint(Server):
    dedup_size = 16  # remembered (peer, MID) of received requests and CON responses
    max_observations = 32  # all servers together; lwm2m.report bounds each server further
    max_block1 = 4  # concurrent Block1 transfers we receive
    max_exchanges = 16  # our own requests, in flight plus queued
    max_szx = 6  # largest block we send or accept: 16 << 6 = 1024 bytes
    token_len = 4

    def __init__(self, handler=None, rand=None):
        self.handler = handler
        self.rand = rand or _rand
        self.out = []
        self.errors = 0  # internal faults swallowed so receive()/tick() never raise
        self.last_error = None
        # the MID last sent; lwm2m.sleep saves and restores it so MIDs go on across deep sleep
        self.last_mid = self.rand(0x10000)
        self._tx = []
        self._ex = []
        # peer, mid, expiry, reply bytes or None (ignore): 4 slots per request, oldest first (one
        # flat list: a list per entry cost 20 B more each, and the table fills in normal use).
        # Its room is taken once, here, as a buffer is: a list keeps its allocation when items
        # are deleted (MicroPython shrinks it only on clear()), so the table never regrows by
        # doubling under a step's peak (a push's blocks filled it: 320 B, 32-bit) nor leaves
        # the smaller lists it outgrew as holes
        d = self._dedup = [None] * (4 * self.dedup_size)
        del d[:]
        self.observations = []  # server.Observation, in the order they came
        self._b1 = []  # [peer, path, next offset, expiry, MID of the last block] (coap.block)
        self._carry = None

    # ---- helpers
    def _call(self, fn, a, b):
        """fn(a, b), True; an exception from it is counted and kept, False. Two arguments, not
        *args: under every block of a pull it runs twice, and the tuple cost 16 B each."""
        try:
            fn(a, b)
            return True
        except Exception as e:
            self.errors += 1
            self.last_error = e
            return False

    def _next_mid(self):
        self.last_mid = m = (self.last_mid + 1) & 0xFFFF
        return m

    def _con(self, data, peer, mid, owner, now):
        t = _ACK_TIMEOUT + self.rand(_ACK_TIMEOUT * (_ACK_RANDOM_FACTOR_PCT - 100) // 100 + 1)
        tx = [peer, mid, data, time.ticks_add(now, t), t, 0, owner]
        self._tx.append(tx)
        self.out.append((data, peer))
        return tx

    def _encode(self, m):
        try:
            return m.encode()
        except Exception as e:  # a handler put something unencodable in its response
            self.errors += 1
            self.last_error = e
            return Message(m.type, _INTERNAL_SERVER_ERROR, m.mid, m.token).encode()

    def _remember(self, peer, mid, now, reply):
        """Once a request (or a CON response) has its reply: a duplicate gets reply again (None:
        is ignored) until EXCHANGE_LIFETIME has passed."""
        d = self._dedup
        size = self.dedup_size
        while d and len(d) >= size * 4:
            del d[:4]
        if size > 0:
            d.extend((peer, mid, time.ticks_add(now, _EXCHANGE_LIFETIME), reply))

    # ---- receive path
    def receive(self, data, peer, now):
        """Handle one datagram; answers go to self.out. Never raises."""
        try:
            try:
                m = decode(data)
            except DecodeError:
                # a malformed CON is rejected; anything else malformed is silently ignored
                if len(data) >= 4 and data[0] & 0xF0 == 0x40:
                    self.out.append((_empty(_RST, (data[2] << 8) | data[3]), peer))
                return
            t = m.type
            c = m.code
            if c == _EMPTY:
                if t == _CON:
                    self.out.append((_empty(_RST, m.mid), peer))  # ping
                elif t != _NON:
                    ex = self._acked(m, peer, now)
                    if ex is not None:
                        self._complete(ex, None, now)  # an RST to our request
                return
            if t <= _NON:
                d = self._dedup
                for i in range(0, len(d), 4):
                    if d[i + 1] == m.mid and d[i] == peer:
                        if d[i + 3] is not None:
                            self.out.append((d[i + 3], peer))
                        return
            if c < 32:
                if t <= _NON:
                    self._serve(m, peer, now)
                return
            if t == _ACK:
                ex = self._acked(m, peer, now)
                if ex is not None:
                    self._complete(ex, m, now)  # _acked's frame gone: under every pull block
                return
            if t == _RST:
                return
            ex = None  # the request this separate response answers
            for x in self._ex:
                if x.state > _QUEUED and x.peer == peer and x.msg.token == m.token:
                    ex = x
                    break
            if t == _CON:
                if ex is None:
                    self.out.append((_empty(_RST, m.mid), peer))
                    return
                ack = _empty(_ACK, m.mid)
                self.out.append((ack, peer))
                self._remember(peer, m.mid, now, ack)
            if ex is not None:
                self._complete(ex, m, now)
        except Exception as e:
            self.errors += 1
            self.last_error = e

    def _acked(self, m, peer, now):
        """An ACK or RST m of a CON we sent: the request exchange it ends, which the caller
        completes (with m, or None for an RST), so that this frame is gone under the callback
        (a block of a pull: 96 B, 32-bit); None when it ends none."""
        mid = m.mid
        for tx in self._tx:
            if tx[_T_MID] == mid and tx[_T_PEER] == peer:
                break
        else:
            if m.type == _RST:  # one answering a NON notification cancels that observation
                for o in self.observations:
                    if o.peer == peer and o.mid == mid:
                        self.unobserve(o, True)
                        break
            return
        owner = tx[_T_OWNER]
        if isinstance(owner, _Exchange):
            if m.type == _RST:
                return owner
            if m.code != _EMPTY:
                return owner if m.token == owner.msg.token else None
            self._tx.remove(tx)
            owner.tx = None
            owner.state = _WAITING
            owner.deadline = time.ticks_add(now, _MAX_TRANSMIT_WAIT)
            self._kick(peer, now)
            return
        self._tx.remove(tx)
        if owner is not None:
            owner.tx = None
            if m.type == _RST:
                self.unobserve(owner, True)

    # ---- client side
    def request(self, msg, peer, now, cb):
        """Send msg (CON unless it is NON); cb(resp, now), or cb(None, now) on give-up or RST."""
        if len(msg.token) > 8:
            raise ValueError("token > 8 bytes")
        if len(self._ex) >= self.max_exchanges:
            raise OSError("too many requests")
        if not msg.token:
            t = bytearray(self.token_len)  # a loop: a comprehension is one more function
            for i in range(len(t)):
                t[i] = self.rand(256)
            msg.token = bytes(t)
        ex = _Exchange(self, peer, msg, cb)
        self._ex.append(ex)
        self._kick(peer, now)
        return ex

    def download(self, msg, peer, now, sink, done, szx=6, start_block=0):
        from coap import transfer

        return transfer.Transfer(self, msg, peer, done, min(szx, self.max_szx), sink,
                                 start_block, now)

    def upload(self, msg, peer, now, read, total, done, szx=6):
        from coap import upload

        return upload.Transfer(self, msg, peer, done, min(szx, self.max_szx), read, total, now)

    def _kick(self, peer, now):
        """NSTART = 1: start the oldest queued request of peer when none is outstanding."""
        first = None
        for ex in self._ex:
            if ex.peer == peer:
                if ex.state == _OUTSTANDING:
                    return
                if first is None and ex.state == _QUEUED:
                    first = ex
        if first is None:
            return
        m = first.msg
        m.mid = self._next_mid()  # always fresh: a reused Message must not hit the peer's dedup
        first.state = _OUTSTANDING
        data = self._encode(m)
        if m.type == _NON:
            first.deadline = time.ticks_add(now, _MAX_TRANSMIT_WAIT)
            self.out.append((data, peer))
        else:
            m.type = _CON
            first.tx = self._con(data, peer, m.mid, first, now)

    def _complete(self, ex, resp, now, call=True):
        if ex.state == _DONE:
            return
        ex.state = _DONE
        tx = ex.tx
        if tx is not None:
            ex.tx = None
            if tx in self._tx:
                self._tx.remove(tx)
        if ex in self._ex:
            self._ex.remove(ex)
        self._kick(ex.peer, now)  # first: what cb raises is counted by receive() or tick()
        if call:
            ex.cb(resp, now)  # not through _call: its frame was under every pull block (80 B)

    # ---- timers
    def tick(self, now):
        """Run due timers; returns ms until the next deadline, or None when nothing is pending."""
        diff = time.ticks_diff
        try:
            while True:  # again after timeouts: their callbacks may have started new timers
                gone = None  # timed out, handled after the loops since callbacks change the lists
                nxt = None
                for tx in self._tx:
                    t = diff(tx[_T_DEADLINE], now)
                    if t <= 0:
                        if tx[_T_COUNT] >= _MAX_RETRANSMIT:
                            gone = gone or []
                            gone.append(tx)
                            continue
                        tx[_T_COUNT] += 1
                        tx[_T_TIMEOUT] = t = tx[_T_TIMEOUT] * 2
                        tx[_T_DEADLINE] = time.ticks_add(now, t)
                        self.out.append((tx[_T_DATA], tx[_T_PEER]))
                    if nxt is None or t < nxt:
                        nxt = t
                for ex in self._ex:
                    if ex.tx is None and ex.state > _QUEUED:  # NON or ACKed: awaiting the response
                        t = diff(ex.deadline, now)
                        if t <= 0:
                            gone = gone or []
                            gone.append(ex)
                        elif nxt is None or t < nxt:
                            nxt = t
                d = self._dedup
                while d and diff(d[2], now) <= 0:
                    del d[:4]
                if self._b1:
                    from coap import block

                    block.expire(self, now)
                if not gone:
                    return nxt
                for x in gone:
                    if isinstance(x, _Exchange):
                        self._complete(x, None, now)
                    elif x in self._tx:
                        self._tx.remove(x)
                        owner = x[_T_OWNER]
                        if isinstance(owner, _Exchange):
                            owner.tx = None
                            self._complete(owner, None, now)
                        elif owner is not None:
                            owner.tx = None
                            if owner.on_timeout is not None:
                                self._call(owner.on_timeout, owner, now)
                            else:
                                self.unobserve(owner, True)
        except Exception as e:
            self.errors += 1
            self.last_error = e
            return _ACK_TIMEOUT
