"""DTLS-PSK terminating relay: coaps:// clients in front, a plain-UDP CoAP/LwM2M server behind.

Each DTLS client (address) gets its own session and its own upstream UDP socket, so the server
behind sees one distinct source address per client and its requests back to that address (LwM2M
read, observe, ...) come out of the relay encrypted in that client's session. Built on
python-mbedtls (sans-I/O MbedTLSBuffer, so everything runs in one asyncio loop next to
tools/lwm2m_server.LwM2MServer). Cipher suites: those MicroPython's tls offers for PSK.

    python tools/dtls_relay.py --listen 127.0.0.1:5684 --upstream 127.0.0.1:5683 \\
        --identity dev-1 --key 73656372657431323334   # key in hex

Python API:
    relay = await DtlsRelay(("127.0.0.1", 5683), {b"dev-1": key}).start()   # relay.port
    relay.events  -> [(kind, addr, detail)]  kinds: handshake, ready, failed, closed, up, down
    await relay.stop(notify=True)  # notify=False: vanish without close_notify (a crash)
"""
import argparse
import asyncio
import socket
import sys
import time

from mbedtls import tls

CIPHERS = ("TLS-PSK-WITH-AES-128-GCM-SHA256", "TLS-PSK-WITH-AES-256-GCM-SHA384",
           "TLS-PSK-WITH-AES-128-CBC-SHA256")
_CHUNK = 4096


def _config(keys, ciphers):
    store = {(k.decode() if isinstance(k, bytes) else k): bytes(v) for k, v in keys.items()}
    return tls.DTLSConfiguration(
        validate_certificates=False, ciphers=list(ciphers), pre_shared_key_store=store,
        lowest_supported_version=tls.DTLSVersion.DTLSv1_2)


class _Up(asyncio.DatagramProtocol):
    def __init__(self, session):
        self.session = session

    def datagram_received(self, data, addr):
        self.session.from_upstream(data)

    def error_received(self, exc):
        self.session.relay._event("up-error", self.session.addr, repr(exc))


class _Session:
    """One client's DTLS session and its upstream socket."""

    def __init__(self, relay, addr):
        self.relay = relay
        self.addr = addr
        self.buf = None
        self.ready = False
        self.up = None
        self.last = time.monotonic()
        self._new_buffer()

    def _new_buffer(self):
        self.buf = self.relay.ctx.wrap_buffers()
        self.buf.setcookieparam(("%s:%d" % self.addr[:2]).encode())

    def _flush(self):
        while True:
            out = self.buf.peek_outgoing(_CHUNK)
            if not out:
                return
            self.relay.sock.sendto(out, self.addr)
            self.buf.consume_outgoing(len(out))

    def from_client(self, data):
        self.last = time.monotonic()
        self.buf.receive_from_network(data)
        while not self.ready:
            if self.buf._handshake_state is tls.HandshakeStep.HANDSHAKE_OVER:
                self._ready()
                break
            try:
                self.buf.do_handshake()  # one step; python-mbedtls's own socket loops the same way
            except tls.HelloVerifyRequest:
                self._flush()
                self._new_buffer()  # mbedtls needs a fresh session for the cookie'd ClientHello
                return
            except (tls.WantReadError, tls.WantWriteError):
                self._flush()
                return
            except Exception as e:  # bad MAC, unknown identity, ...: this session is dead
                self._flush()
                self.relay._drop(self, "failed", str(e))
                return
            self._flush()
        self._drain(data[0] == 21)

    def _ready(self):
        self._flush()
        self.ready = True
        c = self.buf.cipher()
        self.relay._event("ready", self.addr, c[0] if isinstance(c, tuple) else c)
        asyncio.ensure_future(self._connect_up())

    def _drain(self, alert):
        # read() gives b"" both for "nothing more" and after a close_notify, so an alert record
        # (content type 21, in the clear in DTLS 1.2) is what tells a closing client apart
        while self.ready:
            try:
                data = self.buf.read(_CHUNK)
            except tls.WantReadError:
                data = b""
            except Exception as e:
                self.relay._drop(self, "failed", repr(e))
                return
            if not data:
                if alert:
                    self.relay._drop(self, "closed", "the client closed the session")
                return
            self.relay._event("up", self.addr, len(data))
            if self.up is None:
                self._early = getattr(self, "_early", []) + [data]
            else:
                self.up.sendto(data)

    async def _connect_up(self):
        loop = asyncio.get_running_loop()
        tr, _ = await loop.create_datagram_endpoint(lambda: _Up(self),
                                                    remote_addr=self.relay.upstream)
        if not self.ready:
            tr.close()
            return
        self.up = tr
        for d in getattr(self, "_early", ()):
            tr.sendto(d)
        self._early = []

    def from_upstream(self, data):
        if not self.ready:
            return
        self.last = time.monotonic()
        self.relay._event("down", self.addr, len(data))
        self.buf.write(data)
        self._flush()

    def close(self, notify):
        if self.ready and notify:
            try:
                self.buf.shutdown()
                self._flush()
            except Exception:
                pass
        self.ready = False
        if self.up is not None:
            self.up.close()
            self.up = None


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, relay):
        self.relay = relay

    def datagram_received(self, data, addr):
        self.relay._from_client(data, addr)


