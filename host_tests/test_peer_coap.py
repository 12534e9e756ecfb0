"""CoAP interop with real peers: libcoap's coap-client against our endpoint on the MicroPython unix
port (server side), and our client side against an aiocoap server. A missing peer fails the test."""
import asyncio
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import pytest
from hostenv import coap_client_log, free_udp_port, micropython, peer_bin  # noqa: E402
from proc import Proc

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
APP = os.path.join(HERE, "apps", "coap_demo_app.py")
COAP_CLIENT = "coap-client-openssl"


def coap_client():
    return peer_bin(COAP_CLIENT)
OBS_PERIOD_MS = 200


def big_payload(n):
    # the same formula as coap_demo_app.big_payload
    return bytes(((i * 7 + (i >> 8)) & 0xFF) for i in range(n))


def run_client(args, timeout=30):
    """coap-client at debug verbosity: returns (sent, received, payload) where sent/received are
    lists of (type, code, options-text, payload-text) parsed from its log, payload the -o file.
    Its exit status says nothing (0 even on 4.04 and timeouts), so everything comes from here."""
    fd, out = tempfile.mkstemp(prefix="coapc-")
    os.close(fd)
    try:
        r = subprocess.run([coap_client(), "-B", "8", "-v", "7", "-o", out] + args,
                           capture_output=True, text=True, timeout=timeout)
        with open(out, "rb") as f:
            payload = f.read()
    finally:
        os.unlink(out)
    sent, recv = coap_client_log(r.stdout + "\n" + r.stderr)
    return sent, recv, payload


def codes(msgs):
    return [m.code for m in msgs]


@pytest.fixture(scope="module")
def server():
    coap_client()
    port = free_udp_port()
    p = Proc([micropython(), "-X", "heapsize=256K", APP, "server", str(port), str(OBS_PERIOD_MS)])
    try:
        p.wait_line("READY")
        yield p, "coap://127.0.0.1:%d" % port
    finally:
        p.kill()


def test_get_hello(server):
    _, base = server
    sent, recv, payload = run_client([base + "/hello"])
    assert codes(recv) == ["2.05"]
    assert recv[0].type == "ACK" and "Content-Format:text/plain" in recv[0].opts
    assert recv[0].mid == sent[0].mid and recv[0].token == sent[0].token  # piggy-backed
    assert payload == b"Hello from MicroPython"


def test_put_post_get_delete(server):
    _, base = server
    u = base + "/store"
    assert codes(run_client(["-m", "put", "-e", "abc", u])[1]) == ["2.01"]
    assert codes(run_client(["-m", "put", "-e", "xyz", u])[1]) == ["2.04"]
    assert codes(run_client(["-m", "post", "-e", "123", u])[1]) == ["2.04"]
    _, recv, payload = run_client([u])
    assert codes(recv) == ["2.05"] and payload == b"xyz123"
    assert codes(run_client(["-m", "delete", u])[1]) == ["2.02"]
    assert codes(run_client([u])[1]) == ["4.04"]
    assert codes(run_client(["-m", "delete", base + "/hello"])[1]) == ["4.05"]
    assert codes(run_client([base + "/no/such"])[1]) == ["4.04"]


def test_non_request_gets_non_response(server):
    _, base = server
    sent, recv, payload = run_client(["-N", base + "/hello"])
    assert sent[0].type == "NON" and recv and recv[0].type == "NON" and recv[0].code == "2.05"
    assert payload == b"Hello from MicroPython"


def test_block2_at_64_bytes(server):
    _, base = server
    sent, recv, payload = run_client(["-b", "64", base + "/big"])
    assert payload == big_payload(3000)
    n = (3000 + 63) // 64
    assert codes(recv) == ["2.05"] * n
    nums = [int(re.search(r"Block2:(\d+)/", m.opts).group(1)) for m in recv]
    assert nums == list(range(n))
    assert all("/64" in m.opts for m in recv)
    assert "/M/" not in recv[-1].opts and "/M/" in recv[0].opts  # only the last block clears More
    assert "Size2:3000" in recv[0].opts


