"""An application object on the real client: app.py beside main.py with setup(client, runner).

The Thermometer below is the README's example, verbatim; the test proves it works end to end on
the unix port: the object is registered, readable, executable, and its changes reach observers.
Checked against the project's own tools/lwm2m_server.py (no independent LwM2M server here).
"""
import asyncio

import lwm2m_server as L
from test_peer_client import one_server, with_client
from util import readme_block

README_EXAMPLE_START = "from lwm2m.model import object_def, resource"

APP_TAIL = '''

_sensor = [21.5]


def setup(client, runner):
    t = Thermometer(client.registry, lambda: _sensor[0])

    def tick(now):  # a rising sensor, polled every 500 ms
        _sensor[0] += 0.5
        t.poll()
        return 500

    runner.add_hook(tick)
'''


def readme_example():
    return readme_block(README_EXAMPLE_START)


def test_app_py_object_registers_reads_executes_and_notifies():
    async def main():
        srv = await L.LwM2MServer().start()

        async def body(c):
            reg = await srv.wait_registered("app-node", timeout=20)
            assert "/3303/0" in reg.object_paths()
            code, cf, pl = await srv.read("app-node", "/3303/0/5701")
            assert (code, pl) == ("2.05", b"Cel")
            code, cf, first = await srv.read("app-node", "/3303/0/5700")
            assert code == "2.05" and float(first) > 21.5
            await srv.write_attributes("app-node", "/3303/0/5700", pmin=0, pmax=30)
            obs = await srv.observe("app-node", "/3303/0/5700")
            a = float((await obs.next(5)).payload)
            b = float((await obs.next(5)).payload)
            assert b > a  # the app's changed() reached the observer
            await obs.cancel()
            code, _, _ = await srv.execute("app-node", "/3303/0/5605")
            assert code == "2.04"
            _, _, lo = await srv.read("app-node", "/3303/0/5601")
            _, _, hi = await srv.read("app-node", "/3303/0/5602")
            assert float(lo) > float(first) and float(hi) >= float(lo)  # reset to the current value

        await with_client(one_server("app-node", "coap://127.0.0.1:%d" % srv.port), body, [srv],
                          {"app.py": readme_example() + APP_TAIL})

    asyncio.run(asyncio.wait_for(main(), 90))
