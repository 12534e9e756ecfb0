"""Local LwM2M 1.0 server and bootstrap server on aiocoap: an independent test peer (CPython only)."""
# It is a test peer, so it follows the LwM2M 1.0 TS, not our client: it must not import lib/.
import asyncio
import collections
import copy
import json
import secrets
import struct
import time
from dataclasses import dataclass, field

import aiocoap
import aiocoap.resource
from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption

CF_TEXT = 0
CF_LINK = 40
CF_OPAQUE = 42
CF_TLV = 11542
CF_JSON = 11543
CF_NAMES = {0: "text", 40: "link", 42: "opaque", 11542: "tlv", 11543: "json",
            1541: "text(1541)", 1542: "tlv(1542)", 1543: "json(1543)", 1544: "opaque(1544)"}

BINDINGS = ("U", "UQ", "S", "SQ", "US", "UQS")
SEC_MODES = {"psk": 0, "rpk": 1, "cert": 2, "x509": 2, "nosec": 3}


# ---------------------------------------------------------------- TLV (11542)
_KINDS = ("instance", "resource_instance", "multiple", "resource")


def tlv_entries(data):
    """Flat list of (kind, id, value bytes) for the top level of a TLV payload; raises ValueError."""
    data = bytes(data)
    out = []
    i = 0
    n = len(data)
    while i < n:
        t = data[i]
        i += 1
        idlen = 2 if t & 0x20 else 1
        lenlen = (t >> 3) & 3
        if i + idlen + lenlen > n:
            raise ValueError("truncated TLV header at %d" % (i - 1))
        ident = int.from_bytes(data[i:i + idlen], "big")
        i += idlen
        if lenlen:
            length = int.from_bytes(data[i:i + lenlen], "big")
            i += lenlen
        else:
            length = t & 7
        if i + length > n:
            raise ValueError("TLV value overruns payload at id %d" % ident)
        out.append((_KINDS[t >> 6], ident, data[i:i + length]))
        i += length
    return out


def decode_tlv(data):
    """Nested dicts of raw bytes: {iid: {rid: b".."}} for instances, {rid: b".."} for resources,
    {rid: {riid: b".."}} for multiple resources."""
    out = {}
    for kind, ident, value in tlv_entries(data):
        if kind in ("instance", "multiple"):
            out[ident] = decode_tlv(value)
        else:
            out[ident] = value
    return out


def tlv_int(b):
    if len(b) not in (1, 2, 4, 8):
        raise ValueError("bad TLV integer length %d" % len(b))
    return int.from_bytes(b, "big", signed=True)


def tlv_float(b):
    if len(b) == 4:
        return struct.unpack(">f", b)[0]
    if len(b) == 8:
        return struct.unpack(">d", b)[0]
    raise ValueError("bad TLV float length %d" % len(b))


def tlv_bool(b):
    if len(b) != 1 or b[0] > 1:
        raise ValueError("bad TLV boolean %r" % b)
    return b[0] == 1


def tlv_str(b):
    return bytes(b).decode("utf-8")


def tlv_objlnk(b):
    if len(b) != 4:
        raise ValueError("bad TLV objlnk length %d" % len(b))
    return (int.from_bytes(b[:2], "big"), int.from_bytes(b[2:], "big"))


class ObjLnk(tuple):
    """Object link value (object id, instance id) for the TLV encoder."""

    def __new__(cls, obj, inst):
        return tuple.__new__(cls, (obj, inst))


def encode_value(v):
    """TLV value bytes of a Python value: smallest signed int, 8-byte float, 1-byte bool, UTF-8 str."""
    if isinstance(v, bool):
        return b"\x01" if v else b"\x00"
    if isinstance(v, ObjLnk):
        return struct.pack(">HH", v[0], v[1])
    if isinstance(v, int):
        for size in (1, 2, 4, 8):
            lim = 1 << (size * 8 - 1)
            if -lim <= v < lim:
                return v.to_bytes(size, "big", signed=True)
        raise ValueError("integer out of 64-bit range")
    if isinstance(v, float):
        return struct.pack(">d", v)
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise TypeError("no TLV encoding for %r" % (v,))


def tlv_entry(kind, ident, value):
    """One TLV entry; kind is one of 'instance', 'resource_instance', 'multiple', 'resource'."""
    t = _KINDS.index(kind) << 6
    idb = ident.to_bytes(2 if ident > 255 else 1, "big")
    if ident > 255:
        t |= 0x20
    n = len(value)
    if n < 8:
        t |= n
        lb = b""
    elif n < 0x100:
        t |= 0x08
        lb = bytes([n])
    elif n < 0x10000:
        t |= 0x10
        lb = n.to_bytes(2, "big")
    else:
        t |= 0x18
        lb = n.to_bytes(3, "big")
    return bytes([t]) + idb + lb + value


