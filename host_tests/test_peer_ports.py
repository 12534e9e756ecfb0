"""boot.py + main.py on a port personality in the unix port, against tools/lwm2m_server.py.

CPython drives; the client runs in a MicroPython subprocess (host_tests/ports/run.py) whose
`machine`, `esp32`, `network` and `tls` are the personality's fakes.
"""
import asyncio
import json
import os
import sys

import lwm2m_server as L
from ports import board_fs
from proc import Proc

HERE = os.path.dirname(os.path.abspath(__file__))
MICROPYTHON = os.path.join(os.path.dirname(HERE), ".venv", "bin", "micropython")
EP = "ports-peer"


def _start(name, srv_port):
    fs = board_fs("peer", {"endpoint": EP, "log": "info", "wifi": {"ssid": "s", "password": "p"},
                           "servers": [{"uri": "coap://127.0.0.1:%d" % srv_port, "ssid": 1}]})
    run = os.path.join(HERE, "ports", "run.py")
    return Proc([MICROPYTHON, "-X", "heapsize=2M", run, name, fs])


def _stop(p):
    rc = p.interrupt(30)  # the user's Ctrl-C; None: still running after 30 s (then killed)
    out = p.output()
    line = [x for x in out.splitlines() if x.startswith("PORTS")]
    assert rc == 0 and line, out
    return json.loads(line[0][5:]), out


def test_stock_esp32_generic_over_the_wire_fw_not_supported_then_ctrl_c_to_the_repl():
    async def main():
        srv = await L.LwM2MServer().start()
        p = _start("esp32-generic", srv.port)
        try:
            await srv.wait_registered(EP, 30)  # before: OSError(ENOENT) in Client(), reset loop
            r = await srv.read(EP, "/5/0/9")
            assert r.code == "2.05" and bytes(r.payload) == b"1", r
            r = await srv.push_firmware(EP, b"\xe9" * 4096, block_size=512, timeout=20)
            assert r.code == "4.13", r  # no OTA slot: no room
            r = await srv.read(EP, "/5/0/5")
            assert bytes(r.payload) == b"2", r
            r = await srv.write(EP, "/5/0/1", b"coap://127.0.0.1:9/fw")
            assert r.code == "4.00", r
            r = await srv.read(EP, "/5/0/5")
            assert bytes(r.payload) == b"9", r
        finally:
            got, out = await asyncio.to_thread(_stop, p)
            await srv.stop()
        assert got["events"] == ["power", "boot", "repl"], out
        assert got["wdt"] == 30000 and got["feeds"] > 0, got
        assert any(e.kind == "deregister" for e in srv.events), srv.events

    asyncio.run(main())
