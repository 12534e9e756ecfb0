"""DTLS-PSK transport (lib/coap/dtls.py) against libcoap's DTLS servers (openssl and gnutls builds),
driven from the MicroPython unix port by host_tests/apps/dtls_probe.py. A missing peer fails the test."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from hostenv import micropython  # noqa: E402
from proc import Proc

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PROBE = os.path.join(HERE, "apps", "dtls_probe.py")
SERVERS = ("coap-server-openssl", "coap-server-gnutls")
KEY = b"secretPSK-0123456789"
HINT = "lwm2m"
WELL_KNOWN = '</>;title="General Info";ct=0,</time>;if="clock";rt="ticks";title="Internal Clock"'




def server_bin(name):
    path = shutil.which(name)
    assert path, "%s missing: apt-get install libcoap3-bin (make peers)" % name
    return path


def _bindable(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port_pair():
    """A UDP port p with p+1 also free: libcoap serves CoAP on -p PORT and DTLS on PORT+1."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p < 65534 and _bindable(p) and _bindable(p + 1):
            return p
    raise AssertionError("no free UDP port pair")


class Server:
    """libcoap server; .dtls_port is where it listens for DTLS. Stopped in finally by the tests."""

    def __init__(self, name, key=KEY, port=None, extra=()):
        self.name = name
        self.port = port or free_port_pair()
        self.dtls_port = self.port + 1
        self.argv = [server_bin(name), "-A", "127.0.0.1", "-p", str(self.port), "-k", key.decode(),
                     "-h", HINT, "-v", "6"] + list(extra)
        self.p = Proc(self.argv)
        end = time.monotonic() + 5
        while _bindable(self.dtls_port):  # listening once we can no longer bind its port
            assert self.p.p.poll() is None, "%s exited with %s:\n%s" % (
                self.argv, self.p.p.returncode, self.p.output())
            assert time.monotonic() < end, "%s not listening on %d" % (name, self.dtls_port)
            time.sleep(0.02)

    def stop(self, graceful=False):
        if graceful:  # SIGTERM: libcoap sends close_notify; killed if not gone in 5 s
            self.p.interrupt(5, signal.SIGTERM)
        self.p.kill()


