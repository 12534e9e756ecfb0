"""What the local LwM2M server and bootstrap server share: the aiocoap peer and its records."""
# Part of a test peer that follows the LwM2M 1.0 TS, not our client: it must not import lib/.
import asyncio
import collections
import copy
import time
from dataclasses import dataclass, field

import aiocoap
import aiocoap.resource
from aiocoap import Message
from aiocoap.numbers.codes import Code

from lwm2m_codec import CF_NAMES, path_list, decode_tlv, describe_payload


def code_number(dotted):
    """'4.03' -> 0x83 (class << 5 | detail)."""
    c, _, d = dotted.partition(".")
    return int(c) << 5 | int(d)


def query_of(msg):
    """The request's Uri-Query options as a dict (a bare key maps to True)."""
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


def response_of(msg):
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


class Peer:
    """What the LwM2M server and the bootstrap server share: an aiocoap context on one UDP
    port, the requests they send to a client, and the events they record."""

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
        m = Message(code=code, uri_path=path_list(path) if isinstance(path, str) else list(path),
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
        return response_of(resp), req, m

    def _blockwise(self, request):
        return True

    async def _handle(self, request):
        return Message(code=Code.NOT_FOUND)

