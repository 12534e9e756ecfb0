"""Application entry, the same on a board and on the host: config, network, watchdog, client.

On a board main.py always returns to the REPL: SystemExit (sys.exit) there soft-resets the board
and runs main.py again (BOARDS.md), so Ctrl-C, mpremote's Ctrl-C and a bad config.json would
loop and nobody could take the board over. Only the host exits with a status code. A file named
`safemode` beside main.py (tools/deploy.py and `make shell` write it, then hard-reset the board,
which also stops a running watchdog) starts nothing: no client, no watchdog, just the REPL.
"""
import sys

SAFE_MODE = "safemode"
_on_board = sys.platform in ("esp32", "rp2")  # board.on_board() refines it once lib/ imports


def _lib_on_path():
    # a board has /lib on sys.path already; `micropython main.py` in a board-like dir does not
    import os
    try:
        os.stat("lib")
    except OSError:
        return
    if "lib" not in sys.path:
        sys.path.insert(0, "lib")


def _exists(path):
    import os
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _trial_boot():
    """Count this start against an update on trial (<data_dir>/fw/trial). Here rather than in
    boot.py, which also runs on mpremote's soft resets in the raw REPL (main.py does not), and
    before any lib/ import, so a broken bundle still counts; boot.py rolls back at 3."""
    try:
        import json

        with open("config.json") as f:
            d = json.load(f).get("data_dir") or "data"
        p = d + "/fw/trial"
        with open(p) as f:
            n = f.read().strip()
        with open(p, "w") as f:
            f.write(str(int(n) + 1 if n.isdigit() else 1))
    except Exception:  # no update on trial, or no config: nothing to count
        pass


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
    global _on_board
    _lib_on_path()
    plat = None
    wdt_ms = 0
    if _exists(SAFE_MODE):
        try:
            import board

            _on_board = board.on_board()
        except Exception:  # a broken lib/ must not keep anyone from the REPL
            pass
        print("main: safe mode (%s exists): client and watchdog not started; remove it and "
              "reset to run" % SAFE_MODE)
        return 0
    _trial_boot()
    import gc

    gc.collect()  # main.py's compile and the trial count leave garbage: gone before lib/ loads
    try:
        import board  # in the try: a broken lib/ (a bad update) is a failed boot, not a REPL

        _on_board = board.on_board()
        cfg = _config(path, board.port())
        if cfg is None:
            return 2
        gc.collect()  # the config checker's garbage goes before the client's imports fill in
        if _on_board:
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
        if _on_board:
            _reset(plat)
        return 1
    return 0


if __name__ == "__main__":
    _rc = main()
    if not _on_board:
        sys.exit(_rc)  # the host's exit status; on a board SystemExit would soft-reset