def tlv_resource(rid, value):
    """A resource: dict/list values become a multiple resource of resource instances."""
    if isinstance(value, (list, tuple)) and not isinstance(value, ObjLnk):
        value = dict(enumerate(value))
    if isinstance(value, dict):
        inner = b"".join(tlv_entry("resource_instance", k, encode_value(v)) for k, v in sorted(value.items()))
        return tlv_entry("multiple", rid, inner)
    return tlv_entry("resource", rid, encode_value(value))


def encode_tlv(resources):
    """Resources of one instance, {rid: value}, as a TLV payload without the instance wrapper."""
    return b"".join(tlv_resource(rid, v) for rid, v in sorted(resources.items()))


def tlv_instance(iid, resources):
    return tlv_entry("instance", iid, encode_tlv(resources))


def encode_tlv_instances(instances):
    """{iid: {rid: value}} as object-instance TLVs (object-level writes and creates)."""
    return b"".join(tlv_instance(iid, res) for iid, res in sorted(instances.items()))


# Resource types of the 1.0 objects, for readable logs: s string, i integer, b boolean, o opaque,
# t time, f float; resources missing here are shown by guess.
RES_TYPES = {
    0: dict(enumerate("sbioooioosiii")),  # 0 URI .. 12 Bootstrap-Server Account Timeout
    1: {0: "i", 1: "i", 2: "i", 3: "i", 5: "i", 6: "b", 7: "s"},
    3: {0: "s", 1: "s", 2: "s", 3: "s", 6: "i", 7: "i", 8: "i", 9: "i", 10: "i", 11: "i", 13: "t", 14: "s",
        15: "s", 16: "s", 17: "s", 18: "s", 19: "s", 20: "i", 21: "i"},
    4: {0: "i", 1: "i", 2: "i", 3: "i", 4: "s", 5: "s", 6: "i", 7: "s", 8: "i", 9: "i", 10: "i"},
    5: {0: "o", 1: "s", 3: "i", 5: "i", 6: "s", 7: "s", 8: "i", 9: "i"},
}


def tlv_typed(b, kind):
    """A TLV value as Python: kind is one of s i b o t f (see RES_TYPES)."""
    if kind == "s":
        return tlv_str(b)
    if kind in ("i", "t"):
        return tlv_int(b)
    if kind == "b":
        return tlv_bool(b)
    if kind == "f":
        return tlv_float(b)
    return bytes(b)


def describe_payload(content_format, payload, path=None):
    """Short human-readable form of a response body for logs (path gives TLV resource types)."""
    if not payload:
        return "(empty)"
    try:
        if content_format in (CF_TLV, 1542):
            parts = _path_list(path or "")
            obj = int(parts[0]) if parts and parts[0].isdigit() else None
            rid = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
            return _describe_entries(payload, RES_TYPES.get(obj, {}), rid)
        if content_format in (CF_TEXT, 1541, CF_LINK, CF_JSON, 1543, None):
            return payload.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        pass
    return _hex(payload)


def _hex(b):
    return "%d bytes %s" % (len(b), b[:16].hex() + ("..." if len(b) > 16 else ""))


def _value(b, kind):
    if kind == "o":
        return "0x" + b.hex() if len(b) <= 16 else "<%s>" % _hex(b)
    if kind is not None:
        return repr(tlv_typed(b, kind))
    try:
        s = b.decode("utf-8")
        if len(b) >= 2 and s.isprintable():
            return repr(s)
    except UnicodeDecodeError:
        pass
    if len(b) in (1, 2, 4, 8):
        return str(tlv_int(b))
    return "0x" + b.hex()


def _describe_entries(data, types, rid):
    out = []
    for kind, ident, value in tlv_entries(data):
        if kind == "instance":
            out.append("%d:{%s}" % (ident, _describe_entries(value, types, None)))
        elif kind == "multiple":
            out.append("%d=[%s]" % (ident, _describe_entries(value, types, ident)))
        elif kind == "resource_instance":
            out.append("%d=%s" % (ident, _value(value, types.get(rid))))
        else:
            out.append("%d=%s" % (ident, _value(value, types.get(ident))))
    return " ".join(out)


