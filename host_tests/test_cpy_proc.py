"""tools/proc.Proc, the subprocess wrapper of the peer tests and benchmarks: waits, exit, interrupt."""
import re
import subprocess
import sys
import time

from proc import Proc, exactly
from util import raises

# a child that prints its lines, then waits for a line on stdin or SIGINT
CHILD = r"""
import signal, sys, time
print("hello 1", flush=True)
print("hello 12", flush=True)
print("err line", file=sys.stderr, flush=True)
try:
    line = sys.stdin.readline()
    print("got " + line.strip(), flush=True)
    time.sleep(float(sys.argv[1]))
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
"""


def child(sleep=0.0, **kw):
    return Proc([sys.executable, "-c", CHILD, str(sleep)], stdin=True, **kw)


def test_waits_by_prefix_regex_callable_and_exact_line():
    with child() as p:
        assert p.wait_line("hello") == "hello 1"
        assert p.wait_for("hello", start=1) == 1
        assert p.wait_line(re.compile(r"hello \d\d")) == "hello 12"
        assert p.wait_line(lambda line: line.endswith("12")) == "hello 12"
        assert p.wait_line(exactly("hello 12")) == "hello 12"
        assert p.wait_line("err") == "err line"  # stderr comes in with stdout
        assert len(p.times) == len(p.lines) and p.times[0] >= p.t0
        p.say("go")
        assert p.wait_exit(10) == 0
        assert p.lines[-1] == "got go" and p.output(1) == "got go"
        assert p.output().startswith("hello 1\nhello 12\n")


def test_a_missing_line_raises_after_the_timeout_with_the_output():
    with child(sleep=30) as p:
        t0 = time.monotonic()
        e = raises(AssertionError, p.wait_line, exactly("hello"), 0.5)
        assert 0.5 <= time.monotonic() - t0 < 5
        assert "(exit None)" in str(e) and "hello 12" in str(e)  # still running; its output


def test_a_missing_line_raises_early_once_the_child_has_exited_and_its_error_type():
    p = child(error=TimeoutError)
    try:
        p.say("x")
        t0 = time.monotonic()
        e = raises(TimeoutError, p.wait_line, "never", 20)
        assert time.monotonic() - t0 < 10 and "got x" in str(e)
        assert p.wait_exit(5) == 0
    finally:
        p.kill()


def test_wait_exit_raises_while_running_interrupt_gives_the_exit_code():
    with child(sleep=30) as p:
        p.wait_line("err")
        raises(subprocess.TimeoutExpired, p.wait_exit, 0.3)
        assert p.interrupt(10) == 3
        assert p.lines[-1] == "interrupted"


def test_interrupt_kills_what_does_not_exit_and_gives_none():
    p = Proc([sys.executable, "-c", "import signal, time\nsignal.signal(signal.SIGINT, "
              "signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(60)"])
    try:
        p.wait_line("up")
        t0 = time.monotonic()
        assert p.interrupt(0.5) is None
        assert time.monotonic() - t0 < 5 and p.p.poll() is not None
    finally:
        p.kill()
