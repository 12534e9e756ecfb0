"""Application entry, the same on a board and on the host: config, network, watchdog, client.

On a board main.py always returns to the REPL: SystemExit (sys.exit) there soft-resets the board
and runs main.py again (BOARDS.md), so Ctrl-C, mpremote's Ctrl-C and a bad config.json would
loop and nobody could take the board over. Only the host exits with a status code. A file named
`safemode` beside main.py (tools/deploy.py and `make shell` write it, then hard-reset the board,
which also stops a running watchdog) starts nothing: no client, no watchdog, just the REPL.
The rest (config, network, watchdog, client, app.py) is lib/lwm2m/start.py, loaded as .mpy.
"""
import sys

SAFE_MODE = "safemode"
_on_board = sys.platform in ("esp32", "rp2")  # board.on_board() refines it once lib/ imports


def main(path="config.json"):
    # one function (each function compiled from source stays in the heap as long as main.py runs)
    global _on_board
    import os

    # a board has /lib on sys.path already; `micropython main.py` in a board-like dir does not
    try:
        os.stat("lib")
        if "lib" not in sys.path:
            sys.path.insert(0, "lib")
    except OSError:
        pass
    try:
        os.stat(SAFE_MODE)
        safe = True
    except OSError:
        safe = False
    if safe:
        try:
            import board

            _on_board = board.on_board()
        except Exception:  # a broken lib/ must not keep anyone from the REPL
            pass
        print("main: safe mode (%s exists): client and watchdog not started; remove it and "
              "reset to run" % SAFE_MODE)
        return 0
    # count this start against an update on trial (<data_dir>/fw/trial). Here rather than in
    # boot.py, which also runs on mpremote's soft resets in the raw REPL (main.py does not), and
    # before any lib/ import, so a broken bundle still counts; boot.py rolls back at 3
    try:
        import json

        with open(path) as f:  # the config this run uses, whatever its name
            d = json.load(f).get("data_dir") or "data"
        p = d + "/fw/trial"
        with open(p) as f:
            n = f.read().strip()
        with open(p, "w") as f:
            f.write(str(int(n) + 1 if n.isdigit() else 1))
    except Exception:  # no update on trial, or no config: nothing to count
        pass
    import gc

    gc.collect()  # main.py's compile and the trial count leave garbage: gone before lib/ loads
    try:
        import board  # in the try: a broken lib/ (a bad update) is a failed boot, not a REPL

        _on_board = board.on_board()
        from lwm2m.start import main as start
    except Exception as e:
        print("main: fatal error:", repr(e))
        if _on_board:
            import machine  # lib/ failed to load, so reset the only way left

            machine.reset()
        return 1
    return start(path)


if __name__ == "__main__":
    _rc = main()
    if not _on_board:
        sys.exit(_rc)  # the host's exit status; on a board SystemExit would soft-reset