# ---------------------------------------------------------------- link format
def parse_links(text):
    """CoRE link format to [(target, {attr: value or True})]; raises ValueError when malformed."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    parts, cur, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if quoted:
        raise ValueError("unterminated quote in link format")
    parts.append(cur)
    out = []
    for p in parts:
        p = p.strip()
        if not p:
            if text.strip():
                raise ValueError("empty link in %r" % text)
            continue
        if not p.startswith("<") or ">" not in p:
            raise ValueError("bad link %r" % p)
        target, _, rest = p[1:].partition(">")
        attrs = {}
        for a in rest.split(";")[1:]:
            k, eq, v = a.partition("=")
            attrs[k.strip()] = v.strip().strip('"') if eq else True
        if rest and not rest.startswith(";"):
            raise ValueError("bad link attributes %r" % p)
        out.append((target, attrs))
    return out


def format_links(links):
    return ",".join("<%s>" % t + "".join(";%s" % k if v is True else ";%s=%s" % (k, v) for k, v in a.items())
                    for t, a in links)


def _code_number(dotted):
    """'4.03' -> 0x83 (class << 5 | detail)."""
    c, _, d = dotted.partition(".")
    return int(c) << 5 | int(d)


def _path_list(path):
    return [p for p in path.strip("/").split("/") if p]


def _query(msg):
    out = {}
    for q in msg.opt.uri_query:
        k, eq, v = q.partition("=")
        out[k] = v if eq else True
    return out


# ---------------------------------------------------------------- records
class Response(collections.namedtuple("_Response", "code content_format payload")):
    """(code "2.05", content format int or None, payload bytes), plus .location and .message."""

    location = ""
    message = None

    @property
    def ok(self):
        return self.code.startswith("2.")

    @property
    def text(self):
        return self.payload.decode("utf-8")

    def tlv(self):
        return decode_tlv(self.payload)

    def describe(self, path=None):
        return "%s %s %s" % (self.code, CF_NAMES.get(self.content_format, self.content_format or "-"),
                             describe_payload(self.content_format, self.payload, path))


def _response(msg):
    cf = msg.opt.content_format
    r = Response(msg.code.dotted, None if cf is None else int(cf), bytes(msg.payload))
    r.location = "/" + "/".join(msg.opt.location_path) if msg.opt.location_path else ""
    r.message = msg
    return r


@dataclass
class Event:
    t: float  # seconds since the server started
    kind: str
    ep: str
    info: dict = field(default_factory=dict)

    def line(self):
        i = self.info
        k = self.kind
        if k == "register":
            s = "registered lt=%s b=%s lwm2m=%s objects %s (%s from %s)" % (
                i["lifetime"], i["binding"], i["lwm2m"], i["objects"], i["location"], i["remote"])
        elif k == "update":
            ch = " ".join("%s=%s" % (a, i[a]) for a in ("lifetime", "binding") if a in i)
            s = "updated #%d%s%s" % (i["count"], " " + ch if ch else "",
                                     " objects " + i["objects"] if "objects" in i else "")
        elif k == "notify":
            s = "notify %s #%s %s" % (i["path"], i["seq"], i["value"])
        elif k == "bootstrap-step":
            s = "bootstrap %s %s -> %s" % (i["op"], i["path"], i["code"])
        elif k == "bootstrap-finished":
            s = "bootstrap finished %s" % ("ok" if i["ok"] else "WITH ERRORS")
        elif k == "deregister":
            s = "deregistered (%s)" % i["location"].lstrip("/")
        elif k == "expire":
            s = "registration expired (%s)" % i["location"].lstrip("/")
        elif k == "bootstrap-request":
            s = "bootstrap request from %s" % i["remote"]
        elif k == "fw-get":
            s = "fw pull %s block %d (%d/%d bytes)" % (i["name"], i["num"], i["end"], i["total"])
        else:
            s = k + ("" if not i else " " + " ".join("%s=%s" % kv for kv in i.items()))
        return "[%6.2fs] %s %s" % (self.t, self.ep, s)


@dataclass
class Registration:
    ep: str
    id: str
    lifetime: int
    binding: str
    lwm2m: str
    sms: str
    objects: list  # [(target, attrs)] as registered, root path stripped
    root: str  # alternate path from rt="oma.lwm2m", "" when absent
    remote: object
    location: str  # e.g. "/rd/5"
    registered_at: float
    renewed_at: float
    last_seen: float
    update_count: int = 0
    events: list = field(default_factory=list)
    observations: list = field(default_factory=list)

    @property
    def queue_mode(self):
        return "Q" in self.binding

    @property
    def address(self):
        return "%s:%d" % (self.remote.hostinfo.rpartition(":")[0].strip("[]") or self.remote.hostinfo,
                          self.remote.sockaddr[1])

    def object_paths(self):
        return [t for t, _ in self.objects]


# ---------------------------------------------------------------- common CoAP peer
class _Site(aiocoap.resource.Resource):
    # One catch-all resource: aiocoap's Site only matches fixed paths.
    def __init__(self, owner):
        super().__init__()
        self.owner = owner

    async def needs_blockwise_assembly(self, request):
        return self.owner._blockwise(request)

    async def render(self, request):
        return await self.owner._handle(request)


class _Peer:
    def __init__(self, host="127.0.0.1", port=0, clock=None):
        self.host = host
        self._want_port = port
        self.port = None
        self.clock = clock or time.monotonic
        self.t0 = self.clock()
        self.events = []
        self.on_event = None  # callable(Event), e.g. print(e.line())
        self.ctx = None
        self._tm = None
        self._reuse = {}
        self._cursors = {}
        self._waiters = []
        self._tasks = set()

    async def start(self):
        self.ctx = await aiocoap.Context.create_server_context(
            _Site(self), bind=(self.host, self._want_port), transports=["udp6"])
        self._tm = self.ctx.request_interfaces[0]
        mi = self._tm.token_interface.message_interface
        self.port = mi.transport.get_extra_info("socket").getsockname()[1]
        self._patch_tokens()
        self.t0 = self.clock()
        return self

    async def stop(self):
        for t in list(self._tasks):
            t.cancel()
        if self.ctx is not None:
            await self.ctx.shutdown()
            self.ctx = None

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.stop()

    def _patch_tokens(self):
        # aiocoap always picks a fresh token; an active Observe cancel must reuse the old one.
        tm = self._tm
        orig = tm.request
        reuse = self._reuse

        def request(pipe):
            tok = reuse.pop(id(pipe.request), None)
            if tok is None:
                return orig(pipe)
            tm.next_token = lambda: tok
            try:
                return orig(pipe)
            finally:
                del tm.next_token

        tm.request = request

    def _spawn(self, coro):
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    def _emit(self, kind, ep, **info):
        e = Event(round(self.clock() - self.t0, 3), kind, ep, info)
        self.events.append(e)
        if self.on_event is not None:
            self.on_event(e)
        for f in self._waiters:
            if not f.done():
                f.set_result(None)
        return e

    async def wait_event(self, kind, ep=None, timeout=10.0):
        """Next event of this kind (and endpoint) not yet returned to an earlier wait_event with the
        same (kind, ep): events that happened before the call count, so there is no race."""
        key = (kind, ep)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            start = self._cursors.get(key, 0)
            for j in range(start, len(self.events)):
                e = self.events[j]
                if e.kind == kind and (ep is None or e.ep == ep):
                    self._cursors[key] = j + 1
                    return e
            self._cursors[key] = len(self.events)
            f = loop.create_future()
            self._waiters.append(f)
            try:
                await asyncio.wait_for(f, max(0.0, deadline - loop.time()))
            finally:
                self._waiters.remove(f)

    async def _send(self, remote, code, path, payload=b"", content_format=None, accept=None,
                    query=(), observe=None, timeout=30.0, block_exp=None, token=None, blockwise=True):
        m = Message(code=code, uri_path=_path_list(path) if isinstance(path, str) else list(path),
                    payload=payload)
        if content_format is not None:
            m.opt.content_format = content_format
        if accept is not None:
            m.opt.accept = accept
        if query:
            m.opt.uri_query = list(query)
        if observe is not None:
            m.opt.observe = observe
        if block_exp is not None:
            remote = copy.copy(remote)
            remote.maximum_block_size_exp = block_exp
        m.remote = remote
        if token is not None:
            self._reuse[id(m)] = token
        req = self.ctx.request(m, handle_blockwise=blockwise)
        resp = await asyncio.wait_for(req.response, timeout)
        return _response(resp), req, m

    def _blockwise(self, request):
        return True

    async def _handle(self, request):
        return Message(code=Code.NOT_FOUND)


# ---------------------------------------------------------------- LwM2M server
class Notification(Response):
    """A notification: Response fields plus .seq (Observe value) and .t (server seconds)."""

    seq = None
    t = 0.0


class Observation:
    """Client-side state of one observation; notifications arrive in .queue."""

    def __init__(self, server, reg, path, accept):
        self.server = server
        self.reg = reg
        self.path = path
        self.accept = accept
        self.queue = asyncio.Queue()
        self.first = None
        self.token = None
        self.active = False
        self.ended = None  # exception that ended it, if any
        self._req = None
        self._req_remote = None
        self._task = None

    async def next(self, timeout=10.0):
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def _pump(self):
        try:
            async for n in self._req.observation:
                r = _response(n)
                note = Notification(*r)
                note.location, note.message = r.location, n
                note.seq = n.opt.observe
                note.t = round(self.server.clock() - self.server.t0, 3)
                self.reg.last_seen = self.server.clock()
                self.queue.put_nowait(note)
                self.server._emit("notify", self.reg.ep, path=self.path, seq=note.seq, code=note.code,
                                  value=describe_payload(note.content_format, note.payload, self.path))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # aiocoap ends observations with an exception
            self.ended = e
            self.active = False
            self.server._emit("observe-end", self.reg.ep, path=self.path, reason=type(e).__name__)

    def cancel_local(self):
        """Forget the observation here only (aiocoap answers the next CON notification with RST)."""
        self.active = False
        if self._task is not None:
            self._task.cancel()
        obs = self._req.observation if self._req is not None else None
        if obs is not None and not obs.cancelled:
            obs.cancel()
        if self in self.reg.observations:
            self.reg.observations.remove(self)

    async def cancel(self, timeout=30.0):
        """Active cancel (RFC 7641 3.6): GET with Observe=1 and the observation's token."""
        self.cancel_local()
        tm = self.server._tm
        key = (self.token, self._req_remote)
        for _ in range(200):  # let aiocoap drop its own record of the token first
            if key not in tm.outgoing_requests:
                break
            await asyncio.sleep(0)
        else:
            tm.outgoing_requests.pop(key, None)
        r, _, _ = await self.server._send(self.reg.remote, Code.GET, self.reg.root + self.path,
                                          accept=self.accept, observe=1, timeout=timeout,
                                          token=self.token, blockwise=False)
        self.server._emit("observe-cancel", self.reg.ep, path=self.path, code=r.code)
        return r


