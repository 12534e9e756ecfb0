"""CPython-only tests of the local LwM2M server (tools/lwm2m_server.py), driven by an aiocoap fake
client: they judge our test server, not lib/ (nothing from lib/ runs here)."""
# Over ~400 lines on purpose: one file per tool under test (tools/lwm2m_server.py and its CLI).
import asyncio
import contextlib
import os
import sys

import aiocoap
import aiocoap.resource
from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption

import lwm2m_server as L
from proc import Proc
from util import hexb, raises

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)

DEVICE_TLV = hexb(  # Device /3/0 as in the spec example (Wakaama vector V8)
    "C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65"
    "C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74"
    "C8 02 09 33 34 35 30 30 30 31 32 33 C3 03 31 2E 30 86 06 41 00 01 41 01 05"
    "88 07 08 42 00 0E D8 42 01 13 88 87 08 41 00 7D 42 01 03 84 C1 09 64 C1 0A 0F"
    "83 0B 41 00 00 C4 0D 51 82 42 8F C6 0E 2B 30 32 3A 30 30 C1 0F 55")


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class FakeClient(aiocoap.resource.ObservableResource):
    """A minimal LwM2M client: records every request the server sends and answers from a tiny tree."""

    def __init__(self, ep="node-1"):
        super().__init__()
        self.ep = ep
        self.log = []  # dicts: code, path, query, observe, token, cf, payload, block1
        self.values = {"/3/0/9": b"87"}
        self.fw = bytearray()
        self.watchers = {}
        self.cancelled = []
        self.ctx = None
        self.server = None

    async def start(self, server_port):
        self.server = server_port
        self.ctx = await aiocoap.Context.create_server_context(self, bind=("127.0.0.1", 0), transports=["udp6"])
        mi = self.ctx.request_interfaces[0].token_interface.message_interface
        self.port = mi.transport.get_extra_info("socket").getsockname()[1]
        return self

    async def stop(self):
        await self.ctx.shutdown()

    async def send(self, code, path, query=(), payload=b"", cf=None, port=None):
        m = Message(code=code, uri="coap://127.0.0.1:%d%s" % (port or self.server, path), payload=payload)
        if query:
            m.opt.uri_query = list(query)
        if cf is not None:
            m.opt.content_format = cf
        return await self.ctx.request(m).response

    async def register(self, lt=300, b="U", links=b"</1/0>,</3/0>,</5/0>", extra=()):
        q = ["ep=" + self.ep, "lt=%d" % lt, "lwm2m=1.0", "b=" + b] + list(extra)
        return await self.send(Code.POST, "/rd", q, links, 40)

    async def needs_blockwise_assembly(self, request):
        return request.opt.uri_path != ("5", "0", "0")  # see each firmware block

    async def add_observation(self, request, serverobservation):
        path = "/" + "/".join(request.opt.uri_path)
        self.watchers[path] = serverobservation
        serverobservation.accept(lambda: self.cancelled.append(path))

    def notify(self, path, value):
        self.values[path] = value
        self.watchers[path].trigger()

    async def render(self, req):
        path = "/" + "/".join(req.opt.uri_path)
        cf = req.opt.content_format
        self.log.append(dict(method=req.code.name, remote_port=req.remote.sockaddr[1],
                             path=path, query=tuple(req.opt.uri_query), observe=req.opt.observe,
                             token=req.token, cf=None if cf is None else int(cf), payload=bytes(req.payload),
                             accept=None if req.opt.accept is None else int(req.opt.accept),
                             block1=req.opt.block1, size1=req.opt.size1))
        if req.code == Code.GET and req.opt.accept == 40:
            return Message(code=Code.CONTENT, payload=b"</3/0/9>;pmax=60", content_format=40)
        if req.code == Code.GET and path == "/3/0":
            return Message(code=Code.CONTENT, payload=DEVICE_TLV, content_format=11542)
        if req.code == Code.GET and path in self.values:
            return Message(code=Code.CONTENT, payload=self.values[path], content_format=0)
        if req.code == Code.PUT and path == "/5/0/0":
            b1 = req.opt.block1
            self.fw += req.payload
            if b1 is not None and b1.more:
                m = Message(code=Code.CONTINUE)
                m.opt.block1 = BlockOption.BlockwiseTuple(b1.block_number, True, min(b1.size_exponent, 4))
                return m
            m = Message(code=Code.CHANGED)
            if b1 is not None:
                m.opt.block1 = b1
            return m
        if req.code == Code.PUT and req.opt.uri_query:
            return Message(code=Code.CHANGED)
        if req.code == Code.PUT:
            self.values[path] = bytes(req.payload)
            return Message(code=Code.CHANGED)
        if req.code == Code.POST and path == "/3/0/4":
            return Message(code=Code.CHANGED)
        if req.code == Code.POST and path == "/bs":
            return Message(code=Code.CHANGED)
        if req.code == Code.POST and path == "/9":
            m = Message(code=Code.CREATED)
            m.opt.location_path = ["9", "7"]
            return m
        if req.code == Code.DELETE:
            return Message(code=Code.DELETED)
        return Message(code=Code.NOT_FOUND)


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@contextlib.asynccontextmanager
async def paired(**kw):
    """(LwM2MServer(**kw), a FakeClient of it) for the body; both stopped after it, whatever
    happened."""
    srv = await L.LwM2MServer(**kw).start()
    cli = await FakeClient().start(srv.port)
    try:
        yield srv, cli
    finally:
        await cli.stop()
        await srv.stop()


