"""Board bring-up only: apply or roll back a staged firmware update; nothing networked, never fails.

Pico W and the host (any port without OTA partitions): a bundle that the Firmware Update object
staged in <data_dir>/fw and marked for apply is unpacked and swapped in for lib/ (the whole
application) by board.fwstore.boot_apply, which also counts trial boots and rolls back to the
previous lib/ when the new one never registered. The client reports the outcome (/5/0/5) and
confirms after its first registration. ESP32: nothing here; the bootloader boots the new OTA slot
and rolls back by itself unless the client confirms after its first registration.
"""
import sys


def _apply():
    if sys.platform == "esp32":
        return None
    try:
        import os

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
    from board.fwstore import boot_apply

    try:
        return boot_apply(data + "/fw", "lib")
    finally:
        # main.py shares this interpreter on a board: it must import the (new) lib/ afresh
        for k in [k for k in sys.modules if k == "board" or k.startswith("board.")]:
            del sys.modules[k]


try:
    _r = _apply()
    if _r not in (None, "none", "trial"):
        print("boot: firmware update", _r)
except Exception as e:  # a broken update must not stop main.py from running
    print("boot: update apply failed:", repr(e))
