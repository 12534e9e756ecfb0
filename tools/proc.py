"""The one subprocess wrapper of the peer tests and the benchmarks: output lines as they come.

It lives in tools/ beside hostenv.py because both of its users already have tools/ on sys.path:
host_tests/conftest.py puts it there for the peer tests, and tools/bench/benchpath.py for the
benchmarks. CPython only (threads and subprocess), like everything that starts a process.

    p = Proc([micropython(), "main.py"], cwd=board_dir)
    p.wait_line("lwm2m: registered")         # or `await p.line(...)` on an event loop
    rc = p.interrupt(10)                      # SIGINT (the user's Ctrl-C), then the exit code
    p.kill()                                  # always, in a finally: a no-op once it has exited

A reader thread collects stdout (stderr too, unless told otherwise) a line at a time into
.lines, with each line's arrival time (time.monotonic()) at the same index in .times, so a wait
can time out and a benchmark can time a line. What a wait looks for (`want`): a str matches a
line that starts with it, a compiled regex a line it .match()es, any other callable a line it
returns true for. A wait that finds nothing raises `error` (AssertionError unless the caller
chose another) once the timeout has passed, or sooner once the process has exited and all of
its output has been read; the message names the command and shows the end of its output.
"""
import asyncio
import signal
import subprocess
import threading
import time

TAIL = 60  # lines of output a failed wait shows


def _matcher(want):
    if isinstance(want, str):
        return lambda line: line.startswith(want)
    if hasattr(want, "match"):
        return want.match
    return want


def exactly(text):
    """A `want` for a line that is `text` and nothing more (a str alone matches a prefix)."""
    return lambda line: line == text


class Proc:
    """A started subprocess whose output lines a reader thread collects (see the module doc)."""

    def __init__(self, argv, cwd=None, env=None, stdin=False, stderr=subprocess.STDOUT,
                 error=AssertionError):
        """stdin=True gives a pipe for say(); otherwise the child inherits ours. stderr: where
        the child's stderr goes (default: into .lines with stdout). error: the exception type a
        wait raises when its line does not come."""
        self.argv = list(argv)
        self.error = error
        self.lines = []
        self.times = []
        self.cond = threading.Condition()
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(self.argv, cwd=cwd, env=env,
                                  stdin=subprocess.PIPE if stdin else None,
                                  stdout=subprocess.PIPE, stderr=stderr, text=True,
                                  errors="replace")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            with self.cond:
                self.take(line.rstrip("\n"), time.monotonic())
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def take(self, line, t):
        """Keep one line (called with .cond held); a subclass that reads more into a line (a
        JSON message, say) extends this and waits on its own list with wait_for(among=...)."""
        self.lines.append(line)
        self.times.append(t)

    # ---- output
    def mark(self):
        """How many lines have come so far: a `start` for a later wait."""
        with self.cond:
            return len(self.lines)

    def between(self, start, stop=None):
        with self.cond:
            return self.lines[start:stop]

    def output(self, last=None):
        """The output so far, or its last `last` lines, as one string."""
        with self.cond:
            return "\n".join(self.lines[-last:] if last else self.lines)

    def tail(self):
        """What a failed wait shows (called with .cond held): the last TAIL lines."""
        return "\n".join(self.lines[-TAIL:])

    def say(self, text):
        """Write a line to the child's stdin (Proc(..., stdin=True))."""
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()

    # ---- waits
    def wait_for(self, want, timeout=10, start=0, among=None):
        """Index in .lines (or the list `among`, which take() fills) of the first item from
        `start` that `want` matches."""
        match = _matcher(want)
        items = self.lines if among is None else among
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(items)):
                    if match(items[i]):
                        return i
                left = end - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self.reader.is_alive()):
                    raise self.error("no %r line from %s (exit %s) in %s s; output:\n%s" % (
                        getattr(want, "pattern", want), " ".join(map(str, self.argv)),
                        self.p.poll(), timeout, self.tail()))
                self.cond.wait(min(left, 0.2))

    def wait_line(self, want, timeout=10, start=0):
        """The first line from `start` that `want` matches."""
        i = self.wait_for(want, timeout, start)
        with self.cond:
            return self.lines[i]

    def wait_exit(self, timeout=30):
        """The exit code once the child has exited and all of its output is in .lines;
        subprocess.TimeoutExpired if it is still running after `timeout`."""
        rc = self.p.wait(timeout)
        # the reader ends at EOF on stdout, after the last line: join it rather than guess a delay
        self.reader.join(timeout)
        if self.reader.is_alive():
            raise self.error("%s exited (%s) but its stdout never closed" % (self.argv[0], rc))
        return rc

    def interrupt(self, timeout=10, sig=signal.SIGINT):
        """Send `sig` (SIGINT: the user's Ctrl-C; the client deregisters), then the exit code
        as wait_exit gives it; None, with the child killed, if it has not exited by `timeout`."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            return self.wait_exit(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        """SIGKILL unless it has exited, then reap it and let the reader finish."""
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(5)
        self.reader.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    # ---- the same waits for code on an event loop (they run in a thread meanwhile)
    async def index(self, want, timeout=10, start=0):
        return await asyncio.to_thread(self.wait_for, want, timeout, start)

    async def line(self, want, timeout=10, start=0):
        return await asyncio.to_thread(self.wait_line, want, timeout, start)

    async def exited(self, timeout=30):
        return await asyncio.to_thread(self.wait_exit, timeout)

    async def interrupted(self, timeout=10, sig=signal.SIGINT):
        """interrupt() without blocking the loop: servers on it can answer the Deregister."""
        return await asyncio.to_thread(self.interrupt, timeout, sig)