# ------------------------------------------------------------ TLV and link format (pure)
def test_tlv_decode_device_vector():
    d = L.decode_tlv(DEVICE_TLV)
    assert L.tlv_str(d[0]) == "Open Mobile Alliance"
    assert L.tlv_str(d[3]) == "1.0"
    assert {k: L.tlv_int(v) for k, v in d[6].items()} == {0: 1, 1: 5}
    assert {k: L.tlv_int(v) for k, v in d[7].items()} == {0: 3800, 1: 5000}
    assert L.tlv_int(d[9]) == 100 and L.tlv_int(d[13]) == 1367491215
    assert L.tlv_str(d[15]) == "U" and d[11] == {0: b"\x00"}
    assert sorted(d) == [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 13, 14, 15]


def test_tlv_decode_nested_and_16bit_ids():
    d = L.decode_tlv(hexb("28 02 03 11 C3 37 01 02 03 C8 42 09 04 05 06 07 08 09 0A 0B 0C"))
    assert d == {0x203: {55: b"\x01\x02\x03", 66: bytes(range(4, 13))}}
    assert L.tlv_entries(hexb("C3 37 01 02 03")) == [("resource", 55, b"\x01\x02\x03")]
    assert raises(ValueError, L.tlv_entries, hexb("C3 37 01 02"))
    assert raises(ValueError, L.tlv_entries, hexb("C8"))
    assert L.tlv_int(hexb("ED CC")) == -4660
    assert L.tlv_bool(b"\x01") is True and L.tlv_bool(b"\x00") is False
    assert raises(ValueError, L.tlv_bool, b"\x02")


def test_tlv_encode_matches_wakaama_bytes():
    assert L.tlv_resource(1, 12) == hexb("C1 01 0C")
    assert L.tlv_resource(1, -1000) == hexb("C2 01 FC 18")
    assert L.tlv_resource(1, 3000000) == hexb("C4 01 00 2D C6 C0")
    assert L.tlv_resource(1, 4294967295) == hexb("C8 01 08 00 00 00 00 FF FF FF FF")
    assert L.tlv_resource(1, True) == hexb("C1 01 01")
    assert L.tlv_resource(1, "abc") == hexb("C3 01 61 62 63")
    assert L.tlv_resource(300, 5) == hexb("E1 01 2C 05")
    assert L.tlv_resource(1, L.ObjLnk(66, 1)) == hexb("C4 01 00 42 00 01")
    assert L.tlv_resource(2, b"\xab" * 300) == hexb("D0 02 01 2C") + b"\xab" * 300
    assert L.tlv_resource(1, 1.5) == hexb("C8 01 08 3F F8 00 00 00 00 00 00")
    v7 = hexb("03 0A C1 01 14 03 0B C1 01 15 03 0C C1 01 16")
    assert L.encode_tlv_instances({10: {1: 20}, 11: {1: 21}, 12: {1: 22}}) == v7
    assert L.tlv_resource(6, [1, 5]) == hexb("86 06 41 00 01 41 01 05")
    # round trip of the 121-byte Device example through decode/encode of raw values
    d = L.decode_tlv(DEVICE_TLV)
    assert L.encode_tlv(d) == DEVICE_TLV


