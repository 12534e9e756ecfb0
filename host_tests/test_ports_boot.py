"""boot.py + main.py on port personalities: watchdog limits, exits, safe mode, the REPL.

Each test boots the repository's boot.py and main.py on a simulated board (host_tests/ports):
the real client, a stub LwM2M server serviced from a runner hook, and a Ctrl-C once registered.
"""
import os

from ports import Board, StubServer, board_fs, deploy_snippets
from util import exists


def _cfg(srv, **kw):
    c = {"endpoint": "port-test", "servers": [{"uri": srv.uri(), "ssid": 1, "lifetime": 300}],
         "wifi": {"ssid": "lab", "password": "pw"}, "log": "warn"}
    c.update(kw)
    return c


def _boot(name, cfg=None, config_text=None, ctrl_c=True):
    srv = StubServer(ctrl_c=ctrl_c)
    fs = board_fs(name.replace(".", ""), config_text if config_text is not None else
                  _cfg(srv, **(cfg or {})))
    b = Board(name, fs)
    b.app = srv.setup
    return b, srv


# ---------------------------------------------------------------- point 1: rp2 watchdog limit
def test_pico_w_default_config_boots_registers_and_feeds_a_watchdog_it_accepts():
    b, srv = _boot("pico-w-1.28", {"board": {"battery": True}})
    with b:
        ev = b.power_on()
    srv.close()
    # before: WDT(timeout=30000) -> ValueError -> machine.reset() -> the same again, forever
    assert ev == ["power", "boot", "repl"], ev
    assert srv.registers == 1 and srv.deregisters == 1
    assert b.wdt is not None and b.wdt <= 8388 and b.feeds > 0
    # point 8: the client runs on the Platform main.py brought Wi-Fi up on (data_dir, options)
    assert srv.client.platform.ifconfig()[0] == "127.0.0.1"
    assert srv.client.platform.fwstore().root == "data/fw"


def test_pico_w_watchdog_over_the_port_limit_is_one_config_line_not_a_reset_loop():
    b, srv = _boot("pico-w-current", {"watchdog_ms": 30000})
    with b:
        ev = b.power_on()
    srv.close()
    assert ev == ["power", "boot", "repl"], ev
    lines = b.said("watchdog_ms")
    assert len(lines) == 1 and "8388" in lines[0] and lines[0].startswith("config: "), b.out
    assert srv.registers == 0 and b.wdt is None


def test_esp32_keeps_a_30_s_watchdog():
    b, srv = _boot("esp32-ota")
    with b:
        ev = b.power_on()
    srv.close()
    assert ev == ["power", "boot", "repl"], ev
    assert b.wdt == 30000 and srv.registers == 1


# ---------------------------------------------------------------- point 2: back to the REPL
def test_ctrl_c_deregisters_and_stays_at_the_repl_on_every_personality():
    from ports import PERSONALITIES

    for name in sorted(PERSONALITIES):
        b, srv = _boot(name)
        with b:
            ev = b.power_on()
        srv.close()
        # before: sys.exit(130) -> SystemExit -> soft reset -> the client runs again
        assert ev == ["power", "boot", "repl"], (name, ev)
        assert srv.registers == 1 and srv.deregisters == 1, name


def test_bad_config_prints_one_line_and_stops():
    for text in ("{not json", '{"endpoint": "x", "servers": [], "colour": 1}'):
        b, srv = _boot("pico-w-1.28", config_text=text)
        with b:
            ev = b.power_on()
        srv.close()
        assert ev == ["power", "boot", "repl"], ev  # before: a soft-reset loop
        assert len(b.said("config: ")) == 1, b.out
        assert b.wdt is None