class LwM2MServer(_Peer):
    """LwM2M 1.0 server: registration interface plus device management and information reporting."""

    def __init__(self, host="127.0.0.1", port=0, location_style="split", ids="counter",
                 grace=5.0, clock=None, expiry_interval=1.0, rd_path="rd", versions=("1.0", "1.1"),
                 queue_window=93.0, fw_block_size=512):
        super().__init__(host, port, clock)
        if location_style not in ("split", "joined"):
            raise ValueError("location_style is 'split' or 'joined'")
        self.location_style = location_style
        self.ids = ids
        self.grace = grace
        self.expiry_interval = expiry_interval
        self.rd_path = rd_path
        self.versions = versions
        self.queue_window = queue_window
        self.fw_block_size = fw_block_size
        self.clients = {}  # ep -> Registration
        self.files = {}  # name -> bytes served under /fw/<name>
        self.refuse_register = None  # e.g. "4.03": answer every Register with this code
        self._next_id = 1

    async def start(self):
        await super().start()
        if self.expiry_interval:
            self._spawn(self._expiry_loop())
        return self

    async def _expiry_loop(self):
        while True:
            await asyncio.sleep(self.expiry_interval)
            self.expire()

    def expire(self):
        """Drop registrations whose lifetime (+ grace) ran out; returns the endpoints dropped."""
        now = self.clock()
        gone = [r for r in self.clients.values() if now > r.renewed_at + r.lifetime + self.grace]
        for r in gone:
            self._drop(r)
            self._emit("expire", r.ep, location=r.location)
        return [r.ep for r in gone]

    def _drop(self, reg):
        for o in list(reg.observations):
            o.cancel_local()
        if self.clients.get(reg.ep) is reg:
            del self.clients[reg.ep]

    def by_location(self, rid):
        for r in self.clients.values():
            if r.id == rid:
                return r
        return None

    def _ev(self, reg, kind, **info):
        e = self._emit(kind, reg.ep, **info)
        reg.events.append(e)
        return e

    async def wait_registered(self, ep, timeout=10.0):
        """The registration of ep, waiting for a Register if it is not registered yet."""
        if ep in self.clients:
            return self.clients[ep]
        await self.wait_event("register", ep, timeout)
        return self.clients[ep]

    # -- incoming
    def _blockwise(self, request):
        return not (request.opt.uri_path[:1] == ("fw",))

    async def _handle(self, req):
        path = list(req.opt.uri_path)
        if path == [self.rd_path]:
            if req.code != Code.POST:
                return Message(code=Code.METHOD_NOT_ALLOWED)
            return self._register(req)
        if len(path) == 2 and path[0] == self.rd_path:
            reg = self.by_location(path[1])
            if reg is None:
                return Message(code=Code.NOT_FOUND)
            if req.code == Code.POST:
                return self._update(req, reg)
            if req.code == Code.DELETE:
                self._drop(reg)
                self._ev(reg, "deregister", location=reg.location)
                return Message(code=Code.DELETED)
            return Message(code=Code.METHOD_NOT_ALLOWED)
        if len(path) == 2 and path[0] == "fw":
            if req.code != Code.GET:
                return Message(code=Code.METHOD_NOT_ALLOWED)
            return self._serve_file(req, path[1])
        return Message(code=Code.NOT_FOUND)

    def _parse_objects(self, req):
        cf = req.opt.content_format
        if cf is not None and int(cf) != CF_LINK:
            raise ValueError("payload must be link format (40), got %s" % int(cf))
        links = parse_links(req.payload)
        root = ""
        for t, a in links:
            if a.get("rt") == "oma.lwm2m":
                root = t.rstrip("/")
        objs = []
        for t, a in links:
            if root and a.get("rt") == "oma.lwm2m":
                continue
            if root and t.startswith(root + "/"):
                t = t[len(root):]
            parts = _path_list(t)
            if not parts or len(parts) > 2 or not all(p.isdigit() for p in parts):
                raise ValueError("bad object link %r" % t)
            objs.append((t, a))
        return root, objs

    def _register(self, req):
        q = _query(req)
        if self.refuse_register:
            self._emit("register-refused", q.get("ep"), code=self.refuse_register)
            return Message(code=Code(_code_number(self.refuse_register)))
        ep = q.get("ep")
        if not ep or ep is True:
            return Message(code=Code.BAD_REQUEST, payload=b"ep missing")
        try:
            lt = int(q.get("lt", 86400))
            if lt <= 0:
                raise ValueError
        except ValueError:
            return Message(code=Code.BAD_REQUEST, payload=b"bad lt")
        b = q.get("b", "U")
        if b not in BINDINGS:
            return Message(code=Code.BAD_REQUEST, payload=b"bad binding")
        ver = q.get("lwm2m", "1.0")
        if ver not in self.versions:
            return Message(code=Code.PRECONDITION_FAILED, payload=b"lwm2m version not supported")
        try:
            if not req.payload:
                raise ValueError("no objects")
            root, objs = self._parse_objects(req)
        except (ValueError, UnicodeDecodeError) as e:
            return Message(code=Code.BAD_REQUEST, payload=str(e).encode())
        old = self.clients.get(ep)
        if old is not None:  # a new Register replaces the old registration and its observations
            self._drop(old)
        if self.ids == "counter":
            rid = str(self._next_id)
            self._next_id += 1
        else:
            rid = secrets.token_hex(3)
        now = self.clock()
        reg = Registration(ep=ep, id=rid, lifetime=lt, binding=b, lwm2m=ver, sms=q.get("sms", ""),
                           objects=objs, root=root, remote=req.remote, location="/%s/%s" % (self.rd_path, rid),
                           registered_at=now, renewed_at=now, last_seen=now)
        self.clients[ep] = reg
        self._ev(reg, "register", lifetime=lt, binding=b, lwm2m=ver, objects=format_links(objs),
                 location=reg.location.lstrip("/"), remote=reg.address, replaced=old is not None)
        m = Message(code=Code.CREATED)
        if self.location_style == "joined":
            m.opt.location_path = ["%s/%s" % (self.rd_path, rid)]
        else:
            m.opt.location_path = [self.rd_path, rid]
        return m

    def _update(self, req, reg):
        q = _query(req)
        info = {}
        try:
            if "lt" in q:
                lt = int(q["lt"])
                if lt <= 0:
                    raise ValueError("bad lt")
                info["lifetime"] = lt
            if "b" in q:
                if q["b"] not in BINDINGS:
                    raise ValueError("bad binding")
                info["binding"] = q["b"]
            objs = None
            if req.payload:
                root, objs = self._parse_objects(req)
        except (ValueError, UnicodeDecodeError) as e:
            return Message(code=Code.BAD_REQUEST, payload=str(e).encode())
        reg.lifetime = info.get("lifetime", reg.lifetime)
        reg.binding = info.get("binding", reg.binding)
        if "sms" in q:
            reg.sms = q["sms"]
        if objs is not None:
            reg.objects, reg.root = objs, root
            info["objects"] = format_links(objs)
        reg.remote = req.remote
        now = self.clock()
        reg.renewed_at = reg.last_seen = now
        reg.update_count += 1
        self._ev(reg, "update", count=reg.update_count, **info)
        return Message(code=Code.CHANGED)

    # -- firmware pull
    def serve_file(self, name, data):
        """Serve data at /fw/<name> with Block2; returns its coap:// URI."""
        self.files[name] = bytes(data)
        return "coap://%s:%d/fw/%s" % (self.host if ":" not in self.host else "[%s]" % self.host, self.port, name)

    def _serve_file(self, req, name):
        data = self.files.get(name)
        if data is None:
            return Message(code=Code.NOT_FOUND)
        szx = max(0, min(6, self.fw_block_size.bit_length() - 5))
        b2 = req.opt.block2
        offset = 0
        if b2 is not None:
            offset = b2.block_number << (b2.size_exponent + 4)
            szx = min(szx, b2.size_exponent)
        size = 1 << (szx + 4)
        if offset and offset >= len(data):
            return Message(code=Code.BAD_OPTION, payload=b"block out of range")
        num = offset // size
        chunk = data[num * size:(num + 1) * size]
        more = (num + 1) * size < len(data)
        m = Message(code=Code.CONTENT, payload=chunk, content_format=CF_OPAQUE)
        if more or b2 is not None:
            m.opt.block2 = BlockOption.BlockwiseTuple(num, more, szx)
        if num == 0:
            m.opt.size2 = len(data)
        m.opt.etag = struct.pack(">I", hash(data) & 0xFFFFFFFF)
        who = next((r.ep for r in self.clients.values() if r.remote == req.remote), req.remote.hostinfo)
        self._emit("fw-get", who, name=name, num=num, more=more, end=num * size + len(chunk), total=len(data))
        return m

    # -- device management (server -> client)
    def _reg(self, ep):
        reg = self.clients.get(ep)
        if reg is None:
            raise KeyError("endpoint %r is not registered" % ep)
        return reg

    async def _dm(self, ep, code, path, timeout=30.0, **kw):
        reg = self._reg(ep)
        if reg.queue_mode and self.clock() - reg.last_seen > self.queue_window:
            # Queue mode: the client is asleep, hold the request until it next speaks (Update).
            await self.wait_event("update", ep, timeout)
            reg = self._reg(ep)
        r, req, m = await self._send(reg.remote, code, reg.root + path, timeout=timeout, **kw)
        reg.last_seen = self.clock()
        return r, req, m

    async def read(self, ep, path, accept=None, timeout=30.0):
        return (await self._dm(ep, Code.GET, path, accept=accept, timeout=timeout))[0]

    async def discover(self, ep, path, timeout=30.0):
        return (await self._dm(ep, Code.GET, path, accept=CF_LINK, timeout=timeout))[0]

    async def write(self, ep, path, payload, content_format=CF_TEXT, partial=False, timeout=30.0):
        """Write: PUT replaces, POST (partial=True) updates; str payloads are UTF-8 encoded."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        code = Code.POST if partial else Code.PUT
        return (await self._dm(ep, code, path, payload=payload, content_format=content_format,
                               timeout=timeout))[0]

    async def write_value(self, ep, path, value, timeout=30.0):
        """Write one resource as TLV with the right type (int/float/bool/str/bytes)."""
        rid = int(_path_list(path)[-1])
        return await self.write(ep, path, tlv_resource(rid, value), CF_TLV, timeout=timeout)

    async def execute(self, ep, path, args=b"", timeout=30.0):
        if isinstance(args, str):
            args = args.encode("utf-8")
        return (await self._dm(ep, Code.POST, path, payload=args,
                               content_format=CF_TEXT if args else None, timeout=timeout))[0]

    async def create(self, ep, path, payload, content_format=CF_TLV, timeout=30.0):
        """Create (POST on the object); the response's .location holds the new instance path."""
        return (await self._dm(ep, Code.POST, path, payload=payload, content_format=content_format,
                               timeout=timeout))[0]

    async def delete(self, ep, path, timeout=30.0):
        return (await self._dm(ep, Code.DELETE, path, timeout=timeout))[0]

    async def write_attributes(self, ep, path, timeout=30.0, **attrs):
        """PUT with only Uri-Query: pmin=, pmax=, gt=, lt=, st=; cancel=True sends a bare 'cancel'."""
        q = []
        for k, v in attrs.items():
            if v is None or v is False:
                continue
            q.append(k if v is True else "%s=%s" % (k, v))
        return (await self._dm(ep, Code.PUT, path, query=q, timeout=timeout))[0]

    async def observe(self, ep, path, accept=None, timeout=30.0):
        """Observe path; returns an Observation (.first holds the initial response)."""
        reg = self._reg(ep)
        obs = Observation(self, reg, path, accept)
        r, req, m = await self._dm(ep, Code.GET, path, accept=accept, observe=0, timeout=timeout)
        obs.first, obs._req, obs.token = r, req, r.message.token
        obs._req_remote = m.remote
        if r.ok and r.message.opt.observe is not None and req.observation is not None:
            obs.active = True
            reg.observations.append(obs)
            obs._task = self._spawn(obs._pump())
        elif req.observation is not None and not req.observation.cancelled:
            req.observation.cancel()
        self._emit("observe", ep, path=path, code=r.code, active=obs.active)
        return obs

    async def push_firmware(self, ep, data, block_size=512, path="/5/0/0", content_format=CF_OPAQUE,
                            progress=None, timeout=30.0):
        """Block1 PUT of data to /5/0/0; progress(sent, total) after each acknowledged block.
        Returns the final Response (a non-2.31 answer to an inner block ends the transfer)."""
        szx = block_size.bit_length() - 5
        if block_size != 1 << (szx + 4) or not 0 <= szx <= 6:
            raise ValueError("block size must be a power of two 16..1024")
        data = bytes(data)
        total = len(data)
        offset = 0
        num = 0
        while True:
            size = 1 << (szx + 4)
            chunk = data[offset:offset + size]
            more = offset + len(chunk) < total
            single = num == 0 and not more
            reg = self._reg(ep)
            m = Message(code=Code.PUT, uri_path=_path_list(reg.root + path), payload=chunk,
                        content_format=content_format)
            if not single:
                m.opt.block1 = BlockOption.BlockwiseTuple(num, more, szx)
                if num == 0:
                    m.opt.size1 = total
            m.remote = reg.remote
            resp = await asyncio.wait_for(self.ctx.request(m, handle_blockwise=False).response, timeout)
            reg.last_seen = self.clock()
            r = _response(resp)
            if not more:
                self._emit("fw-push", ep, path=path, bytes=total, code=r.code)
                return r
            if r.code != "2.31":
                self._emit("fw-push", ep, path=path, bytes=offset, code=r.code)
                return r
            offset += len(chunk)
            b1 = resp.opt.block1
            if b1 is not None and b1.size_exponent < szx:
                szx = b1.size_exponent  # the client asked for smaller blocks
            num = offset >> (szx + 4)
            if progress is not None:
                progress(offset, total)