def test_parse_links():
    links = L.parse_links(b'</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>;ver="1,0",</5>')
    assert links == [("/", {"rt": "oma.lwm2m", "ct": "11543"}), ("/1/0", {}), ("/3/0", {"ver": "1,0"}),
                     ("/5", {})]
    assert raises(ValueError, L.parse_links, "</1/0>,1/2")
    assert raises(ValueError, L.parse_links, '</1/0>;a="x')
    assert L.format_links([("/1/0", {}), ("/3/0", {"ver": "1.0"})]) == "</1/0>,</3/0>;ver=1.0"


def test_bootstrap_plan_bytes():
    plan = L.bootstrap_plan({"servers": [{"uri": "coap://127.0.0.1:5683", "ssid": 1, "lifetime": 300}]})
    assert [(op, p, want) for op, p, _, _, want in plan] == [
        ("DELETE", "/", "2.02"), ("PUT", "/0/0", "2.04"), ("PUT", "/1/0", "2.04"), ("POST", "/bs", "2.04")]
    sec = plan[1][2]
    assert plan[1][3] == 11542
    assert sec == (hexb("C8 00 15") + b"coap://127.0.0.1:5683" + hexb("C1 01 00 C1 02 03 C0 03 C0 04 C0 05")
                   + hexb("C1 0A 01"))
    assert plan[2][2] == hexb("C1 00 01 C2 01 01 2C C1 06 01 C1 07 55")
    plan = L.bootstrap_plan({"delete": False, "write_level": "object",
                             "bootstrap": {"uri": "coap://b:5693"},
                             "servers": [{"uri": "coaps://s", "ssid": 7, "security_mode": "psk",
                                          "psk_identity": "id", "psk_key_hex": "0102"}]})
    assert [p for _, p, _, _, _ in plan] == ["/0", "/1", "/bs"]
    sec = L.decode_tlv(plan[0][2])
    assert sec[0][1] == b"\x01" and sec[1][1] == b"\x00"
    assert sec[1][2] == b"\x00" and sec[1][3] == b"id" and sec[1][5] == b"\x01\x02" and sec[1][10] == b"\x07"
    assert L.decode_tlv(plan[1][2]) == {0: {0: b"\x07", 1: hexb("01 2C"), 6: b"\x01", 7: b"U"}}


# ------------------------------------------------------------ registration interface
def test_register_update_deregister_split_location():
    async def body():
        async with paired() as (srv, cli):
            r = await cli.register()
            assert r.code == Code.CREATED
            assert r.opt.location_path == ("rd", "1")
            reg = await srv.wait_registered("node-1", 5)
            assert (reg.lifetime, reg.binding, reg.lwm2m) == (300, "U", "1.0")
            assert reg.object_paths() == ["/1/0", "/3/0", "/5/0"]
            assert reg.remote.sockaddr[1] == cli.port
            ev = await srv.wait_event("register", "node-1", 5)
            assert ev.line().endswith("node-1 registered lt=300 b=U lwm2m=1.0 objects </1/0>,</3/0>,</5/0> "
                                      "(rd/1 from 127.0.0.1:%d)" % cli.port)
            # update with lifetime only, then with objects only
            r = await cli.send(Code.POST, "/rd/1", ["lt=120"])
            assert r.code == Code.CHANGED
            ev = await srv.wait_event("update", "node-1", 5)
            assert ev.info == {"count": 1, "lifetime": 120}
            r = await cli.send(Code.POST, "/rd/1", (), b"</1/0>,</3/0>,</5/0>,</9/7>", 40)
            assert r.code == Code.CHANGED
            ev = await srv.wait_event("update", "node-1", 5)
            assert ev.info["objects"] == "</1/0>,</3/0>,</5/0>,</9/7>" and reg.update_count == 2
            assert reg.lifetime == 120 and reg.binding == "U"
            assert (await cli.send(Code.POST, "/rd/99")).code == Code.NOT_FOUND
            assert (await cli.send(Code.DELETE, "/rd/1")).code == Code.DELETED
            await srv.wait_event("deregister", "node-1", 5)
            assert "node-1" not in srv.clients
            assert (await cli.send(Code.POST, "/rd/1")).code == Code.NOT_FOUND
            assert (await cli.send(Code.DELETE, "/rd/1")).code == Code.NOT_FOUND
            assert [e.kind for e in reg.events] == ["register", "update", "update", "deregister"]
    run(body())


