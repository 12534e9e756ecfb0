"""Board bring-up only: apply or roll back a staged firmware update; nothing networked, never fails.

Pico W and the host (any port without OTA partitions): a bundle that the Firmware Update object
staged in <data_dir>/fw and marked for apply is unpacked and swapped in for lib/ (the whole
application) by board.fwboot.boot_apply, which rolls back to the previous lib/ when the new one
started 3 times (main.py counts starts: boot.py also runs on mpremote's soft resets, which must
not count) without registering. The client reports the outcome (/5/0/5) and confirms after its
first registration. ESP32: nothing here; the bootloader boots the new OTA slot and rolls back by
itself unless the client confirms after its first registration. Safe mode (a `safemode` file,
see main.py): nothing at all.
"""
import sys


def _apply():
    # every import is in here, under the try below: a broken lib/ must not stop main.py, which
    # then fails, resets, and counts as a failed trial boot
    import os

    try:
        os.stat("safemode")
        return "safe mode"
    except OSError:
        pass
    try:
        os.stat("lib")
        if "lib" not in sys.path:
            sys.path.insert(0, "lib")  # the unix port in a board-like dir; a board has /lib already
    except OSError:
        pass
    data = "data"
    try:
        import json

        with open("config.json") as f:
            data = json.load(f).get("data_dir") or data
    except Exception:  # no or broken config: main.py reports it; the default dir still applies
        pass
    try:
        try:
            import board
            from board.fwboot import boot_apply
        except Exception:
            # the new lib/ cannot even load its own update code: roll back without it
            return _rollback(os, data + "/fw", "lib")
        if board.port() == "esp32":
            return None
        return boot_apply(data + "/fw", "lib", count=False)
    finally:
        # main.py shares this interpreter on a board: it must import the (new) lib/ afresh
        for k in [k for k in sys.modules if k == "board" or k.startswith("board.")]:
            del sys.modules[k]


def _rollback(os, root, app, max_boots=3):
    """board.fwboot.boot_rollback's job for a lib/ that cannot import: once main.py counted
    max_boots starts of the unconfirmed app, put <root>/prev back (same files, same result)."""
    try:
        with open(root + "/trial") as f:
            n = f.read().strip()
        os.stat(root + "/prev")
    except OSError:
        raise ImportError("lib/board is broken and there is no update on trial to roll back")
    if n.isdigit() and int(n) < max_boots:
        return "trial"
    os.rename(app, root + "/bad")  # left for inspection; the next apply clears it
    os.rename(root + "/prev", app)
    os.remove(root + "/trial")
    with open(root + "/result", "w") as f:
        f.write("rolledback")
    return "rolledback"


try:
    _r = _apply()
    if _r == "safe mode":
        print("boot: safe mode: update apply and rollback skipped")
    elif _r not in (None, "none", "trial"):
        print("boot: firmware update", _r)
except Exception as e:  # a broken update must not stop main.py from running
    print("boot: update apply failed:", repr(e))
# main.py runs in these globals on a board (and a test's import keeps this module): the code
# above is done with, so it goes back to the heap
del _apply, _rollback