# ---------------------------------------------------------------- bootstrap server
def _key_bytes(s, key, hexkey):
    if hexkey in s:
        return bytes.fromhex(s[hexkey])
    v = s.get(key, b"")
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


def _mode(v):
    if isinstance(v, str):
        return SEC_MODES[v.lower()]
    return int(v)


def bootstrap_plan(provision):
    """Provisioning dict -> [(op, path, payload, content_format, expected code)]; op is DELETE/PUT/POST.

    provision: {"delete": true (Delete "/", default), "write_level": "instance"|"object",
    "bootstrap": {uri, security_mode, psk_identity, psk_key|psk_key_hex, hold_off, account_timeout}
    (optional, rewritten as /0/0), "servers": [{uri, ssid, lifetime, binding, security_mode,
    psk_identity, psk_key|psk_key_hex, pmin, pmax, notification_storing, disable_timeout,
    security_instance, server_instance}]}"""
    sec, srv = {}, {}
    bs = provision.get("bootstrap")
    nxt = 0
    if bs:
        sec[bs.get("security_instance", 0)] = {
            0: bs["uri"], 1: True, 2: _mode(bs.get("security_mode", "nosec")),
            3: _key_bytes(bs, "psk_identity", "psk_identity_hex"), 4: b"",
            5: _key_bytes(bs, "psk_key", "psk_key_hex"),
            11: int(bs.get("hold_off", 0)), 12: int(bs.get("account_timeout", 0))}
        nxt = 1
    for n, s in enumerate(provision.get("servers", [])):
        ssid = int(s.get("ssid", n + 1))
        si = s.get("security_instance", nxt + n)
        sec[si] = {0: s["uri"], 1: False, 2: _mode(s.get("security_mode", "nosec")),
                   3: _key_bytes(s, "psk_identity", "psk_identity_hex"), 4: b"",
                   5: _key_bytes(s, "psk_key", "psk_key_hex"), 10: ssid}
        res = {0: ssid, 1: int(s.get("lifetime", 300)), 6: bool(s.get("notification_storing", True)),
               7: s.get("binding", "U")}
        for rid, k in ((2, "pmin"), (3, "pmax"), (5, "disable_timeout")):
            if k in s:
                res[rid] = int(s[k])
        srv[s.get("server_instance", n)] = res
    steps = []
    if provision.get("delete", True):
        steps.append(("DELETE", "/", b"", None, "2.02"))
    for obj, insts in ((0, sec), (1, srv)):
        if not insts:
            continue
        if provision.get("write_level", "instance") == "object":
            steps.append(("PUT", "/%d" % obj, encode_tlv_instances(insts), CF_TLV, "2.04"))
        else:
            for iid, res in sorted(insts.items()):
                steps.append(("PUT", "/%d/%d" % (obj, iid), encode_tlv(res), CF_TLV, "2.04"))
    steps.append(("POST", "/bs", b"", None, "2.04"))
    return steps


