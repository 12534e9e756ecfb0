"""lib/board, config and the firmware/DTLS parts of the client on port personalities (pure)."""
from ports import Board, board_fs
from util import raises

# State /5/0/3 and Update Result /5/0/5 (LwM2M 1.0.2 E.6); lwm2m.fwupdate keeps them private
IDLE, DOWNLOADING, UPDATING = 0, 1, 3
R_NO_SPACE, R_FAILED, R_BAD_PROTOCOL = 2, 8, 9


def _board(name, cfg=None):
    return Board(name, board_fs("u" + name.replace(".", ""), cfg or {"endpoint": "x"}))


def _client_cfg(**kw):
    from lwm2m.config import validate

    c = {"endpoint": "pt", "servers": [{"uri": "coap://127.0.0.1:5683", "ssid": 1}],
         "wifi": {"ssid": "s", "password": "p"}, "data_dir": "data", "log": "error"}
    c.update(kw)
    return validate(c)


# ---------------------------------------------------------------- point 1: watchdog per port
def test_rp2_watchdog_default_and_limit():
    from lwm2m.config import ConfigError, validate

    raw = {"endpoint": "e", "servers": [{"uri": "coap://h", "ssid": 1}]}
    assert validate(raw, "rp2")["watchdog_ms"] == 8000  # the default rp2's WDT accepts
    assert validate(raw, "esp32")["watchdog_ms"] == 30000
    raw["watchdog_ms"] = 30000
    e = raises(ConfigError, validate, raw, "rp2")
    assert str(e).startswith("config: watchdog_ms: ") and "8388" in str(e)
    raw["watchdog_ms"] = 8388
    assert validate(raw, "rp2")["watchdog_ms"] == 8388


def test_rp2_platform_arms_a_watchdog_the_port_accepts():
    with _board("pico-w-1.28") as b:
        import board

        p = board.platform(root="data")
        p.wdt(30000)  # the port itself would raise ValueError("timeout exceeds 8388")
        assert b.wdt == 8388


# ---------------------------------------------------------------- point 4: no OTA slots
def test_stock_esp32_generic_runs_with_firmware_update_not_supported():
    with _board("esp32-generic"):
        import board
        from lwm2m import fwupdate
        from lwm2m.client import Client
        from lwm2m.errors import BadRequest, TooLarge

        cfg = _client_cfg()
        c = Client(cfg, board.platform(**board.options(cfg)))  # before: OSError(ENOENT) here
        fu = c.fw
        assert fu.get(8) == {} and fu.get(9) == 1  # no protocol; push only, and refused
        raises(TooLarge, fu.package_block, 0, b"\x00" * 512, False)  # 4.13
        assert fu.state == IDLE and fu.result == R_NO_SPACE
        raises(BadRequest, fu.write_uri, "coap://127.0.0.1/fw", 0)  # 4.00
        assert fu.state == IDLE and fu.result == R_BAD_PROTOCOL


# ---------------------------------------------------------------- point 5: ESP32 rollback
def _staged_update(b, image_ok):
    """Push an image into the next OTA slot, Update, reset; the bootloader does the rest."""
    import board
    from ports import HardReset

    p = board.platform(root="data")
    st = p.fwstore()
    img = b"\xe9" + bytes(range(256)) * 40
    st.begin(len(img))
    st.write(img)
    st.finish()
    st.apply()
    if not image_ok:
        b.bad = (b.next_boot,)
    b._hard("hard")  # Update: machine.reset()
    if b.running in b.bad:
        b._hard("hard")  # the new image crashed before Python ran: the bootloader rolls back
    raises(HardReset, p.reboot)
    return board.platform(root="data").fwstore()


def test_esp32_rollback_is_reported_as_failed_and_a_good_image_as_applied():
    for ok in (False, True):
        with _board("esp32-ota") as b:
            assert b.running == "ota_0"
            st = _staged_update(b, ok)
            assert b.running == ("ota_1" if ok else "ota_0")
            # before: PartitionStore had no boot_result, so /5/0/5 became 1 on the old image
            assert st.boot_result() == ("applied" if ok else "rolledback")


def test_esp32_rollback_through_the_engine_gives_result_8():
    from lwm2m import fwupdate
    from lwm2m.fwpkg import MemStore

    with _board("esp32-ota") as b:
        store = MemStore()
        store.save("fw", {"state": UPDATING, "result": 0})
        st = _staged_update(b, False)
        fu = fwupdate.FwUpdate(st, store)
        fu.on_boot(0)
        assert fu.state == IDLE and fu.result == R_FAILED
        assert not fu.pending


