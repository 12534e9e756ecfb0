"""Read /3/0 latency: GET to piggy-backed ACK on the wire, from a server nobody here wrote.

    .venv/bin/python tools/bench/bench_read.py [--gets 200] [--mpy]
The client runs as on a board (`micropython main.py` in a board-like directory, log level warn);
the LwM2M server is a bare UDP socket in CPython whose datagrams are encoded and decoded by
aiocoap's Message: it answers the Register with 2.01, then sends CON `GET /3/0` one at a time and
times sendto() -> the matching ACK, as a packet capture on loopback would. Prints a table for
tools/bench/bench.py; figures, not pass/fail.
"""
import select
import socket
import statistics
import sys
import time

import benchpath  # noqa: F401  first: tools/ and tools/bench/ on sys.path

from aiocoap import ACK, CON, GET, Message  # noqa: E402
from aiocoap.numbers.codes import Code  # noqa: E402

from bench_lwm2m import Board, config  # noqa: E402

EP = "bench-read"


def _recv(sock, timeout):
    r, _, _ = select.select([sock], [], [], timeout)
    if not r:
        raise TimeoutError("nothing from the client in %.0f s" % timeout)
    data, addr = sock.recvfrom(2048)
    return Message.decode(data), addr


def measure(gets=200, mpy=False, accept=None):
    """(list of us per GET, payload size, content format) for `gets` sequential reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    cfg = config([port], log="warn", ep=EP)
    board = Board(cfg, mpy=mpy)
    proc = board.start(["main.py"])
    try:
        while True:
            m, client = _recv(sock, 20)
            if m.code == Code.POST and list(m.opt.uri_path) == ["rd"]:
                break
        ack = Message(code=Code.CREATED)
        ack.mtype, ack.mid, ack.token = ACK, m.mid, m.token
        ack.opt.location_path = ["rd", "1"]
        sock.sendto(ack.encode(), client)
        time.sleep(0.3)  # let the client settle after registering
        out = []
        size = cf = None
        mid = 0x1000
        for i in range(gets + 10):  # the first 10 warm up
            mid = (mid + 1) & 0xFFFF
            req = Message(code=GET, uri_path=["3", "0"])
            req.mtype, req.mid, req.token = CON, mid, mid.to_bytes(2, "big")
            if accept is not None:
                req.opt.accept = accept
            data = req.encode()
            t0 = time.perf_counter_ns()
            sock.sendto(data, client)
            while True:
                r, _ = _recv(sock, 10)
                if r.mtype == ACK and r.mid == mid:
                    break
            t1 = time.perf_counter_ns()
            if r.code != Code.CONTENT:
                raise RuntimeError("GET /3/0 answered %s" % r.code)
            if i >= 10:
                out.append((t1 - t0) / 1000.0)
            size, cf = len(r.payload), int(r.opt.content_format)
        return out, size, cf
    finally:
        proc.kill()
        board.close()
        sock.close()


def rows(gets=200, mpy=False):
    us, size, cf = measure(gets, mpy)
    us.sort()
    how = ("raw UDP server (aiocoap Message codec) -> `micropython main.py`, %d sequential CON "
           "GET /3/0, sendto to ACK, loopback; %d B payload, cf %s" % (len(us), size, cf))
    return [
        ("Read /3/0 GET to ACK, median", "%.0f us" % statistics.median(us), how),
        ("  p90 / min", "%.0f / %.0f us" % (us[int(len(us) * 0.9)], us[0]), "same run"),
    ]


def main(argv):
    gets = int(argv[argv.index("--gets") + 1]) if "--gets" in argv else 200
    for name, value, how in rows(gets, "--mpy" in argv):
        print("%-34s  %12s  %s" % (name, value, how))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