def load_provision(path):
    with open(path) as f:
        return json.load(f)


class BootstrapServer(_Peer):
    """LwM2M 1.0 bootstrap server: answers POST /bs?ep= with 2.04 then provisions the client."""

    def __init__(self, host="127.0.0.1", port=0, provision=None, clock=None, timeout=30.0):
        super().__init__(host, port, clock)
        self.provision = provision or {}
        self.timeout = timeout
        self.results = {}  # ep -> [(op, path, code)] in the order sent
        self.remotes = {}  # ep -> the address its last Bootstrap-Request came from

    async def wait_bootstrapped(self, ep=None, timeout=10.0):
        """The next 'bootstrap-finished' event (info: ok, steps)."""
        return await self.wait_event("bootstrap-finished", ep, timeout)

    async def _handle(self, req):
        if list(req.opt.uri_path) != ["bs"]:
            return Message(code=Code.NOT_FOUND)
        if req.code != Code.POST:
            return Message(code=Code.METHOD_NOT_ALLOWED)
        ep = _query(req).get("ep")
        if not ep or ep is True:
            return Message(code=Code.BAD_REQUEST, payload=b"ep missing")
        self._emit("bootstrap-request", ep, remote=req.remote.hostinfo)
        self.remotes[ep] = req.remote
        self._spawn(self._provision(ep, req.remote))
        return Message(code=Code.CHANGED)

    async def send(self, ep, op, path, payload=b"", content_format=None, timeout=30.0):
        """Server-initiated bootstrap operation (op PUT/DELETE/POST/GET) to a client that
        bootstrapped from here, at any time; returns the Response."""
        if ep not in self.remotes:
            raise KeyError("endpoint %r never bootstrapped here" % ep)
        r, _, _ = await self._send(self.remotes[ep], getattr(Code, op), path, payload=payload,
                                   content_format=content_format, timeout=timeout)
        self._emit("bootstrap-op", ep, op=op, path=path, code=r.code)
        return r

    async def _provision(self, ep, remote):
        await asyncio.sleep(0)  # let the 2.04 go out before the first bootstrap request
        steps = self.results[ep] = []
        ok = True
        for op, path, payload, cf, want in bootstrap_plan(self.provision):
            try:
                r, _, _ = await self._send(remote, getattr(Code, op), path, payload=payload,
                                           content_format=cf, timeout=self.timeout)
                code = r.code
            except (asyncio.TimeoutError, aiocoap.error.Error) as e:
                code = "error:" + type(e).__name__
            steps.append((op, path, code))
            self._emit("bootstrap-step", ep, op=op, path=path, code=code, expected=want)
            if code != want:
                ok = False
                if code.startswith("error:"):
                    break
        self._emit("bootstrap-finished", ep, ok=ok, steps=list(steps))
