"""Sleeping clients: the queue-mode wake/sleep cycle and the registration kept across deep sleep.

Loaded only when config.json has a sleep section (mode light or deep). Deep sleep loses RAM, so
before it the registration state goes where it costs least - RTC user memory (ESP32, no flash
write) when it fits, else one flash store record: per registered server its location, the
parameters the server knows (the link list as a CRC), the lifetime deadline in wall-clock
seconds; every observation with its token, Observe number, attributes, last value and ages;
stored notifications; the message-ID counter. On wake the state is taken (and erased, so it can
never be restored twice: that would reuse message IDs and Observe numbers the server has seen),
and each server whose lifetime still runs gets one Update - only what changed, seed 004 - never
a Register. Due notifications go out on the same tokens once the Update is answered. A missing or
torn state, an expired lifetime, a changed account, server address or own address: Register,
as on a cold boot. Firmware-transfer state needs nothing here: lwm2m.fwupdate keeps it in the
store already.
"""
import binascii
import json
import struct
import time

from micropython import const

from coap.msg import CONTENT
from coap.server import Observation

_MAGIC = b"LWS1"
_HDR = const(10)  # magic, payload length u16, CRC32 u32 (little-endian)
_MAXSPAN = const(1 << 28)
_MIN_LEFT_MS = const(5000)  # less lifetime than this left: the Update could arrive too late
RECORD = "sleep"


def _hex(b):
    return binascii.hexlify(bytes(b)).decode()


def _crc(b):
    return binascii.crc32(bytes(b)) & 0xFFFFFFFF


def peer_id(peer):
    """A JSON-safe runner peer (raw sockaddr bytes on the unix port, tuples elsewhere)."""
    if isinstance(peer, (bytes, bytearray)):
        return _hex(peer)
    return "%s:%s" % (peer[0], peer[1])


def encode(d):
    """RTC memory image: header then JSON; raises ValueError past 65535 bytes."""
    p = json.dumps(d).encode()
    if len(p) > 0xFFFF:
        raise ValueError("sleep state too large")
    return _MAGIC + struct.pack("<HI", len(p), _crc(p)) + p


def decode(raw):
    """The dict in an RTC memory image, or None when it is empty, torn or not ours."""
    if not raw or len(raw) < _HDR or bytes(raw[:4]) != _MAGIC:
        return None
    n, crc = struct.unpack("<HI", bytes(raw[4:_HDR]))
    p = bytes(raw[_HDR:_HDR + n])
    if len(p) != n or _crc(p) != crc:
        return None
    try:
        d = json.loads(p)
    except ValueError:
        return None
    return d if isinstance(d, dict) else None


def snapshot(client, now, wall_s, sleep_ms):
    """The state a deep sleep must not lose, as a JSON-able dict (see the module docstring)."""
    rep = client.reporter
    regs = []
    kept = []
    for ssid, r in client.regs.items():
        sent = r.server_view
        a = client.accts.get(ssid)
        if r.state != "registered" or not r.location or sent is None or a is None:
            continue  # not registered now: it registers on wake
        left = time.ticks_diff(r._expires, now) // 1000  # lifetime left (set: registered)
        # the location as its segments, as the record has always held it
        regs.append([ssid, a.uri, peer_id(r.peer), r.location[1:].split("/"), sent[0], sent[1],
                     _crc(sent[2]), wall_s + left])
        kept.append(ssid)
    obs = []
    idx = {}
    for lst in rep._by_oid.values():
        for rec in lst:
            o = rec.obs
            if rec.ssid not in kept or o.ctx is not rec:
                continue
            idx[id(rec)] = len(obs)
            obs.append([rec.ssid, _hex(o.token), o.seq, list(rec.path), rec.cf, o.szx, rec.val,
                        time.ticks_diff(now, rec.last), time.ticks_diff(now, rec.con),
                        rec.dirty, rec.n])
    stored = []
    for ssid, q in rep._stored.items():
        for at, rec, code, cf, payload in q:
            i = idx.get(id(rec))
            if i is not None:
                stored.append([i, time.ticks_diff(now, at), code, cf, _hex(payload)])
    attrs = [[k[0], list(k[1]), v] for k, v in client.dm.attrs.t.items() if k[0] in kept]
    return {"w": wall_s, "p": sleep_ms, "m": client.ep.last_mid, "l": local_addr(client), "r": regs,
            "o": obs, "s": stored, "a": attrs}


def local_addr(client):
    """Our own address as the servers see it (IP and the fixed local port deep sleep needs)."""
    ip = ""
    fn = getattr(client.platform, "ifconfig", None)
    if fn is not None:
        try:
            ip = fn()[0]
        except Exception:  # no network driver answer: counts as a change, so Register
            pass
    return "%s:%d" % (ip, client.cfg.get("local_port", 0))


