"""CoAP demo program for the interop tests, run under the MicroPython unix port (or CPython).

  micropython coap_demo_app.py server PORT [OBS_PERIOD_MS]
      /hello GET; /store GET PUT POST DELETE; /big GET (3000 bytes -> Block2); /upload PUT/POST
      (Block1, hashed as it streams; GET gives the last result); /obs observable counter bumped
      every OBS_PERIOD_MS; /obscount GET number of live observations.
  micropython coap_demo_app.py client SMALL_URI BIG_URI
      GET SMALL_URI, then a Block2 download of BIG_URI streamed into sha256.
Prints one event per line on stdout (flushed): READY, OBS_START, OBS_CANCEL, GET, DL (code length sha256 gaps blocks), DONE.
"""
import binascii
import hashlib
import sys
import time

from app_common import Period, say  # before lib/'s packages: it puts lib/ on the path
from coap import msg as M
from coap.endpoint import Endpoint
from coap.runner import Runner, resolve


def _code_str(code):
    return "%d.%02d" % (code >> 5, code & 31)  # 0x45 -> "2.05"


def big_payload(n):
    """Deterministic bytes that reveal any misplaced block: byte i is (i * 7 + i // 256) & 0xFF."""
    return bytes(((i * 7 + (i >> 8)) & 0xFF) for i in range(n))


def _hex(h):
    return binascii.hexlify(h.digest()).decode()


class App:
    def __init__(self, period_ms):
        self.ep = Endpoint(self.handle)
        self.store = None
        self.big = big_payload(3000)
        self.up_hash = None
        self.up_len = 0
        self.up_result = b"none"
        self.counter = 0
        self.observers = []
        self.period = Period(period_ms)

    def _resp(self, code, payload=b"", cf=None):
        r = M.Message(code=code, payload=payload)
        if cf is not None:
            r.add(M.CONTENT_FORMAT, cf)
        return r

    def handle(self, req, peer, now):
        path = "/".join(req.path())
        code = req.code
        if path == "hello":
            if code != M.GET:
                return self._resp(M.METHOD_NOT_ALLOWED)
            return self._resp(M.CONTENT, b"Hello from MicroPython", 0)
        if path == "store":
            if code == M.GET:
                if self.store is None:
                    return self._resp(M.NOT_FOUND)
                return self._resp(M.CONTENT, self.store, 0)
            if code == M.PUT:
                created = self.store is None
                self.store = bytes(req.payload)
                return self._resp(M.CREATED if created else M.CHANGED)
            if code == M.POST:
                self.store = (self.store or b"") + bytes(req.payload)
                return self._resp(M.CHANGED)
            if code == M.DELETE:
                self.store = None
                return self._resp(M.DELETED)
        if path == "big" and code == M.GET:
            return self._resp(M.CONTENT, self.big, 42)
        if path == "upload":
            return self.upload(req)
        if path == "obs" and code == M.GET:
            ob = req.uint(M.OBSERVE)
            if ob == 0:
                o = self.ep.observe(req, peer, self.cancelled)
                self.observers.append(o)
                say("OBS_START", binascii.hexlify(req.token).decode())
            elif ob == 1:
                say("OBS_DEREG", binascii.hexlify(req.token).decode())
                self.drop(req.token, peer)
            return self._resp(M.CONTENT, str(self.counter).encode(), 0)
        if path == "obscount" and code == M.GET:
            return self._resp(M.CONTENT, str(len(self.observers)).encode(), 0)
        return self._resp(M.NOT_FOUND)

    def upload(self, req):
        if req.code == M.GET:
            return self._resp(M.CONTENT, self.up_result, 0)
        if req.code not in (M.PUT, M.POST):
            return self._resp(M.METHOD_NOT_ALLOWED)
        b1 = req.uint(M.BLOCK1)
        num, more = (0, False) if b1 is None else M.block_parts(b1)[:2]
        if num == 0:
            self.up_hash = hashlib.sha256()
            self.up_len = 0
        self.up_hash.update(req.payload)  # streamed: no block is kept after this line
        self.up_len += len(req.payload)
        if more:
            return self._resp(M.CHANGED)
        self.up_result = ("%d %s" % (self.up_len, _hex(self.up_hash))).encode()
        say("UPLOAD", self.up_result.decode())
        return self._resp(M.CHANGED, self.up_result, 0)

    def drop(self, token, peer):
        for o in list(self.observers):
            if o.token == token and o.peer == peer:
                self.observers.remove(o)
                say("OBS_CANCEL", binascii.hexlify(token).decode())

    def cancelled(self, obs):
        if obs in self.observers:
            self.observers.remove(obs)
            say("OBS_CANCEL", binascii.hexlify(obs.token).decode())

    def bump(self, now):
        left = self.period.left(now)
        if left:
            return left
        self.counter += 1
        for o in list(self.observers):
            self.ep.notify(o, M.CONTENT, str(self.counter).encode(), 0, now)
        return self.period.ms


def server(port, period):
    app = App(period)
    r = Runner(app.ep, port)
    r.add_hook(app.bump)
    say("READY", port)
    try:
        r.run()
    finally:
        r.close()


def client(small_uri, big_uri):
    ep = Endpoint()
    r = Runner(ep, 0)
    state = {"left": 2}

    def req(uri):
        _, _, _, peer = resolve(uri)
        m = M.Message(M.CON, M.GET)
        m.set_path(uri.split("://", 1)[1].partition("/")[2])
        return m, peer

    def got_small(resp, now):
        if resp is None:
            say("GET none")
        else:
            say("GET", _code_str(resp.code), len(resp.payload), bytes(resp.payload).decode())
        state["left"] -= 1

    h = hashlib.sha256()
    st = {"n": 0, "next": 0, "bad": 0, "blocks": 0}

    def sink(offset, data):
        if offset != st["next"]:
            st["bad"] += 1  # a gap or repeat would corrupt the hash, so make it visible
        h.update(data)
        st["n"] += len(data)
        st["next"] = offset + len(data)
        st["blocks"] += 1

    def done(code, now):
        say("DL", "none" if code is None else _code_str(code), st["n"], _hex(h), st["bad"],
            st["blocks"])
        state["left"] -= 1

    now = time.ticks_ms()
    m, peer = req(small_uri)
    ep.request(m, peer, now, got_small)
    m, peer = req(big_uri)
    ep.download(m, peer, now, sink, done)
    try:
        r.run(lambda: state["left"] <= 0)
    finally:
        r.close()
    say("DONE")


def main(argv):
    if len(argv) >= 2 and argv[0] == "server":
        server(int(argv[1]), int(argv[2]) if len(argv) > 2 else 300)
    elif len(argv) == 3 and argv[0] == "client":
        client(argv[1], argv[2])
    else:
        say("usage: coap_demo_app.py server PORT [OBS_MS] | client SMALL_URI BIG_URI")
        sys.exit(2)


main(sys.argv[1:])
