"""End to end: NAT rebinding simulated by a new local port. `micropython main.py` in a board-like
directory registers with tools/lwm2m_server.py; a `rebind` file in its data dir (the host/test
facility of Runner.watch_address) makes it swap its UDP socket; the client Updates from the new port
at once, the server reaches it there, and the Deregister comes from there too."""
import asyncio
import os
import signal

import lwm2m_server as L
from test_peer_client import EP, config, device_tlv, run, with_client


def test_new_local_port_sends_update_and_server_reaches_it():
    async def main():
        srv = await L.LwM2MServer().start()
        seen = []  # (method, path, source port) of every request the server gets
        handle = srv._handle

        async def spy(req):
            seen.append((str(req.code), "/".join(req.opt.uri_path), req.remote.sockaddr[1]))
            return await handle(req)

        srv._handle = spy

        async def body(c):
            reg = await srv.wait_registered(EP, 20)
            p1 = reg.remote.sockaddr[1]
            assert seen[-1][:2] == ("POST", "rd") and seen[-1][2] == p1
            assert L.tlv_str(device_tlv(await srv.read(EP, "/3/0"))[0]) == "MicroPython"
            n = len(seen)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with open(os.path.join(c.dir, "data", "rebind"), "w"):
                pass
            u = await srv.wait_event("update", EP, 10)
            took = loop.time() - t0
            assert took < 5.0, took  # the host watch looks every second; the Update is at once
            assert u.info == {"count": 1}  # an empty Update: only the address changed
            await c.line("lwm2m: address changed: Update to 1 server(s)", 5)
            assert not os.path.exists(os.path.join(c.dir, "data", "rebind"))
            p2 = srv.clients[EP].remote.sockaddr[1]
            assert p2 != p1
            assert seen[n:] == [("POST", "rd/%s" % reg.id, p2)]
            # the server's next request goes to the new address, and is answered from it
            assert L.tlv_str(device_tlv(await srv.read(EP, "/3/0"))[0]) == "MicroPython"
            assert (await srv.read(EP, "/1/0/1")).text == "300"
            c.p.p.send_signal(signal.SIGINT)
            await srv.wait_event("deregister", EP, 10)
            assert seen[-1] == ("DELETE", "rd/%s" % reg.id, p2)
            assert await asyncio.to_thread(c.p.wait_exit, 15) == 0, c.output()

        await with_client(config([(srv.port, 1)]), body, [srv])

    run(main())