class DtlsRelay:
    """See the module docstring. keys: {identity: key bytes}."""

    def __init__(self, upstream, keys, host="127.0.0.1", port=0, ciphers=CIPHERS, log=None,
                 idle_s=600.0):
        self.upstream = upstream
        self.host = host
        self._want_port = port
        self.port = None
        self.ctx = tls.ServerContext(_config(keys, ciphers))
        self.log = log
        self.idle_s = idle_s
        self.sessions = {}
        self.events = []
        self.sock = None
        self._tr = None

    def _event(self, kind, addr, detail=None):
        self.events.append((kind, addr, detail))
        if self.log is not None:
            self.log("relay %s %s:%d %s" % (kind, addr[0], addr[1], "" if detail is None else detail))

    async def start(self):
        loop = asyncio.get_running_loop()
        self._tr, _ = await loop.create_datagram_endpoint(
            lambda: _Listener(self), local_addr=(self.host, self._want_port),
            family=socket.AF_INET)
        self.sock = self._tr
        self.port = self._tr.get_extra_info("sockname")[1]
        return self

    async def stop(self, notify=True):
        for s in list(self.sessions.values()):
            s.close(notify)
        self.sessions = {}
        if self._tr is not None:
            self._tr.close()
            self._tr = None
        await asyncio.sleep(0)

    def kinds(self, kind):
        return [e for e in self.events if e[0] == kind]

    def _drop(self, s, kind, why):
        s.close(False)
        if self.sessions.get(s.addr) is s:
            del self.sessions[s.addr]
        self._event(kind, s.addr, why)

    def _from_client(self, data, addr):
        s = self.sessions.get(addr)
        now = time.monotonic()
        for a, old in list(self.sessions.items()):
            if old is not s and now - old.last > self.idle_s:
                self._drop(old, "closed", "idle")
        if s is None:
            # only a ClientHello (handshake record, type 22) opens a session; anything else is a
            # record of a session we do not have (we restarted): dropped without a word, as DTLS
            # servers do
            if not data or data[0] != 22:
                self._event("stray", addr, len(data))
                return
            s = self.sessions[addr] = _Session(self, addr)
            self._event("handshake", addr)
        s.from_client(data)


def _hostport(text, default_host="127.0.0.1"):
    host, _, port = text.rpartition(":")
    return (host or default_host, int(port))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:5684", help="HOST:PORT for DTLS clients")
    ap.add_argument("--upstream", default="127.0.0.1:5683", help="HOST:PORT of the CoAP server")
    ap.add_argument("--identity", required=True, action="append", help="PSK identity (repeatable)")
    ap.add_argument("--key", required=True, action="append", help="PSK key in hex, one per identity")
    a = ap.parse_args(argv)
    if len(a.identity) != len(a.key):
        ap.error("give one --key per --identity")
    try:
        keys = {i.encode(): bytes.fromhex(k) for i, k in zip(a.identity, a.key)}
    except ValueError:
        ap.error("--key must be hex")
    host, port = _hostport(a.listen)

    async def run():
        r = await DtlsRelay(_hostport(a.upstream), keys, host, port, log=print).start()
        print("dtls relay on %s:%d -> %s (identities: %s)" % (
            host, r.port, a.upstream, ", ".join(a.identity)), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await r.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
