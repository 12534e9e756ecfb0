"""A simulated board: the MicroPython unix port on a pseudo-terminal (socat), for mpremote.

    python tools/simboard.py DIR [--tty PATH] [--heapsize 2M]
prints the pty path and waits (Ctrl-C stops it). DIR is the board's filesystem: the interpreter
runs with DIR as its working directory, so mpremote's `:lib/x.py` lands in DIR/lib/x.py. The unix
port has no soft reset: use `mpremote connect PTY resume ...` (and deploy.py --resume).

From Python:
    with SimBoard(fs_dir) as b:
        subprocess.run(["mpremote", "connect", b.tty, "resume", "exec", "print(1)"])
"""
import os
import shutil
import signal
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(TOP, ".venv", "bin", "micropython")


class SimBoardError(RuntimeError):
    pass


def _children(pid):
    """Pids whose parent is pid (from /proc; the interpreter runs under socat)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        # field 4 is the ppid; the command name (field 2) may contain spaces, so split after ')'
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid):
            out.append(int(name))
    return out


class SimBoard:
    """socat PTY <-> micropython (unix port) with cwd = fs_dir; start()/stop() or `with`."""

    def __init__(self, fs_dir, tty=None, micropython=MICROPYTHON, heapsize=None, fresh=False):
        self.fs_dir = os.path.abspath(fs_dir)
        # the link lives next to the filesystem, not in it, so it never shows up in a listing
        self.tty = os.path.abspath(tty or self.fs_dir.rstrip("/") + "-tty")
        self.micropython = micropython
        self.heapsize = heapsize
        self.fresh = fresh
        self.proc = None
        self._kids = []

    def command(self):
        exe = self.micropython
        if shutil.which(exe) is None:
            raise SimBoardError("simboard: no MicroPython unix port at %s (make venv)" % exe)
        for ch in ",:!\"'() ":
            if ch in exe or ch in self.tty:
                raise SimBoardError("simboard: socat cannot take %r in a path: %s / %s" % (ch, exe, self.tty))
        prog = exe if self.heapsize is None else "%s -X heapsize=%s" % (exe, self.heapsize)
        return ["socat", "PTY,link=%s,raw,echo=0" % self.tty,
                'EXEC:"%s",pty,raw,echo=0,stderr,setsid' % prog]

    def start(self, timeout=10.0):
        if shutil.which("socat") is None:
            raise SimBoardError("simboard: socat is missing (apt-get install socat, or make peers)")
        if self.fresh and os.path.isdir(self.fs_dir):
            shutil.rmtree(self.fs_dir)
        os.makedirs(self.fs_dir, exist_ok=True)
        if os.path.lexists(self.tty):
            os.unlink(self.tty)  # a stale link from a killed run would hide a failed start
        cmd = self.command()
        self.proc = subprocess.Popen(cmd, cwd=self.fs_dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        # socat makes the link before it forks the interpreter: wait for both, so stop() knows
        # the interpreter even if socat is gone first
        while not (os.path.exists(self.tty) and self._find_kids()):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace").strip()
                self.proc = None
                raise SimBoardError("simboard: socat exited: %s" % err)
            if time.monotonic() > deadline:
                self.stop()
                raise SimBoardError("simboard: %s or its interpreter did not appear" % self.tty)
            time.sleep(0.02)
        return self

    def _find_kids(self):
        self._kids = _children(self.proc.pid)
        return self._kids

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Ends socat and the interpreter under it (socat passes SIGTERM on; this makes sure)."""
        p = self.proc
        if p is None:
            return
        kids = set(self._kids) | set(_children(p.pid))
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass  # already gone with socat
        _wait_gone(kids)
        p.stderr.close()
        self.proc = None
        if os.path.lexists(self.tty):
            os.unlink(self.tty)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _wait_gone(pids, timeout=5.0):
    """SIGKILL is delivered asynchronously: wait until each pid is gone or a zombie."""
    end = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < end:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().rpartition(")")[2].split()[0] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.01)


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="the board's filesystem (created if missing)")
    ap.add_argument("--tty", help="pty link to create (default: DIR-tty)")
    ap.add_argument("--heapsize", help="MicroPython heap, e.g. 256K (default: the port's)")
    ap.add_argument("--fresh", action="store_true", help="empty DIR first")
    a = ap.parse_args(argv)

    def _term(_sig, _frame):
        raise KeyboardInterrupt  # so `kill PID` also cleans up socat and the interpreter

    signal.signal(signal.SIGTERM, _term)
    try:
        b = SimBoard(a.dir, a.tty, heapsize=a.heapsize, fresh=a.fresh).start()
    except SimBoardError as e:
        print(e)
        return 1
    print(b.tty, flush=True)
    print("simboard: filesystem %s; try: mpremote connect %s resume fs ls :" % (b.fs_dir, b.tty),
          file=sys.stderr, flush=True)
    try:
        b.proc.wait()
        print("simboard: socat exited (%d)" % b.proc.returncode, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        b.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