# ---------------------------------------------------------------- point 6: DTLS per firmware
def test_tls_capability_per_firmware():
    want = {"pico-w-1.24": 0, "pico-w-1.28": 1, "esp32-generic": 1, "pico-w-current": 2}
    for name, lv in want.items():
        with _board(name):
            from coap import tlsinfo

            assert tlsinfo.level() == lv, name
            assert (tlsinfo.why() is None) == (lv == 2)


def test_coaps_account_on_dtls_without_psk_is_refused_with_one_line():
    from coap import dtls

    for name in ("pico-w-1.28", "pico-w-1.24"):
        with _board(name):
            from coap import dtls as d

            # before: the transport was built, and start() set psk_identity -> AttributeError
            e = raises(NotImplementedError, d.DtlsTransport, ("127.0.0.1", 5684), b"id", b"k")
            assert "DTLS-PSK" in str(e) and "v1.28.0" in str(e)
    assert dtls is not None


def test_secure_factory_logs_one_line_and_never_raises_on_128():
    with _board("pico-w-1.28"):
        from lwm2m.secure import Refused, Secure

        lines = []

        class Log:
            def error(self, s):
                lines.append(s)

            info = warn = error

        class Runner:
            def add_hook(self, fn):
                pass

            def add_transport(self, t):
                pass

            def route(self, peer, t):
                self.t = t

        class Acct:
            ssid = 1
            uri = "coaps://127.0.0.1:5684"
            mode = 0
            identity = b"id"
            key = b"0123456789abcdef"

        r = Runner()
        Secure(r, None, Log())(Acct(), "127.0.0.1", 5684, ("127.0.0.1", 5684))
        assert len(lines) == 1 and "DTLS-PSK" in lines[0], lines
        assert isinstance(r.t, Refused)
        raises(OSError, r.t.send, b"x")  # nothing goes out in the clear


def test_fw_object_does_not_advertise_coaps_without_dtls_psk():
    import sys

    for name, coaps in (("pico-w-1.28", False), ("pico-w-current", True)):
        with _board(name):
            from lwm2m import fwuri

            got = fwuri.coaps_supported()
            if sys.implementation.name != "micropython":
                coaps = False  # CPython never pulls over coaps://
            assert got == coaps, name


def test_coaps_package_uri_without_a_dtls_session_never_goes_out_as_udp():
    from lwm2m import fwupdate
    from lwm2m.fwpkg import MemStore, SinkStorage

    calls = []

    def download(*a):
        calls.append(a)

    fu = fwupdate.FwUpdate(SinkStorage(), MemStore(), resolve=lambda h, p: (h, p),
                           download=download, coaps=True, secure=lambda peer: False)
    fu.write_uri("coaps://198.51.100.7/fw.bin", 0)
    fu.tick(0)  # the first attempt
    assert calls == [] and fu.result == R_BAD_PROTOCOL and fu.state == IDLE
    fu = fwupdate.FwUpdate(SinkStorage(), MemStore(), resolve=lambda h, p: (h, p),
                           download=download, coaps=True, secure=lambda peer: True)
    fu.write_uri("coaps://198.51.100.7/fw.bin", 0)
    fu.tick(0)
    assert len(calls) == 1 and fu.state == DOWNLOADING


# ---------------------------------------------------------------- point 8: board options
def test_board_section_is_validated_per_port():
    from lwm2m.config import ConfigError, validate

    raw = {"endpoint": "e", "servers": [{"uri": "coap://h", "ssid": 1}],
           "board": {"battery_pin": 35, "vbus_pin": 34, "divider": 2}}
    assert validate(raw, "esp32")["board"] == {"battery_pin": 35, "vbus_pin": 34, "divider": 2.0}
    raw["board"] = {"battery_pin": 35}
    e = raises(ConfigError, validate, raw, "rp2")  # the Pico W's battery is on ADC3, fixed
    assert str(e).startswith("config: board.battery_pin: ")
    raw["board"] = {"battery_pin": "35"}
    e = raises(ConfigError, validate, raw, "esp32")
    assert str(e).startswith("config: board.battery_pin:")
    raw["board"] = {"battery": False}
    assert validate(raw, "rp2")["board"] == {"battery": False}
    del raw["board"]
    assert validate(raw, "rp2")["board"] == {}