# ---------------------------------------------------------------- point 3: safe mode
def test_watchdog_outlives_ctrl_c_so_a_deploy_needs_safe_mode():
    SAFE_MODE_ENTER, SAFE_MODE_LEAVE = deploy_snippets()
    b, srv = _boot("pico-w-1.28")
    with b:
        b.power_on()
        assert b.wdt is not None  # armed by the client, still running at the REPL
        # mpremote: Ctrl-C (the client returned), Ctrl-A, then a deploy of 20 s at the raw REPL
        assert b.repl(20000) is False  # the watchdog bites mid-deploy: why safe mode exists
        n = srv.registers
        # what tools/deploy.py sends first: the safe-mode flag, then a hard reset
        b.repl(100, SAFE_MODE_ENTER)
        assert b.events[-3:] == ["hard", "boot", "repl"], b.events
        assert b.wdt is None and srv.registers == n  # no client, no watchdog
        assert b.said("safe mode")
        b.raw_soft_reset()  # mpremote's soft resets run boot.py only
        assert b.repl(60000) is True  # a long deploy survives
        b.repl(100, SAFE_MODE_LEAVE)  # deploy done: back to normal
        assert b.events[-3:] == ["hard", "boot", "repl"], b.events
        assert not exists("safemode") and srv.registers == n + 1
    srv.close()


# ---------------------------------------------------------------- a Pico W update, good and bad
def _staged(name, files):
    """A board whose lib/ holds fwmark.py ("old") with a bundle of files staged and applied,
    and the /5 record in Updating, as Execute Update leaves them before the reset."""
    b, srv = _boot(name)
    os.mkdir(b.fs + "/lib")
    with open(b.fs + "/lib/fwmark.py", "w") as f:
        f.write("MARK = 'old'\n")
    b.max_boots = 8
    with b:
        from board import fwfile
        from board.bundle import BundleStore
        from board.fwboot import write_bundle
        from lwm2m.store import Store

        st = BundleStore("data/fw")
        st.begin()
        write_bundle(st, files)
        st.finish()
        fwfile.apply(st)
        Store("data").save("fw", {"state": 3, "result": 0})
    return b, srv


def _after(b):
    from lwm2m.store import Store

    with open("lib/fwmark.py") as f:
        mark = f.read()
    return mark, Store("data").load("fw")


def test_pico_w_good_update_applies_registers_and_reports_1():
    b, srv = _staged("pico-w-1.28", [("fwmark.py", b"MARK = 'new'\n")])
    with b:
        ev = b.power_on()
        mark, rec = _after(b)
    srv.close()
    assert ev == ["power", "boot", "repl"], ev
    assert "new" in mark and rec["state"] == 0 and rec["result"] == 1, rec
    assert srv.registers == 1


def test_pico_w_update_whose_board_package_is_broken_rolls_back_and_reports_8():
    bad = [("fwmark.py", b"MARK = 'new'\n"),
           ("board/__init__.py", b"raise ImportError('a broken update')\n")]
    b, srv = _staged("pico-w-current", bad)
    with b:
        ev = b.power_on()
        mark, rec = _after(b)
    srv.close()
    # 3 starts of the new lib/ fail (main.py counts them), then boot.py puts the old one back
    # although it cannot import board.fwstore from the broken one (before: it never did)
    assert ev[-2:] == ["boot", "repl"] and ev.count("boot") == 4, (ev, b.out)
    assert "old" in mark and rec["state"] == 0 and rec["result"] == 8, rec
    assert srv.registers == 1


# ---------------------------------------------------------------- point 6 through main.py
def test_coaps_account_on_released_firmware_is_one_line_and_the_rest_runs():
    for name in ("pico-w-1.28", "pico-w-1.24", "esp32-ota"):
        srv = StubServer()
        cfg = _cfg(srv)
        cfg["servers"].append({"uri": "coaps://127.0.0.1:5684", "ssid": 2,
                               "psk_identity": "dev", "psk_key": "00112233" * 4})
        b = Board(name, board_fs("coaps", cfg))
        b.app = srv.setup
        with b:
            ev = b.power_on()
        srv.close()
        # before (1.25-1.28): psk_identity -> AttributeError -> main.py -> reset loop
        assert ev == ["power", "boot", "repl"], (name, ev, b.out)
        why = [x for x in srv.log if "DTLS-PSK" in x and "not registering" in x]
        assert len(why) == 1 and "v1.28.0" in why[0], (name, srv.log)
        assert srv.registers == 1  # the coap:// server still gets its registration