def test_block1_upload_at_64_bytes(server):
    p, base = server
    data = os.urandom(5000)
    fd, path = tempfile.mkstemp(prefix="upload-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    start = len(p.lines)
    try:
        sent, recv, payload = run_client(["-b", "64", "-m", "put", "-f", path, base + "/upload"])
    finally:
        os.unlink(path)
    n = (5000 + 63) // 64
    want = ("%d %s" % (len(data), hashlib.sha256(data).hexdigest())).encode()
    assert codes(recv) == ["2.31"] * (n - 1) + ["2.04"]
    assert len(sent) == n and all("Block1:" in m.opts for m in sent)
    assert payload == want
    assert p.wait_line("UPLOAD", start=start) == "UPLOAD " + want.decode()
    assert run_client([base + "/upload"])[2] == want


def test_observe_notifications_and_active_cancel(server):
    p, base = server
    start = len(p.lines)
    sent, recv, payload = run_client(["-s", "3", base + "/obs"])
    assert "Observe:0" in sent[0].opts
    tok = sent[0].token
    seqs = [int(re.search(r"Observe:(\d+)", m.opts).group(1)) for m in recv]
    vals = [int(m.payload.strip("'")) for m in recv]
    assert len(recv) >= 5, recv  # the registration answer plus several notifications
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert vals == sorted(vals) and len(set(vals)) == len(vals)
    assert all(m.code == "2.05" and m.token == tok for m in recv)
    # libcoap ends -s with an active cancel: GET, Observe 1, the same token
    last = sent[-1]
    assert "Observe:1" in last.opts and last.token == tok and last.code == "GET"
    assert p.wait_line("OBS_START", start=start) == "OBS_START " + tok
    assert p.wait_line("OBS_CANCEL", start=start) == "OBS_CANCEL " + tok
    assert run_client([base + "/obscount"])[2] == b"0"


# ---- our client side against an aiocoap server

FW = bytes(((i * 31 + (i >> 9)) & 0xFF) for i in range(70001))


class AioServer:
    """aiocoap server on its own event loop in a thread, serving /small and /fw."""

    def __init__(self, port):
        import aiocoap
        import aiocoap.resource as resource

        self.renders = []
        srv = self

        class Small(resource.Resource):
            async def render_get(self, request):
                srv.renders.append("small")
                return aiocoap.Message(payload=b"small resource", content_format=0)

        class Fw(resource.Resource):
            async def render_get(self, request):
                srv.renders.append("fw")
                return aiocoap.Message(payload=FW, content_format=42)

        site = resource.Site()
        site.add_resource(["small"], Small())
        site.add_resource(["fw"], Fw())
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        err = []

        def run():
            asyncio.set_event_loop(self.loop)
            try:
                self.ctx = self.loop.run_until_complete(
                    aiocoap.Context.create_server_context(site, bind=("127.0.0.1", port)))
            except Exception as e:  # reported to the test thread
                err.append(e)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()

        self.t = threading.Thread(target=run, daemon=True)
        self.t.start()
        assert ready.wait(10), "aiocoap server did not start"
        if err:
            raise err[0]

    def close(self):
        fut = asyncio.run_coroutine_threadsafe(self.ctx.shutdown(), self.loop)
        try:
            fut.result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.t.join(10)


@pytest.mark.parametrize("interp", ["micropython", "cpython"])
def test_client_get_and_block2_download_from_aiocoap(interp):
    port = free_udp_port()
    srv = AioServer(port)
    exe = micropython() if interp == "micropython" else sys.executable
    argv = [exe] + (["-X", "heapsize=256K"] if interp == "micropython" else [])
    base = "coap://127.0.0.1:%d" % port
    p = Proc(argv + [APP, "client", base + "/small", base + "/fw"])
    try:
        assert p.wait_exit(60) == 0, "\n".join(p.lines)
    finally:
        p.kill()
        srv.close()
    assert "GET 2.05 14 small resource" in p.lines
    dl = [line for line in p.lines if line.startswith("DL ")]
    blocks = (len(FW) + 1023) // 1024  # 1024-byte blocks (szx 6), each streamed to the sink
    assert dl == ["DL 2.05 %d %s 0 %d" % (len(FW), hashlib.sha256(FW).hexdigest(), blocks)], p.lines
    assert p.lines[-1] == "DONE"
    assert "fw" in srv.renders


# ---- the board-like directory: main.py start-up under the unix port

def _board(cfg):
    sys.path.insert(0, os.path.join(TOP, "tools"))
    try:
        from boardir import make_board_dir
    finally:
        sys.path.pop(0)
    d = tempfile.mkdtemp(prefix="board-")
    make_board_dir(d, cfg)
    return d


def test_main_bad_config_one_line_exit_2():
    d = _board({"endpoint": "n", "servers": [{"uri": "http://x", "ssid": 1}]})
    try:
        r = subprocess.run([micropython(), "main.py"], cwd=d, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2
        assert r.stdout == "config: servers[0].uri: expected coap:// or coaps:// URI, got 'http://x'\n"
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write('{"endpoint": "n", "servers": [], "extra": 1}')
        r = subprocess.run([micropython(), "main.py"], cwd=d, capture_output=True, text=True,
                           timeout=30)
        assert (r.returncode, r.stdout) == (2, "config: extra: unknown key\n")
    finally:
        shutil.rmtree(d)


# ---- the runner's seams (CPython, real loopback sockets, no waiting: poll timeouts are 0)

class _FakeEp:
    def __init__(self):
        self.out = []
        self.got = []
        self.ticks = 0

    def receive(self, data, peer, now):
        self.got.append((bytes(data), peer))

    def tick(self, now):
        self.ticks += 1
        return None


class _Transport:
    """Stands in for a per-server DTLS transport: its own socket, sends recorded."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sent = []

    def recv(self, buf):
        return None

    def send(self, data, peer):
        self.sent.append((data, peer))

    def service(self, now):
        return 5

    def close(self):
        self.sock.close()


def test_runner_receive_route_hooks_feed_until():
    from coap.runner import Runner, resolve  # lib/ is on sys.path through conftest

    port = free_udp_port()
    ep = _FakeEp()
    r = Runner(ep, port)
    try:
        peer = resolve("coap://127.0.0.1:%d" % port)[3]
        assert peer == ("127.0.0.1", port)
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.1", 0))
        other.sendto(b"\x40\x01\x00\x01", ("127.0.0.1", port))
        fed = []
        r.feed = lambda: fed.append(1)
        seen = []
        r.add_hook(lambda now: seen.append(now) or 7)
        t = r.add_transport(_Transport())
        r.route(("secure", 1), t)
        ep.out.append((b"plain", other.getsockname()))
        ep.out.append((b"dtls", ("secure", 1)))
        for _ in range(50):
            if ep.got:
                break
            r.run_once(100)
        assert ep.got == [(b"\x40\x01\x00\x01", other.getsockname())]
        assert other.recvfrom(64)[0] == b"plain"
        assert t.sent == [(b"dtls", ("secure", 1))] and ep.out == []
        assert fed and seen and len(fed) <= len(seen)
        n = len(fed)
        calls = []
        r.run(lambda: calls.append(1) or len(calls) > 3)
        assert len(fed) == n + 3  # one feed per iteration, and until() ends the loop
        r.remove_transport(t)
        ep.out.append((b"x", ("secure", 1)))
        r.run_once(0)  # unrouted now: goes to UDP, fails, is logged and dropped, never raises
        t.close()
        other.close()
    finally:
        r.close()
