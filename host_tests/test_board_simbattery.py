"""The host's simulated battery (board.hostsim.SimBattery), opt-in through LWM2M_SIM_BATTERY."""
import os

from board import battery as bat
from board import power
from board.host import SIM_BATTERY_ENV, Platform
from board.hostsim import SimBattery, sim_battery
from util import FakeClock, raises


def _sim(start=4000, rate=600, floor=3300):
    c = FakeClock(1000)
    return c, SimBattery(start, rate, floor, clock=lambda: c.now)


def test_discharges_linearly_through_the_curve():
    c, b = _sim()
    assert b.millivolts() == 4000 and b.level() == 77  # 70 + 50 * 10 // 70
    c.advance(10000)  # 600 mV/min = 10 mV/s
    assert b.millivolts() == 3900 and b.level() == 63  # 60 + 30 * 10 // 80
    c.advance(1500)
    assert b.millivolts() == 3885
    assert b.status() == bat.NORMAL
    c.advance(60000)
    assert b.millivolts() == 3300 and b.level() == 0 and b.status() == bat.LOW  # floor holds
    c.advance(600000)
    assert b.millivolts() == 3300


def test_poll_reports_only_changes():
    c, b = _sim(3500)
    got = []
    b.poll(got.append)
    assert got == []  # the first poll only sets the baseline, like Battery.poll
    b.poll(got.append)
    assert got == []
    assert b.level() == 3  # 200 * 5 // 300
    c.advance(1000)  # 10 mV: 60 mV per percent down here, so the level stays
    b.poll(got.append)
    assert got == ["voltage"] and b.level() == 3
    got = []
    c.advance(5000)
    b.poll(got.append)
    assert got == ["voltage", "level"] and b.level() == 2
    c, b = _sim(3700)
    b.poll(got.append)
    assert b.level() == 12 and b.status() == bat.NORMAL  # 10 + 10 * 10 // 40
    got = []
    c.advance(2000)
    b.poll(got.append)
    assert got == ["voltage", "level", "status"] and b.level() == 9 and b.status() == bat.LOW


def test_spec_parsing():
    assert sim_battery(None) is None and sim_battery("") is None
    b = sim_battery("4100")
    assert b.start_mv == 4100 and b.mv_per_min == 600
    b = sim_battery("3900,120")
    assert (b.start_mv, b.mv_per_min) == (3900, 120)
    raises(ValueError, sim_battery, "1,2,3")
    raises(ValueError, sim_battery, "lots")


def test_platform_default_unchanged_and_sim_battery_used():
    if not os.getenv(SIM_BATTERY_ENV):
        p = Platform(root="/tmp/x")
        assert p.battery is None and p.power.available() == [power.DC]
    c, b = _sim()
    p = Platform(root="/tmp/x", battery=b)
    assert p.battery is b and p.power.available() == [power.INTERNAL_BATTERY]
    assert p.power.voltages() == [4000]
