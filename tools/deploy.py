"""Copies lib/ (.py or .mpy), boot.py, main.py and config.json to a board with mpremote, changed files only.

    python tools/deploy.py --port /dev/ttyACM0 [--mpy [--arch xtensawin|armv6m|x64]]
        [--config config.json] [--dry-run] [--no-reset] [--resume] [--root ""] [--src DIR]

One `mpremote exec` hashes every target file on the board (sha256) and reports the board's
platform and .mpy version; only files whose hash differs are copied, in one more mpremote call
that also creates directories, removes a stale .py/.mpy twin (MicroPython imports X.py before
X.mpy, so an old X.py would shadow a new X.mpy) and finally resets the board.
Paths are relative to the board's working directory (`--root ""`), which is / on a real board
and the simulated board's directory for tools/simboard.py (the unix port: use --resume, which is
also picked automatically for a /dev/pts/* port, and it is never reset).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
# sys.implementation._mpy >> 10 indexes this (docs: reference/mpyfiles)
MPY_ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
             "xtensa", "xtensawin", "rv32imc", "rv64imc")
ROOT_FILES = ("boot.py", "main.py")
# Safe mode (see main.py): with a `safemode` file boot.py and main.py start nothing - no client,
# no watchdog. Only a hard reset stops a running machine.WDT (BOARDS.md), so a deploy to a real
# board writes the file and hard-resets first, copies, then removes it and resets again.
SAFE_MODE_ENTER = "open('safemode', 'w').close()\nimport machine\nmachine.reset()\n"
SAFE_MODE_LEAVE = "import os\nos.remove('safemode')\nimport machine\nmachine.reset()\n"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpy_build import OPT as MPY_OPT, source_name  # noqa: E402  (the figures that chose them)


class DeployError(Exception):
    pass


def _tool(name):
    p = os.path.join(BIN, name)
    if os.path.exists(p):
        return p
    p = shutil.which(name)
    if p is None:
        raise DeployError("deploy: %s not found (make venv installs it)" % name)
    return p


# ---------------------------------------------------------------- what to copy
def load_config(path):
    """The config file's bytes after checking it with lib/lwm2m/config.py; raises DeployError."""
    if not os.path.isfile(path):
        raise DeployError("deploy: %s not found: a board needs a config.json (endpoint, servers, "
                          "wifi); write one from README's config reference or pass --config FILE" % path)
    with open(path, "rb") as f:
        data = f.read()
    for p in (os.path.join(TOP, "lib"), os.path.join(TOP, "tools", "cpy")):
        if p not in sys.path:
            sys.path.insert(0, p)
    import mpshim  # noqa: F401  (ticks_ms & co. for lib/ under CPython)
    from lwm2m.config import ConfigError, validate
    try:
        cfg = validate(json.loads(data))
    except ValueError as e:  # JSON syntax errors and ConfigError both
        raise DeployError("deploy: %s: %s" % (path, e))
    return data, cfg


def lib_sources(src):
    lib = os.path.join(src, "lib")
    out = []
    for root, dirs, files in os.walk(lib):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                out.append(os.path.relpath(os.path.join(root, f), src).replace(os.sep, "/"))
    return out


def mpy_cross_version():
    """(major, sub) of the .mpy format mpy-cross emits, from 'mpy-cross emitting mpy v6.3'."""
    r = subprocess.run([_tool("mpy-cross"), "--version"], capture_output=True, text=True)
    v = r.stdout.rsplit("v", 1)[-1].strip().split(".")
    return int(v[0]), int(v[1])


def compile_mpy(src, rel, arch, dest):
    out = os.path.join(dest, rel[:-3] + ".mpy")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cmd = [_tool("mpy-cross"), MPY_OPT, "-s", source_name(rel[4:]), "-o", out]
    if arch:
        cmd.insert(1, "-march=" + arch)
    r = subprocess.run(cmd + [os.path.join(src, rel)], capture_output=True, text=True)
    if r.returncode:
        raise DeployError("deploy: mpy-cross %s failed:\n%s" % (rel, r.stderr.strip()))
    with open(out, "rb") as f:
        return f.read()