def test_joined_location_is_one_option_with_slash():
    async def body():
        async with paired(location_style="joined") as (srv, cli):
            r = await cli.register()
            assert r.code == Code.CREATED and r.opt.location_path == ("rd/1",)
            # a client that keeps the joined option sends it back as one segment: not our /rd/<id>
            assert (await cli.send(Code.POST, "/rd%2F1")).code == Code.NOT_FOUND
            assert (await cli.send(Code.POST, "/rd/1")).code == Code.CHANGED
    run(body())


def test_register_rejects_bad_requests():
    async def body():
        async with paired() as (srv, cli):
            assert (await cli.send(Code.POST, "/rd", ["lt=300"], b"</3/0>", 40)).code == Code.BAD_REQUEST
            assert (await cli.register(b="X")).code == Code.BAD_REQUEST
            assert (await cli.register(lt=0)).code == Code.BAD_REQUEST
            assert (await cli.register(links=b"")).code == Code.BAD_REQUEST
            assert (await cli.register(links=b"</3/0>,junk")).code == Code.BAD_REQUEST
            r = await cli.send(Code.POST, "/rd", ["ep=x", "lwm2m=2.0"], b"</3/0>", 40)
            assert r.code == Code.PRECONDITION_FAILED
            assert (await cli.send(Code.GET, "/rd")).code == Code.METHOD_NOT_ALLOWED
            assert srv.clients == {}
            r = await cli.send(Code.POST, "/rd", ["ep=min"], b"</3/0>", 40)  # lt, b, lwm2m default
            assert r.code == Code.CREATED
            reg = srv.clients["min"]
            assert (reg.lifetime, reg.binding, reg.lwm2m) == (86400, "U", "1.0")
    run(body())


def test_reregister_replaces_and_root_path():
    async def body():
        async with paired() as (srv, cli):
            await cli.register()
            r = await cli.register(links=b'</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>')
            assert r.opt.location_path == ("rd", "2")
            reg = srv.clients["node-1"]
            assert reg.id == "2" and reg.root == "/lwm2m" and reg.object_paths() == ["/3/0"]
            assert (await cli.send(Code.POST, "/rd/1")).code == Code.NOT_FOUND
            r = await srv.read("node-1", "/3/0")
            assert r.code == "4.04" and cli.log[-1]["path"] == "/lwm2m/3/0"
            assert (await srv.wait_event("register", "node-1", 5)).info["replaced"] is False
            assert (await srv.wait_event("register", "node-1", 5)).info["replaced"] is True
    run(body())


def test_expiry_with_fake_clock():
    async def body():
        clock = Clock()
        async with paired(clock=clock, expiry_interval=None, grace=5) as (srv, cli):
            await cli.register(lt=60)
            clock.t += 65
            assert srv.expire() == []
            await cli.send(Code.POST, "/rd/1")  # renews: lifetime counts from here
            clock.t += 65
            assert srv.expire() == []
            clock.t += 0.5
            assert srv.expire() == ["node-1"]
            assert srv.clients == {}
            ev = await srv.wait_event("expire", "node-1", 1)
            assert ev.info == {"location": "/rd/1"} and ev.t == 130.5
            assert (await cli.send(Code.POST, "/rd/1")).code == Code.NOT_FOUND
    run(body())


