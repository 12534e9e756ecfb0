"""Local LwM2M 1.0 bootstrap server on aiocoap: provisions a client from a plan dict (CPython only)."""
# Part of a test peer that follows the LwM2M 1.0 TS, not our client: it must not import lib/.
import asyncio
import json

import aiocoap
from aiocoap import Message
from aiocoap.numbers.codes import Code

from lwm2m_codec import CF_TLV, encode_tlv, encode_tlv_instances
from lwm2m_peer import Peer, query_of

SEC_MODES = {"psk": 0, "rpk": 1, "cert": 2, "x509": 2, "nosec": 3}


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


class BootstrapServer(Peer):
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
        ep = query_of(req).get("ep")
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