def plan_files(src, config_data, mpy_arch=None, tmp=None):
    """[(board path relative to root, local description, bytes)] in copy order; mpy_arch False
    means .py sources, None or a name means .mpy compiled for that arch (None: no native code)."""
    files = []
    for rel in lib_sources(src):
        if mpy_arch is False:
            with open(os.path.join(src, rel), "rb") as f:
                files.append((rel, rel, f.read()))
        else:
            files.append((rel[:-3] + ".mpy", rel + " (mpy)", compile_mpy(src, rel, mpy_arch, tmp)))
    for name in ROOT_FILES:
        with open(os.path.join(src, name), "rb") as f:
            files.append((name, name, f.read()))
    files.append(("config.json", "config", config_data))
    return files


def twin(path):
    """The other flavour of a lib module: lib/a/b.py <-> lib/a/b.mpy; None for other files."""
    if not path.startswith("lib/"):
        return None
    if path.endswith(".py"):
        return path[:-3] + ".mpy"
    if path.endswith(".mpy"):
        return path[:-4] + ".py"
    return None


def parents(paths):
    out = []
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in out:
                out.append(d)
    return out


# ---------------------------------------------------------------- the board side
PROBE = """import sys, os, json
try:
    import hashlib, binascii
except ImportError:
    hashlib = None
def _st(p):
    try:
        return os.stat(p)[0]
    except OSError:
        return None
def _h(p):
    if _st(p) is None:
        return None
    if hashlib is None:
        return '?'
    x = hashlib.sha256()
    b = bytearray(512)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            x.update(b if n == 512 else b[:n])
    return binascii.hexlify(x.digest()).decode()
print('DEPLOY' + json.dumps({'platform': sys.platform,
    'mpy': getattr(sys.implementation, '_mpy', 0),
    'files': [_h(p) for p in %r],
    'dirs': [(_st(d) or 0) & 0x4000 != 0 for d in %r],
    'twins': [t for t in %r if _st(t) is not None]}))
"""


class Board:
    """mpremote calls to one port; the first may soft-reset the board, the rest resume."""

    def __init__(self, port, resume, timeout=300):
        self.port = port
        self.resume = resume
        self.timeout = timeout
        self.calls = 0

    def run(self, *args):
        cmd = [_tool("mpremote"), "connect", self.port]
        if self.resume or self.calls:
            cmd.append("resume")
        self.calls += 1
        r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=self.timeout)
        if r.returncode:
            raise DeployError("deploy: mpremote failed (%d): %s\n%s%s" % (
                r.returncode, " ".join(args[:3]), r.stdout, r.stderr))
        return r.stdout

    def reset_into(self, code, wait=3.0, tries=10):
        """Run code that ends in machine.reset() (no answer comes back), then wait for the board
        (a Pico W's USB serial goes away and comes back) until it answers again."""
        import time

        self.run("exec", "--no-follow", code)  # a dead port fails here, at once
        self.calls = 0  # after a hard reset the board is at the friendly REPL again
        for _ in range(tries):
            time.sleep(wait)
            try:
                self.run("exec", "print('DEPLOY-UP')")
                return
            except (DeployError, subprocess.TimeoutExpired):
                continue
        raise DeployError("deploy: the board did not come back after a reset on %s" % self.port)

    def probe(self, files, dirs, twins):
        out = self.run("exec", PROBE % (files, dirs, twins))
        for line in out.splitlines():
            if line.startswith("DEPLOY{"):
                return json.loads(line[6:])
        raise DeployError("deploy: no answer from the board's probe:\n" + out)


def board_arch(mpy):
    arch = mpy >> 10
    return MPY_ARCHS[arch] if arch < len(MPY_ARCHS) else "unknown(%d)" % arch


