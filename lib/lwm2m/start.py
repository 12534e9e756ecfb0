"""What main.py runs: lwm2m.bringup (config, network, app.py, watchdog), then the client.

It lives in lib/ so that a board loads it as .mpy with the rest of lib/: main.py itself is
compiled from source at every boot, and its compile peak and bytecode (about 4 KB on a 32-bit
board) came out of the heap the client needs most when a firmware push loads the update engine.
"""


def main(path="config.json"):
    """Config, network, client; the exit status (0, 1 fatal, 2 bad config, 130 Ctrl-C)."""
    import gc

    import board
    import lwm2m

    on_board = board.on_board()
    job = [None, None, None, 0]  # run, its args, the platform, the watchdog period in ms
    try:
        from lwm2m import bringup

        try:
            ok = bringup.prepare(path, on_board, job)
        finally:
            del bringup  # with the unload, its code goes before the client's state comes
            lwm2m.unload("bringup")
        if not ok:
            return 2
        gc.collect()  # free import garbage before the client's long-lived state (fragmentation)
        job[0](*job[1])
    except KeyboardInterrupt:
        print("main: interrupted")
        if job[3]:
            print("main: the watchdog still runs and resets the board within %d ms; for a REPL "
                  "that stays, `make shell` (safe mode)" % job[3])
        return 130
    except Exception as e:
        print("main: fatal error:", repr(e))
        try:
            from sys import print_exception
        except ImportError:  # CPython
            import traceback

            traceback.print_exception(type(e), e, e.__traceback__)
        else:
            print_exception(e)
        if on_board:
            plat = job[2]
            if plat is None:  # failed before the Platform was made: a default one can still reset
                plat = board.platform()
            plat.reboot()
        return 1
    return 0
