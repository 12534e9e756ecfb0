"""Local LwM2M 1.0 server on aiocoap: an independent test peer for the client (CPython only)."""
# It is a test peer, so it follows the LwM2M 1.0 TS, not our client: it must not import lib/.
# Users import this module for everything (L.LwM2MServer, L.BootstrapServer, L.decode_tlv, ...),
# so it re-exports the public names of lwm2m_codec, lwm2m_peer, lwm2m_observe and lwm2m_bootstrap.
import asyncio
import secrets
import struct

from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption

from lwm2m_bootstrap import SEC_MODES, BootstrapServer, bootstrap_plan, load_provision  # noqa: F401
from lwm2m_codec import (  # noqa: F401
    CF_JSON, CF_LINK, CF_NAMES, CF_OPAQUE, CF_TEXT, CF_TLV, RES_TYPES, ObjLnk, path_list, decode_tlv,
    describe_payload, encode_tlv, encode_tlv_instances, encode_value, format_links, parse_links,
    tlv_bool, tlv_entries, tlv_entry, tlv_float, tlv_instance, tlv_int, tlv_objlnk, tlv_resource, tlv_str,
    tlv_typed)
from lwm2m_observe import Notification, Observation  # noqa: F401
from lwm2m_peer import Event, Registration, Response, code_number, Peer, query_of, response_of  # noqa: F401

BINDINGS = ("U", "UQ", "S", "SQ", "US", "UQS")


class LwM2MServer(Peer):
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
            parts = path_list(t)
            if not parts or len(parts) > 2 or not all(p.isdigit() for p in parts):
                raise ValueError("bad object link %r" % t)
            objs.append((t, a))
        return root, objs

    def _register(self, req):
        q = query_of(req)
        if self.refuse_register:
            self._emit("register-refused", q.get("ep"), code=self.refuse_register)
            return Message(code=Code(code_number(self.refuse_register)))
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
        q = query_of(req)
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
        rid = int(path_list(path)[-1])
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
            m = Message(code=Code.PUT, uri_path=path_list(reg.root + path), payload=chunk,
                        content_format=content_format)
            if not single:
                m.opt.block1 = BlockOption.BlockwiseTuple(num, more, szx)
                if num == 0:
                    m.opt.size1 = total
            m.remote = reg.remote
            resp = await asyncio.wait_for(self.ctx.request(m, handle_blockwise=False).response, timeout)
            reg.last_seen = self.clock()
            r = response_of(resp)
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