# ------------------------------------------------------------ device management
def test_read_write_execute_create_delete_discover_attrs():
    async def body():
        async with paired() as (srv, cli):
            await cli.register()
            await srv.wait_registered("node-1", 5)
            r = await srv.read("node-1", "/3/0", accept=11542)
            assert tuple(r) == ("2.05", 11542, DEVICE_TLV)
            assert L.tlv_str(r.tlv()[0]) == "Open Mobile Alliance"
            assert cli.log[-1]["method"] == "GET" and cli.log[-1]["accept"] == 11542
            assert cli.log[-1]["observe"] is None
            r = await srv.write("node-1", "/1/0/1", "120")
            assert r.code == "2.04" and cli.values["/1/0/1"] == b"120"
            assert (cli.log[-1]["method"], cli.log[-1]["cf"]) == ("PUT", 0)
            r = await srv.write("node-1", "/1/0", L.encode_tlv({1: 60}), 11542, partial=True)
            assert cli.log[-1]["method"] == "POST" and cli.log[-1]["payload"] == hexb("C1 01 3C")
            await srv.write_value("node-1", "/1/0/1", 300)
            assert cli.log[-1]["payload"] == hexb("C2 01 01 2C") and cli.log[-1]["cf"] == 11542
            r = await srv.execute("node-1", "/3/0/4")
            assert r.code == "2.04" and cli.log[-1]["payload"] == b"" and cli.log[-1]["cf"] is None
            await srv.execute("node-1", "/3/0/4", "0='x'")
            assert cli.log[-1]["payload"] == b"0='x'" and cli.log[-1]["cf"] == 0
            r = await srv.create("node-1", "/9", L.encode_tlv({0: "pkg"}))
            assert r.code == "2.01" and r.location == "/9/7" and cli.log[-1]["cf"] == 11542
            r = await srv.delete("node-1", "/9/7")
            assert r.code == "2.02" and cli.log[-1]["method"] == "DELETE"
            r = await srv.discover("node-1", "/3/0")
            assert tuple(r) == ("2.05", 40, b"</3/0/9>;pmax=60") and cli.log[-1]["accept"] == 40
            r = await srv.write_attributes("node-1", "/3/0/9", pmin=1, pmax=60, st=2.5, cancel=True, gt=None)
            assert r.code == "2.04"
            e = cli.log[-1]
            assert (e["method"], e["query"], e["payload"]) == ("PUT", ("pmin=1", "pmax=60", "st=2.5", "cancel"), b"")
            assert (await srv.read("node-1", "/7/0")).code == "4.04"
            assert raises(KeyError, lambda: srv._reg("nobody"))
            # every request left from the server's own port (the one the client registered with)
            assert {e["remote_port"] for e in cli.log} == {srv.port}
    run(body())


def test_observe_notifications_and_active_cancel():
    async def body():
        async with paired() as (srv, cli):
            await cli.register()
            await srv.wait_registered("node-1", 5)
            obs = await srv.observe("node-1", "/3/0/9")
            assert obs.active and tuple(obs.first) == ("2.05", 0, b"87")
            first = cli.log[-1]
            assert first["observe"] == 0 and first["method"] == "GET"
            cli.notify("/3/0/9", b"86")
            n = await obs.next(5)
            assert (n.code, n.payload, n.seq) == ("2.05", b"86", 1)
            cli.notify("/3/0/9", b"85")
            assert (await obs.next(5)).payload == b"85"
            ev = await srv.wait_event("notify", "node-1", 5)
            assert ev.info["path"] == "/3/0/9" and ev.info["value"] == "86"
            assert "node-1 notify /3/0/9 #1 86" in ev.line()
            r = await obs.cancel()
            assert r.code == "2.05"
            last = cli.log[-1]
            assert last["observe"] == 1 and last["token"] == first["token"] and last["path"] == "/3/0/9"
            assert cli.cancelled == ["/3/0/9"]  # the fake client's aiocoap saw the same token end it
            assert not obs.active and srv.clients["node-1"].observations == []
            assert (await srv.wait_event("observe-cancel", "node-1", 5)).info["code"] == "2.05"
    run(body())


def test_reregister_forgets_observations():
    async def body():
        async with paired() as (srv, cli):
            await cli.register()
            await srv.wait_registered("node-1", 5)
            obs = await srv.observe("node-1", "/3/0/9")
            assert srv.clients["node-1"].observations == [obs]
            await cli.register()
            assert srv.clients["node-1"].observations == [] and not obs.active
    run(body())


def test_firmware_push_block1():
    async def body():
        async with paired() as (srv, cli):
            await cli.register()
            await srv.wait_registered("node-1", 5)
            data = bytes(range(256)) * 5  # 1280 bytes
            seen = []
            r = await srv.push_firmware("node-1", data, block_size=512, progress=lambda a, b: seen.append((a, b)))
            assert r.code == "2.04" and bytes(cli.fw) == data
            blocks = [(e["block1"].block_number, e["block1"].more, e["block1"].size_exponent, len(e["payload"]))
                      for e in cli.log if e["path"] == "/5/0/0"]
            # the fake client asks for 256-byte blocks in its first 2.31: the rest follows at that size
            assert blocks == [(0, True, 5, 512), (2, True, 4, 256), (3, True, 4, 256), (4, False, 4, 256)]
            assert cli.log[-4]["size1"] == 1280 and cli.log[-4]["cf"] == 42
            assert seen == [(512, 1280), (768, 1280), (1024, 1280)]
            cli.fw = bytearray()
            r = await srv.push_firmware("node-1", b"tiny", block_size=64)
            assert r.code == "2.04" and cli.log[-1]["block1"] is None and bytes(cli.fw) == b"tiny"
            try:
                await srv.push_firmware("node-1", data, block_size=500)
                raise AssertionError("block size 500 accepted")
            except ValueError:
                pass
            assert raises(ValueError, L.LwM2MServer, location_style="x")
    run(body())


