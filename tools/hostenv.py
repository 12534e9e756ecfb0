"""Where host tools and tests find their peers: the unix port, libcoap, a free UDP port, TCP echo."""
import asyncio
import os
import re
import shutil
import socket
import sys
from collections import namedtuple


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


class Echo:
    """A TCP echo server on loopback (.port): the far end of host_tests/apps/aio_app.py's own
    network task, for test_peer_asyncio and tools/bench/bench_aio.py; .conns counts connections."""

    async def start(self):
        self.conns = 0

        async def serve(r, w):
            self.conns += 1
            while True:
                line = await r.readline()
                if not line:
                    break
                w.write(line)
                await w.drain()
            w.close()

        self.srv = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.port = self.srv.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        self.srv.close()


Pdu = namedtuple("Pdu", "type code mid token opts payload")
_PDU = re.compile(r"^v:1 t:(CON|NON|ACK|RST) c:(\S+) i:([0-9a-f]+) \{([0-9a-f]*)\} \[(.*?)\]"
                  r"(?: :: (.*))?$")


def coap_client_log(text):
    """(sent, received) Pdu lists from coap-client's `-v 7` log. Its exit status says nothing
    (0 even on 4.04 and time-outs), so tests read what went over the wire from here."""
    sent, recv = [], []
    where = None
    for line in text.splitlines():
        if re.search(r" sent \d+ bytes$", line):
            where = sent
        elif re.search(r" received \d+ bytes$", line):
            where = recv
        else:
            m = _PDU.match(line)
            if m and where is not None:
                where.append(Pdu(*m.groups()))
                where = None
    return sent, recv