def probe(port, identity, key, timeout_ms=3000, mode=None, timeout=30):
    argv = [micropython(), PROBE, str(port), identity, key.hex(), str(timeout_ms)]
    if mode:
        argv.append(mode)
    t0 = time.monotonic()
    r = subprocess.run(argv, cwd=TOP, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr, time.monotonic() - t0


def lines(out, prefix):
    return [ln[len(prefix):].strip() for ln in out.splitlines() if ln.startswith(prefix + " ")]


# --- CPython side: the module imports, validates, and refuses clearly

def test_cpython_import_and_refusal():
    sys.path.insert(0, os.path.join(TOP, "lib"))
    from coap import dtls
    assert dtls.supported_modes == (0, 3)
    assert dtls.check_mode(0) == 0 and dtls.check_mode(3) == 3
    for mode, word in ((1, "raw public key"), (2, "certificate"), (7, "unknown")):
        with pytest.raises(ValueError, match=word):
            dtls.check_mode(mode)
    with pytest.raises(ValueError, match="33 bytes.*at most 32"):
        dtls.DtlsTransport(("127.0.0.1", 5684), "id", b"k" * 33)
    with pytest.raises(ValueError, match="bytes"):
        dtls.DtlsTransport(("127.0.0.1", 5684), "id", "a string key")
    with pytest.raises(ValueError, match="identity"):
        dtls.DtlsTransport(("127.0.0.1", 5684), b"", b"key")
    assert dtls.check_psk("id", b"k" * 32) == (b"id", b"k" * 32)
    # CPython has no DTLS client in its tls/ssl modules: a clear error, not an ImportError
    with pytest.raises(NotImplementedError, match="PROTOCOL_DTLS_CLIENT"):
        dtls.DtlsTransport(("127.0.0.1", 5684), "id", b"key")


def test_probe_refuses_long_key():
    rc, out, _ = probe(5684, "id", b"k" * 33)
    assert rc == 4, out
    assert lines(out, "CONFIG") == ["PSK key is 33 bytes; MicroPython's tls accepts at most 32"], out


# --- real DTLS servers

@pytest.mark.parametrize("name", SERVERS)
def test_psk_get_well_known_core(name):
    srv = Server(name)
    try:
        rc, out, _ = probe(srv.dtls_port, "client-1", KEY)
        assert rc == 0, out
        ready = lines(out, "READY")
        assert len(ready) == 1 and ready[0].startswith("TLS-PSK-WITH-AES-"), out
        assert lines(out, "CODE") == ["2.05"], out
        assert lines(out, "PAYLOAD")[0].startswith(WELL_KNOWN), out
        assert "FAILED" not in out, out
    finally:
        srv.stop()


@pytest.mark.parametrize("name", SERVERS)
def test_wrong_key_fails_within_timeout(name):
    srv = Server(name)
    try:
        rc, out, took = probe(srv.dtls_port, "client-1", b"not-the-key", timeout_ms=3000, timeout=20)
        assert rc == 2, out
        assert lines(out, "FAILED") == [
            "DTLS handshake timed out after 3000 ms (wrong PSK identity or key?)"], out
        assert "READY" not in out and "CODE" not in out, out
        assert took < 15, took
    finally:
        srv.stop()


@pytest.mark.parametrize("name", SERVERS)
def test_identity_is_not_checked_with_a_single_key(name):
    # libcoap with only -k: every identity gets that key, so a "wrong" identity still connects
    srv = Server(name)
    try:
        rc, out, _ = probe(srv.dtls_port, "somebody-else", KEY)
        assert rc == 0 and lines(out, "CODE") == ["2.05"], out
    finally:
        srv.stop()


@pytest.mark.parametrize("name", SERVERS)
def test_wrong_identity_with_identity_file(name, tmp_path):
    # -i maps (hint, identity) to its own key; any other identity falls back to the -k key
    idfile = tmp_path / "ids.txt"
    idfile.write_text("%s,dev-1,%s\n" % (HINT, "device-one-key"))
    srv = Server(name, key=b"default-key", extra=("-i", str(idfile)))
    try:
        rc, out, _ = probe(srv.dtls_port, "dev-1", b"device-one-key")
        assert rc == 0 and lines(out, "CODE") == ["2.05"], out
        rc, out, _ = probe(srv.dtls_port, "dev-2", b"device-one-key", timeout_ms=3000)
        assert rc == 2, out
        assert lines(out, "FAILED") == [
            "DTLS handshake timed out after 3000 ms (wrong PSK identity or key?)"], out
    finally:
        srv.stop()


def test_nothing_listening_fails_fast():
    port = free_port_pair()
    rc, out, took = probe(port + 1, "id", KEY, timeout_ms=10000)
    assert rc == 2, out
    assert lines(out, "FAILED") == ["DTLS handshake failed: ECONNREFUSED (nothing listening there?)"], out
    assert took < 8, took


@pytest.mark.parametrize("name", SERVERS)
@pytest.mark.parametrize("how", ("graceful", "crash"))
def test_server_restart_is_session_lost_then_recovers(name, how):
    srv = Server(name)
    pr = None
    try:
        pr = Proc([micropython(), PROBE, str(srv.dtls_port), "client-1", KEY.hex(), "3000",
                   "lost"], cwd=TOP, stdin=True)
        pr.wait_line("WAITING", 15)
        srv.stop(graceful=how == "graceful")
        srv = Server(name, port=srv.port)  # same ports, fresh process: it has no session for us
        pr.say("go")
        rc = pr.wait_exit(20)
        out = pr.output()
        assert rc == 0, out
        # graceful: libcoap sent close_notify on SIGTERM; crash: the new instance drops our records
        # of the old session silently, and the liveness ping (0.5 s, lost after 3 s) notices
        want = ("session lost (the peer closed the DTLS session)" if how == "graceful"
                else "session lost (no answer from the peer for 3 s)")
        assert lines(out, "FAILED") == [want], out
        assert len(lines(out, "READY")) == 2, out
        assert lines(out, "CODE") == ["2.05"] and lines(out, "RECOVERED") == ["2.05"], out
        retry = int(lines(out, "RETRY-AFTER-MS")[0])
        assert 3000 <= retry <= 6300, out  # 5 s +-25 %, first failure
    finally:
        if pr:
            pr.kill()
        srv.stop()