def test_firmware_pull_block2():
    async def body():
        async with paired(fw_block_size=256) as (srv, cli):
            data = os.urandom(700)
            uri = srv.serve_file("fw.bin", data)
            assert uri == "coap://127.0.0.1:%d/fw/fw.bin" % srv.port
            r = await cli.send(Code.GET, "/fw/fw.bin")  # aiocoap fetches every block itself
            assert r.code == Code.CONTENT and r.payload == data
            gets = [(e.info["num"], e.info["more"]) for e in srv.events if e.kind == "fw-get"]
            assert gets == [(0, True), (1, True), (2, False)]
            m = Message(code=Code.GET, uri="coap://127.0.0.1:%d/fw/fw.bin" % srv.port)
            m.opt.block2 = BlockOption.BlockwiseTuple(5, False, 2)  # 64-byte block 5
            r = await cli.ctx.request(m, handle_blockwise=False).response
            assert r.payload == data[320:384] and r.opt.block2 == (5, True, 2)
            assert (await cli.send(Code.GET, "/fw/none")).code == Code.NOT_FOUND
    run(body())


# ------------------------------------------------------------ bootstrap
def test_bootstrap_sequence_order():
    async def body():
        prov = {"servers": [{"uri": "coap://127.0.0.1:5683", "ssid": 1, "lifetime": 300},
                            {"uri": "coap://127.0.0.1:5685", "ssid": 2, "lifetime": 60, "binding": "UQ"}]}
        bs = await L.BootstrapServer(provision=prov).start()
        cli = await FakeClient().start(bs.port)
        try:
            r = await cli.send(Code.POST, "/bs", ["ep=node-1"])
            assert r.code == Code.CHANGED
            ev = await bs.wait_bootstrapped("node-1", 10)
            assert ev.info["ok"] is True
            seq = [(e["method"], e["path"]) for e in cli.log]
            assert seq == [("DELETE", "/"), ("PUT", "/0/0"), ("PUT", "/0/1"), ("PUT", "/1/0"), ("PUT", "/1/1"),
                           ("POST", "/bs")]
            assert all(e["cf"] == 11542 for e in cli.log[1:5])
            assert L.decode_tlv(cli.log[4]["payload"])[7] == b"UQ"
            assert L.tlv_str(L.decode_tlv(cli.log[2]["payload"])[0]) == "coap://127.0.0.1:5685"
            assert bs.results["node-1"] == [("DELETE", "/", "2.02"), ("PUT", "/0/0", "2.04"),
                                            ("PUT", "/0/1", "2.04"), ("PUT", "/1/0", "2.04"),
                                            ("PUT", "/1/1", "2.04"), ("POST", "/bs", "2.04")]
            assert (await cli.send(Code.POST, "/bs")).code == Code.BAD_REQUEST
        finally:
            await cli.stop()
            await bs.stop()
    run(body())


def test_bootstrap_records_wrong_answers():
    async def body():
        bs = await L.BootstrapServer(provision={"servers": [{"uri": "coap://x", "ssid": 1}]}).start()
        cli = await FakeClient().start(bs.port)
        orig = cli.render

        async def render(req):  # a client that answers the Delete "/" with 2.03 (seed 002 says 2.02)
            if req.code == Code.DELETE:
                await orig(req)
                return Message(code=Code.VALID)
            return await orig(req)
        cli.render = render
        try:
            await cli.send(Code.POST, "/bs", ["ep=n2"])
            ev = await bs.wait_bootstrapped("n2", 10)
            assert ev.info["ok"] is False and ev.info["steps"][0] == ("DELETE", "/", "2.03")
            assert [e["method"] for e in cli.log] == ["DELETE", "PUT", "PUT", "POST"]
        finally:
            await cli.stop()
            await bs.stop()
    run(body())


