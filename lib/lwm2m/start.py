"""What main.py runs: config, network, watchdog, the client (blocking or asyncio) and its app.py.

It lives in lib/ so that a board loads it as .mpy with the rest of lib/: main.py itself is
compiled from source at every boot, and its compile peak and bytecode (about 4 KB on a 32-bit
board) came out of the heap the client needs most when a firmware push loads the update engine.
"""
import sys


def _print_exc(e):
    try:
        from sys import print_exception
    except ImportError:
        import traceback

        def print_exception(e):
            traceback.print_exception(type(e), e, e.__traceback__)
    print_exception(e)


def _network(plat, cfg):
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


def _reset(plat):
    if plat is None:  # failed before the Platform was made: a default one can still reset
        import board

        plat = board.platform()
    plat.reboot()


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


def _config(path, port):
    """The checked config (None after printing why not). lwm2m.config runs once: unloaded here,
    it gives back about 4 KB of heap on a 32-bit board."""
    import lwm2m
    from lwm2m import config

    try:
        return config.load(path, port)
    except config.ConfigError as e:
        print(e)  # one line naming the key; on a board: stop at the REPL, no reset loop
        return None
    finally:
        lwm2m.unload("config")


def main(path="config.json"):
    """Config, network, client; the exit status (0, 1 fatal, 2 bad config, 130 Ctrl-C)."""
    import gc

    import board

    on_board = board.on_board()
    plat = None
    wdt_ms = 0
    try:
        cfg = _config(path, board.port())
        if cfg is None:
            return 2
        gc.collect()  # the config checker's garbage goes before the client's imports fill in
        if on_board:
            plat = board.platform(**board.options(cfg))
            _network(plat, cfg)
        from lwm2m.client import run
        app = _app()
        amain = getattr(app, "main", None)
        if amain is not None:
            from lwm2m.aio import run  # only an asyncio app loads the asyncio driver
        gc.collect()  # free import garbage before the client's long-lived state (fragmentation)
        feed = None
        if plat is not None and cfg["watchdog_ms"]:
            # armed last: it cannot be stopped, not even by a soft reset (BOARDS.md)
            w = plat.wdt(cfg["watchdog_ms"])
            wdt_ms = cfg["watchdog_ms"]
            feed = None if w is None else w.feed
        if amain is not None:
            run(cfg, amain, plat, feed, _wifi(plat, cfg))
        else:
            run(cfg, feed=feed, setup=getattr(app, "setup", None))
    except KeyboardInterrupt:
        print("main: interrupted")
        if wdt_ms:
            print("main: the watchdog still runs and resets the board within %d ms; for a REPL "
                  "that stays, `make shell` (safe mode)" % wdt_ms)
        return 130
    except Exception as e:
        print("main: fatal error:", repr(e))
        _print_exc(e)
        if on_board:
            _reset(plat)
        return 1
    return 0
