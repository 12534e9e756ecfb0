"""Where the host tools and tests find their peers: the unix port, libcoap, a free UDP port."""
import os
import shutil
import socket
import sys


def micropython():
    """The MicroPython unix port: .venv/bin/micropython next to this interpreter, else PATH."""
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    path = cand if os.path.exists(cand) else shutil.which("micropython")
    if not path:
        raise AssertionError("MicroPython unix port not found next to %s or on PATH (make venv)"
                             % sys.executable)
    return path


def peer_bin(name):
    """A libcoap binary (coap-client-openssl, coap-server-gnutls, ...): missing is a failure."""
    path = shutil.which(name)
    if not path:
        raise AssertionError("%s missing: apt-get install libcoap3-bin (make peers)" % name)
    return path


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