# ------------------------------------------------------------ CLI
def test_cli_script_against_fake_client(tmp_path):
    script = tmp_path / "demo.txt"
    script.write_text("read /3/0\nwrite /1/0/1 120\nexecute /3/0/4\nobserve /3/0/9 0\ndelete /9/7\nlist\n")

    async def body():
        proc = Proc([sys.executable, os.path.join(TOP, "tools", "lwm2m_cli.py"), "serve", "--port",
                     "0", "--script", str(script), "--exit-after-script"])
        cli = None
        try:
            first = await proc.line("", 20)  # "": the first line, whatever it says
            assert "listening on coap://127.0.0.1:" in first, first
            cli = await FakeClient().start(int(first.rsplit(":", 1)[1]))
            assert (await cli.register()).code == Code.CREATED
            await proc.exited(20)
        finally:
            if cli is not None:
                await cli.stop()
            proc.kill()
        return proc.output(), cli

    out, cli = run(body())
    assert "node-1 registered lt=300 b=U lwm2m=1.0 objects </1/0>,</3/0>,</5/0>" in out
    assert "read /3/0 -> 2.05 tlv 0='Open Mobile Alliance'" in out
    assert "write /1/0/1 -> 2.04" in out and "execute /3/0/4 -> 2.04" in out
    assert "delete /9/7 -> 2.02" in out and "node-1 U lt=300 rd/1" in out
    assert [(e["method"], e["path"]) for e in cli.log][:3] == [("GET", "/3/0"), ("PUT", "/1/0/1"),
                                                               ("POST", "/3/0/4")]
    assert cli.values["/1/0/1"] == b"120"


def test_describe_uses_object_types():
    s = L.describe_payload(11542, DEVICE_TLV, "/3/0")
    assert s.startswith("0='Open Mobile Alliance' 1='Lightweight M2M Client'")
    assert "6=[0=1 1=5]" in s and "9=100" in s and "13=1367491215" in s and "15='U'" in s
    assert L.describe_payload(11542, hexb("C1 09 64"), "/3/0/9") == "9=100"
    assert L.describe_payload(11542, hexb("08 00 03 C1 06 01"), "/1") == "0:{6=True}"
    assert L.describe_payload(0, b"42") == "42" and L.describe_payload(42, b"\x00\x01") == "2 bytes 0001"


def test_queue_mode_holds_requests_until_update():
    async def body():
        clock = Clock()
        async with paired(clock=clock, expiry_interval=None, queue_window=93) as (srv, cli):
            await cli.register(b="UQ")
            assert srv.clients["node-1"].queue_mode
            clock.t += 94  # past the window: the client no longer listens
            task = asyncio.ensure_future(srv.read("node-1", "/3/0/9"))
            for _ in range(20):
                await asyncio.sleep(0)
            assert cli.log == [] and not task.done()
            assert (await cli.send(Code.POST, "/rd/1")).code == Code.CHANGED
            r = await task
            assert r.payload == b"87" and [e["path"] for e in cli.log] == ["/3/0/9"]
            assert [e.kind for e in srv.clients["node-1"].events] == ["register", "update"]
    run(body())


def test_cli_bootstrap_once(tmp_path):
    prov = tmp_path / "prov.json"
    prov.write_text('{"servers": [{"uri": "coap://127.0.0.1:5683", "ssid": 3, "lifetime": 90}]}')

    async def body():
        proc = Proc([sys.executable, os.path.join(TOP, "tools", "lwm2m_cli.py"), "bootstrap",
                     "--port", "0", "--provision", str(prov), "--once"])
        cli = None
        try:
            first = await proc.line("", 20)  # "": the first line, whatever it says
            cli = await FakeClient().start(int(first.rsplit(":", 1)[1]))
            assert (await cli.send(Code.POST, "/bs", ["ep=node-9"])).code == Code.CHANGED
            rc = await proc.exited(20)
        finally:
            if cli is not None:
                await cli.stop()
            proc.kill()
        return "\n".join(proc.lines[1:]), rc, cli

    out, rc, cli = run(body())
    assert rc == 0 and "node-9 bootstrap finished ok" in out
    assert "node-9 bootstrap PUT /1/0 -> 2.04" in out
    assert L.decode_tlv(cli.log[2]["payload"]) == {0: b"\x03", 1: b"\x5a", 6: b"\x01", 7: b"U"}