def deploy(port, src=TOP, config="config.json", mpy=False, arch=None, dry_run=False, reset=True,
           resume=None, root="", out=print):
    """Returns a summary dict {copied, skipped, removed, platform}; raises DeployError."""
    config_data, cfg = load_config(config)
    if resume is None:  # a pty is a simulated board: the unix port has no soft reset
        resume = os.path.realpath(port).startswith("/dev/pts/")
    board = Board(port, resume)
    if not resume and not dry_run:
        out("deploy: safe mode (client and watchdog off while copying)")
        board.reset_into(SAFE_MODE_ENTER)
    pre = root.rstrip("/") + "/" if root else ""
    tmp = tempfile.mkdtemp(prefix="deploy-") if mpy else None
    try:
        # probe first with the .py names: it tells the arch and .mpy version we compile for
        names = lambda fs: [pre + f[0] for f in fs]  # noqa: E731
        if mpy:
            info = board.probe([], [], [])
            if not info["mpy"] & 0xFF:
                raise DeployError("deploy: this firmware cannot load .mpy files; deploy without --mpy")
            have = (info["mpy"] & 0xFF, (info["mpy"] >> 8) & 3)
            if have != mpy_cross_version():
                raise DeployError("deploy: board loads .mpy v%d.%d but mpy-cross emits v%d.%d; "
                                  "update the firmware or deploy without --mpy"
                                  % (have + mpy_cross_version()))
            if arch is None:
                arch = board_arch(info["mpy"])
            files = plan_files(src, config_data, arch, tmp)
        else:
            files = plan_files(src, config_data, False)
        paths = names(files)
        twins = [pre + t for t in (twin(f[0]) for f in files) if t]
        dirs = parents(paths)
        info = board.probe(paths, dirs, twins)
        if info["platform"] in ("esp32", "rp2") and cfg["wifi"] is None:
            out("deploy: warning: config has no wifi section; main.py on %s needs one" % info["platform"])
        verb = "would copy" if dry_run else "copy"
        cmds = []
        for d, ok in zip(dirs, info["dirs"]):
            if not ok:
                out("%s %s/" % ("would mkdir" if dry_run else "mkdir", d))
                cmds += ["fs", "mkdir", ":" + d, "+"]
        for t in info["twins"]:
            out("%s %s (replaced by its %s twin)" % ("would remove" if dry_run else "remove", t,
                                                     "py" if t.endswith(".mpy") else "mpy"))
            cmds += ["fs", "rm", ":" + t, "+"]
        copied = skipped = 0
        for (dest, what, data), path, h in zip(files, paths, info["files"]):
            if h == hashlib.sha256(data).hexdigest():
                skipped += 1
                out("skip %s (unchanged)" % path)
                continue
            copied += 1
            out("%s %s (%d bytes%s)" % (verb, path, len(data), ", new" if h is None else ""))
            local = os.path.join(tmp, dest) if what.endswith("(mpy)") else (
                config if dest == "config.json" else os.path.join(src, dest))
            cmds += ["fs", "cp", "-f", local, ":" + path, "+"]
        do_reset = reset and info["platform"] != "linux"
        if reset and not do_reset:
            out("deploy: not resetting: the unix port has no reset (run main.py yourself)")
        if cmds and not dry_run:
            board.run(*cmds[:-1])
        if not resume and not dry_run:
            if do_reset:
                board.reset_into(SAFE_MODE_LEAVE)  # leaves safe mode and starts the client
            else:
                board.run("exec", "import os\nos.remove('safemode')")
        out("deploy: %s%d copied, %d unchanged, %d removed (%s, %s)%s" % (
            "dry run: " if dry_run else "", copied, skipped, len(info["twins"]),
            ("mpy " + str(arch)) if mpy else "py", info["platform"],
            "; board reset" if do_reset and not dry_run else ""))
        return {"copied": copied, "skipped": skipped, "removed": len(info["twins"]),
                "platform": info["platform"]}
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="serial port (or a simboard pty)")
    ap.add_argument("--mpy", action="store_true", help="copy lib/ compiled with mpy-cross")
    ap.add_argument("--arch", help="mpy-cross -march (default: asked from the board)")
    ap.add_argument("--config", default="config.json", help="config file, copied as /config.json")
    ap.add_argument("--dry-run", action="store_true", help="compare only, copy nothing")
    ap.add_argument("--no-reset", action="store_true", help="leave the board at the REPL")
    ap.add_argument("--resume", action="store_true", default=None,
                    help="never soft-reset (the unix port; automatic for /dev/pts/*)")
    ap.add_argument("--root", default="", help="board directory to deploy into (default: cwd, / on a board)")
    ap.add_argument("--src", default=TOP, help="tree holding lib/, boot.py, main.py (default: this repo)")
    ap.add_argument("--safe-mode", action="store_true",
                    help="only put the board in safe mode (make shell); `mpremote rm :safemode + "
                         "reset` or a deploy leaves it")
    a = ap.parse_args(argv)
    try:
        if a.safe_mode:
            Board(a.port, False).reset_into(SAFE_MODE_ENTER)
            print("deploy: %s is in safe mode: no client, no watchdog" % a.port)
            return 0
        deploy(a.port, a.src, a.config, a.mpy, a.arch, a.dry_run, not a.no_reset, a.resume, a.root)
    except DeployError as e:
        print(e, file=sys.stderr)
        return 2
    except subprocess.TimeoutExpired as e:
        print("deploy: mpremote timed out: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