def test_board_options_and_data_dir_reach_the_platform_the_client_uses():
    import json

    cfg = {"endpoint": "pt", "servers": [{"uri": "coap://127.0.0.1:5683", "ssid": 1}],
           "wifi": {"ssid": "s", "password": "p"}, "data_dir": "store2", "log": "error",
           "board": {"battery_pin": 35, "vbus_pin": 34}}
    with Board("esp32-ota", board_fs("opt", json.dumps(cfg))) as b:
        import board
        from lwm2m.client import Client
        from lwm2m.config import load

        c = load("config.json")
        p = board.platform(**board.options(c))  # what main.py does
        b.vbus = 1
        assert p.battery is not None and p.power._pin is not None  # the pins reached it
        cl = Client(c, board.platform(**board.options(c)))
        assert cl.platform is p  # one Platform, made once with the board's options
        st = p.fwstore()
        assert st._record.startswith("store2/")  # staging follows data_dir


def test_pico_w_update_staging_follows_data_dir():
    with _board("pico-w-1.28"):
        import board

        cfg = _client_cfg(data_dir="flash/lwm2m")
        p = board.platform(**board.options(cfg))
        # boot.py applies from <data_dir>/fw: the staged bundle must be there, not in /data/fw
        assert p.fwstore().root == "flash/lwm2m/fw"


# ---------------------------------------------------------------- point 7: Pico W VSYS / VBUS
def test_pico_w_vsys_read_holds_off_wifi_discards_and_leaves_cs_high():
    with _board("pico-w-1.28") as b:
        import board

        b.vsys = 25000  # 25000 * 3300 * 3 / 65535 = 3776 mV
        p = board.platform(root="data")
        # before: one read with the Wi-Fi interrupt free to run -> ~27 mV, "not installed"
        assert abs(p.battery.raw_millivolts() - 3777) <= 1, p.battery.raw_millivolts()
        assert b.irq is True  # interrupts back on
        assert b.pins[("out", 25)] == 1  # chip select left high, as the CYW43 driver leaves it
        assert b.pins[29] == (3, 7)  # GP29 handed back to the radio (alt function 7)


def test_pico_w_on_usb_reports_no_battery_reading():
    from board.battery import UNKNOWN

    with _board("pico-w-current") as b:
        import board

        b.vbus = 1  # USB power: VSYS is VBUS minus a diode drop, nothing about a battery
        p = board.platform(root="data")
        reads = b._fresh
        assert p.power.available() == [5]  # USB only
        assert p.power.voltages() == [5000]
        assert p.battery.status() == UNKNOWN
        assert b._fresh == reads  # the ADC was not even read
        b.vbus = 0
        p.power.poll(lambda what: None)
        p.power.poll(lambda what: None)
        assert p.power.available() == [1]
        p.battery.sample()  # the client's battery poll
        assert p.battery.status() != UNKNOWN and b._fresh > reads


# ---------------------------------------------------------------- point 9: errno per port
def test_errno_names_and_timeouts_follow_the_port():
    import sys

    class Sock:
        def __init__(self, code):
            self.code = code

        def recvfrom(self, n):
            raise OSError(self.code)

    # ESP32's newlib numbers (113 ECONNABORTED, 116 ETIMEDOUT): MicroPython does not reliably
    # let sys.modules replace its builtin errno, so that personality runs under CPython only;
    # elsewhere lib/ must follow the interpreter's own table
    cases = [("pico-w-current", None, None)]
    if sys.implementation.name != "micropython":
        cases.append(("esp32-ota", "ECONNABORTED", 116))
    for name, text113, timeout in cases:
        with _board(name):
            import errno

            from coap import dtls
            from coap.runner import UdpTransport

            text113 = text113 or errno.errorcode[113]
            timeout = timeout or errno.ETIMEDOUT
            assert dtls._err_text(OSError(113)).startswith(text113), name

            class T(UdpTransport):
                def __init__(self):  # no socket of its own: the fake below
                    self._into = None

            t = T()
            t.sock = Sock(timeout)  # ESP32: 116, which was not taken for a timeout
            assert t.recv(64) is None, name
            t.sock = Sock(errno.ECONNREFUSED)
            raises(OSError, t.recv, 64)


# ---------------------------------------------------------------- point 9: firmware manifest
def test_custom_firmware_manifest_keeps_ntptime_and_freezes_lib():
    from ports import _top

    calls = []
    api = dict([(n, (lambda n: lambda *a, **k: calls.append((n, a, k)))(n))
                for n in ("metadata", "include", "require", "package", "module", "freeze")])
    with open(_top() + "/firmware/manifest.py") as f:
        exec(f.read(), api)
    req = [c[1][0] for c in calls if c[0] == "require"]
    assert "bundle-networking" in req  # main.py's ntptime on a custom RPI_PICO_W build
    assert ("include", ("$(PORT_DIR)/boards/manifest.py",), {}) in calls
    assert sorted([c[1][0] for c in calls if c[0] == "package"]) == ["board", "coap", "lwm2m"]
