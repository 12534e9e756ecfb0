"""Application entry, the same on a board and on the host: config, network, watchdog, client."""
import sys

_BOARD = sys.platform in ("esp32", "rp2")


def _lib_on_path():
    # a board has /lib on sys.path already; `micropython main.py` in a board-like dir does not
    import os
    try:
        os.stat("lib")
    except OSError:
        return
    if "lib" not in sys.path:
        sys.path.insert(0, "lib")


def _print_exc(e):
    try:
        from sys import print_exception
    except ImportError:
        import traceback

        def print_exception(e):
            traceback.print_exception(type(e), e, e.__traceback__)
    print_exception(e)


def _platform():
    """board.platform() on a board (created here with no arguments, shared with the client)."""
    if not _BOARD:
        return None  # the host is online already and has no watchdog
    try:
        import board
    except ImportError:
        raise RuntimeError("main: lib/board is missing; it brings up Wi-Fi and the watchdog")
    return board.platform()


def _network(plat, cfg):
    if plat is None:
        return
    w = cfg["wifi"]
    if w is None:
        raise RuntimeError("main: config.json has no wifi section; a board needs one")
    if not plat.wifi_connect(w["ssid"], w["password"]):
        raise RuntimeError("main: wifi %r did not come up" % w["ssid"])
    if cfg["ntp"]:
        _ntp(cfg["ntp"])


def _ntp(host):
    """Set the RTC (/3/0/13 Current Time) from NTP; a failure is logged, never fatal."""
    try:
        import ntptime  # frozen into the ESP32 and RP2 firmware

        ntptime.host = host
        ntptime.settime()
        print("main: clock set from NTP", host)
    except Exception as e:
        print("main: NTP %s failed: %r (clock left as is)" % (host, e))


def _watchdog(plat, cfg):
    """Arm the hardware watchdog; returns the feed callable the runner calls every iteration."""
    ms = cfg["watchdog_ms"]
    if plat is None or not ms:
        return None
    w = plat.wdt(ms)
    return None if w is None else w.feed


def _reset(plat):
    if plat is not None:
        plat.reboot()
    import machine  # lib/board failed to load, so reset the only way left
    machine.reset()


def _app():
    """The optional app.py beside main.py (see README): setup(client, runner) for the blocking
    client, or `async def main(client)` to run under asyncio. None when there is no app.py."""
    try:
        import app
    except ImportError as e:
        if "app" not in str(e):
            raise  # app.py exists but one of its imports is broken: that is fatal
        return None
    return app


def _wifi(plat, cfg):
    # asyncio path on a board: the link is watched and brought back without blocking the app
    if plat is None:
        return None
    from board.aiowifi import Link

    return Link(cfg["wifi"]["ssid"], cfg["wifi"]["password"], platform=plat)


def _config(path):
    """The checked config (None after printing why not). lwm2m.config runs once: unloaded here,
    it gives back about 4 KB of heap on a 32-bit board."""
    import lwm2m
    from lwm2m import config

    try:
        return config.load(path)
    except config.ConfigError as e:
        print(e)
        return None
    finally:
        lwm2m.unload("config")


def main(path="config.json"):
    _lib_on_path()
    cfg = _config(path)
    if cfg is None:
        return 2
    plat = None
    try:
        plat = _platform()
        _network(plat, cfg)
        feed = _watchdog(plat, cfg)
        from lwm2m.client import run
        app = _app()
        amain = getattr(app, "main", None)
        if amain is not None:
            from lwm2m.aio import run  # only an asyncio app loads the asyncio driver
        import gc
        gc.collect()  # free import-time garbage before the client's long-lived state (fragmentation)
        if amain is not None:
            run(cfg, amain, plat, feed, _wifi(plat, cfg))
        else:
            run(cfg, feed=feed, setup=getattr(app, "setup", None))
    except KeyboardInterrupt:
        print("main: interrupted")
        return 130
    except Exception as e:
        print("main: fatal error:", repr(e))
        _print_exc(e)
        if _BOARD:
            _reset(plat)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
