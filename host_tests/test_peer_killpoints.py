"""Power cuts, CI-sized: tools/bench/killtest.py SIGKILLs the client at 21 points (bootstrap writes, write
bursts, firmware push) and checks every reboot: clean start, registration, firmware State 0 or 2.
The servers are the project's own (tools/lwm2m_server.py inside killtest.py)."""
import asyncio
import sys

from killtest import KillTest, killtest


def test_kill_points_survived():
    kt = asyncio.run(asyncio.wait_for(killtest(21, seed=7), 240))
    sys.stderr.write(kt.summary() + "\n")
    print(kt.summary())
    assert kt.survived == 21
    assert kt.by_phase == {"bootstrap": 7, "writes": 7, "fw": 7}
    assert sum(kt.fw_states.values()) == 21  # one State read per restart
    assert set(kt.fw_states) <= {0, 2}


def test_restart_twice_without_cut_keeps_registering():
    async def main():
        kt = await KillTest(seed=3).start()
        try:
            await kt.run(0)
            for _ in range(2):
                await kt.restart_and_check()
            assert kt.rebootstraps == 0  # the stored account is used, no bootstrap again
            assert kt.fw_states == {0: 2}
        finally:
            await kt.stop()

    asyncio.run(asyncio.wait_for(main(), 120))