def persist(store, rtc, d):
    """RTC memory when the state fits (no flash write), else the store; returns where it went."""
    if rtc is not None:
        data = encode(d)
        if len(data) <= rtc.size:
            rtc.write(data)
            return "rtc memory"
    store.save(RECORD, d)
    return "flash"


def take(store, rtc):
    """(state, where) saved before the last deep sleep, erased as it is taken; (None, why)."""
    if rtc is not None:
        raw = rtc.read()
        if raw:
            rtc.write(b"")
            d = decode(raw)
            if d is not None:
                return d, "rtc memory"
    d = store.load(RECORD)
    if d is not None:
        store.remove(RECORD)
        return d, "flash"
    return None, "no saved state" if rtc is None or not raw else "saved state torn"


class Resume:
    """client.resume(r, now): called for each server as its Registration is created; True when
    the saved registration was taken over (an Update is on its way), False to Register."""

    def __init__(self, client, d, wall_s, window_ms):
        self.c = client
        self.d = d
        # the sleep lasted at least what was planned, even where the RTC did not keep time
        self.el = max(wall_s - d["w"], d["p"] // 1000, 0)
        self.wall = d["w"] + self.el
        self.win = window_ms
        self.regs = {x[0]: x for x in d["r"]}
        self.resumed = 0
        # message IDs go on from there: a reused one inside the server's dedup window would be
        # taken for a retransmission and answered from its cache
        client.ep.last_mid = d["m"] & 0xFFFF

    def __call__(self, r, now):
        c = self.c
        x = self.regs.pop(r.ssid, None)
        if x is None:
            return False
        ssid, uri, pid, loc, lt, b, crc, exp = x
        a = c.accts.get(ssid)
        left = (exp - self.wall) * 1000
        why = None
        if a is None or a.uri != uri:
            why = "account changed"
        elif self.d.get("l") != local_addr(c):
            # the server's observations point at our old address: start clean
            why = "our address changed"
        elif peer_id(r.peer) != pid:
            why = "server address changed"
        elif left < _MIN_LEFT_MS:
            why = "lifetime expired during the sleep"
        if why is not None:
            c.log.info("sleep: server %d: %s: Register" % (ssid, why))
            return False
        links = bytes(c.registry.objects_links())
        # an unchanged list is not sent again; a changed one goes in the Update (seed 004)
        # take over the registration the server still holds: its location, (lt, b, links) as the
        # server knows them, the lifetime left. Registration's own fields, set here: this is
        # their only such user, and a method would be resident in every client
        r.location = "/" + "/".join(loc) if loc else None
        r.server_view = (lt, b, links if _crc(links) == crc else b"")
        r.state = "registered"
        r._expires = time.ticks_add(now, min(left, _MAXSPAN))
        r.queue_window_ms = self.win
        self._observations(ssid, r, now)
        r.trigger_update(now)
        self.resumed += 1
        c.log.info("sleep: resumed %s as %s after %d s (%d s of lifetime left): Update" % (
            uri, r.location, self.el, left // 1000))
        return True

    def _ago(self, now, ms):
        return time.ticks_add(now, -min(ms + self.el * 1000, _MAXSPAN))

    def _observations(self, ssid, r, now):
        c = self.c
        rep = c.reporter
        for k in self.d["a"]:
            if k[0] == ssid:
                c.dm.attrs.set(ssid, tuple(k[1]), k[2])
        recs = {}
        for i, x in enumerate(self.d["o"]):
            if x[0] != ssid or not rep.room(ssid):
                continue
            tok, seq, path, cf, szx, val, last, con, dirty, n = x[1:]
            # its token and Observe number go on, so the observer sees the next notification as
            # the newest of the same observation
            o = Observation(r.peer, binascii.unhexlify(tok), seq, rep.remove, szx)
            c.ep.observations.append(o)
            o.on_timeout = c._notify_timeout
            if not rep.add(ssid, o, path, cf, now):
                continue
            rec = o.ctx
            rec.last = self._ago(now, last)
            rec.con = self._ago(now, con)
            rec.n = n
            rec.val = val
            rec.dirty = dirty or self._moved(rep, rec, val)
            recs[i] = rec
        for i, age, code, cf, payload in self.d["s"]:
            rec = recs.get(i)
            if rec is not None:
                rep._keep(ssid, (self._ago(now, age), rec, code, cf, binascii.unhexlify(payload)))

    def _moved(self, rep, rec, val):
        """The wake-time sample: gt/lt/st crossed, or (no conditions) the value changed."""
        if len(rec.path) != 3 or val is None:
            return False
        if rec.gt is not None or rec.lt is not None or rec.st is not None:
            return rep._conditions(rec)
        try:
            return rep._read(rec.ssid, rec.path, rec.cf)[2] != val
        except Exception:
            return True


class _CountFs:
    """The store's filesystem, counting flash writes (file opened for writing, rename, remove,
    mkdir that succeeded) for the per-wake figure."""

    def __init__(self, fs):
        self.fs = fs
        self.writes = 0

    def open(self, path, mode):
        f = self.fs.open(path, mode)
        if "w" in mode or "a" in mode:
            self.writes += 1
        return f

    def rename(self, a, b):
        self.fs.rename(a, b)
        self.writes += 1

    def remove(self, path):
        self.fs.remove(path)
        self.writes += 1

    def mkdir(self, path):
        self.fs.mkdir(path)
        self.writes += 1

    def listdir(self, path):
        return self.fs.listdir(path)

    def stat(self, path):
        return self.fs.stat(path)

    def sync(self):
        fn = getattr(self.fs, "sync", None)
        if fn:
            fn()


class Stats:
    """Datagrams and bytes each way through the runner and endpoint of one wake."""

    def __init__(self, runner, ep):
        self.tx = self.txb = self.rx = self.rxb = 0
        send = runner.sendto
        recv = ep.receive

        def sendto(data, peer):
            self.tx += 1
            self.txb += len(data)
            send(data, peer)

        def receive(data, peer, now):
            self.rx += 1
            self.rxb += len(data)
            recv(data, peer, now)

        runner.sendto = sendto
        ep.receive = receive

    def line(self):
        return "sent %d datagrams %d B, received %d datagrams %d B" % (
            self.tx, self.txb, self.rx, self.rxb)


def asleep(client):
    """Every server registered with its queue-mode window closed and nothing in flight (no
    request, retransmission or block-wise transfer either way)."""
    if not client.started or not client.regs:
        return False
    bs = client.bs
    if bs is not None and bs.active:
        return False
    for r in client.regs.values():
        if r.state != "registered" or r.awake:
            return False
    ep = client.ep
    # _b1: a firmware push (Block1) under way; a pull is one of our requests (_ex)
    return not (ep._ex or ep._tx or ep.out or ep._b1 or client._pending)


def sleep_ms(client, now, interval_ms):
    """The configured interval, shortened so the wake comes before an Update falls due."""
    ms = interval_ms
    for r in client.regs.values():
        d = r.tick(now)
        if d is not None and d < ms:
            ms = d
    return max(0, ms)


def cycle(client, runner, sc, feed=None):
    """Run the client awake until every server's window closed, sleep, wake, again; returns only
    when the client stopped. Deep sleep does not return (a board resets, the host process exits
    with board.sleep.DEEPSLEEP_EXIT)."""
    from board import sleep as bs

    log = client.log
    store = client.store
    fs = store.fs = _CountFs(store.fs)
    stats = Stats(runner, client.ep)
    rtc = bs.rtc_memory(store.root)
    win = sc["awake"] * 1000
    wd = client.cfg.get("watchdog_ms") or 0
    chunk = min(4000, wd // 2) if wd else 4000  # sleep no longer than half the WDT period
    t0 = time.ticks_ms()
    d, where = take(store, rtc)
    res = None
    if d is not None:
        res = Resume(client, d, bs.wall(), win)
        log.info("sleep: state from %s (%d server(s), %d observation(s))" % (
            where, len(d["r"]), len(d["o"])))
    else:
        log.info("sleep: %s: Register" % where)

    def hook(r, now):
        r.queue_window_ms = win  # before its first exchange: the window follows the config
        return res is not None and res(r, now)

    client.resume = hook

    def done():
        return client.stopped or asleep(client)

    while True:
        runner.run(done)
        if client.stopped:
            return
        now = time.ticks_ms()
        ms = sleep_ms(client, now, sc["interval"] * 1000)
        awake = time.ticks_diff(now, t0)
        if sc["mode"] == "deep":
            st = snapshot(client, now, bs.wall(), ms)
            try:
                where = persist(store, rtc, st)
            except (OSError, ValueError) as e:  # the wake then registers; never a wrong state
                where = "nowhere (%r)" % (e,)
            log.info("sleep: wake done: awake %d ms, %s, flash writes %d; deep sleep %d ms, "
                     "state in %s" % (awake, stats.line(), fs.writes, ms, where))
            bs.deepsleep(ms, feed, chunk)
        log.info("sleep: wake done: awake %d ms, %s, flash writes %d; light sleep %d ms" % (
            awake, stats.line(), fs.writes, ms))
        bs.lightsleep(ms, feed, chunk)
        t0 = now = time.ticks_ms()
        fs.writes = 0
        stats.tx = stats.txb = stats.rx = stats.rxb = 0
        for r in client.regs.values():
            r.wake(now)  # the Update re-opens the window; the server sends what it held
        runner.wake()
