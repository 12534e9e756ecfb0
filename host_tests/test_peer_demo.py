"""`make run`: tools/run_demo.py end to end as a subprocess - the story in order, exit 0, and no
client process left behind. The servers are the project's own (tools/lwm2m_server.py)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(TOP, "tools", "run_demo.py")

# (what, regex) in the order the story must tell them; the client's own lines come through a pipe,
# so their place among the server's lines is not fixed: CLIENT_LINES are only counted. Bootstrap
# Finish (POST /bs) and the Register race by design, so "bootstrap finished" is checked apart.
STORY = [
    ("bootstrap request", r"\] bs +\| demo-node bootstrap request from 127\.0\.0\.1:\d+$"),
    ("bootstrap write", r"\] bs +\| demo-node bootstrap PUT /1/0 -> 2\.04$"),
    ("registered", r"\] server \| demo-node registered lt=300 b=U lwm2m=1\.0 objects .*</3/0>.*</5/0>"),
    ("Device read in TLV", r"\] server \| read /3/0 -> 2\.05 TLV, \d+ bytes"),
    ("Manufacturer", r"\] server \| +Manufacturer 'MicroPython', Model '\w+', Serial 'HOST-0001'"),
    ("battery in the read", r"Battery level \d+ %, Battery status normal, Power sources internal battery"),
    ("write", r"\] server \| write /1/0/1 \(Lifetime\) = 60$"),
    ("Update after the write", r"\] server \| demo-node updated #1 lifetime=60$"),
    ("write-attributes", r"write-attributes /3/0/9 pmin=1 pmax=2 -> 2\.04$"),
    ("observe", r"observe /3/0/9 \(Battery Level\) -> 2\.05, now \d+ %$"),
    ("notification 1", r"notify /3/0/9 #1 battery level \d+ %"),
    ("notification 2", r"notify /3/0/9 #2 battery level \d+ %"),
    ("firmware 100 %", r"\] server \| firmware push 100 % \((\d+)/\1 bytes\) -> 2\.04"),
    ("Downloaded", r"read /5/0 -> state Downloaded, result 0, PkgName 'lwm2m-demo', PkgVersion '1\.1\.0'$"),
    ("Update execute", r"\] server \| execute /5/0/2 \(Update\)$"),
    ("deregistered for the reboot", r"\] server \| demo-node deregistered \(rd/\d+\)$"),
    ("reboot", r"\] demo +\| client process exited with code 3 "),
    ("second boot", r"client started \(boot #2\)"),
    ("re-registered", r"\] server \| demo-node registered lt=60 b=U"),
    ("Update Result 1", r"read /5/0 -> state Idle, Update Result 1, PkgVersion '1\.1\.0'$"),
    ("SIGINT", r"\] demo +\| SIGINT to the client$"),
    ("deregistered", r"\] server \| demo-node deregistered \(rd/\d+\)$"),
    ("client exit 0", r"\] demo +\| client exited with code 0$"),
    ("done", r"\] demo +\| done: every step worked, nothing left running \(client pids (\d+) (\d+)\)$"),
]

CLIENT_LINES = [
    (1, r"^\[ *\d+\.\d\ds\] client \| lwm2m: no usable server account: bootstrap from coap://"),
    (2, r"^\[ *\d+\.\d\ds\] client \| lwm2m: registered with coap://127\.0\.0\.1:\d+ as /rd/\d+"),
    (1, r"^\[ *\d+\.\d\ds\] client \| boot: firmware update applied$"),
    (1, r"^\[ *\d+\.\d\ds\] client \| lwm2m: reboot requested by a server$"),
    (1, r"^\[ *\d+\.\d\ds\] client \| lwm2m: interrupted: deregistering$"),
]


def _procs_in(d):
    """pids of live processes whose working directory is d (or below it)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if cwd == d or cwd.startswith(d + "/"):
            out.append(int(pid))
    return out


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def test_make_run_story():
    tmp = tempfile.mkdtemp(prefix="lwm2m-demo-")
    board = os.path.join(tmp, "board")
    try:
        r = subprocess.run([sys.executable, DEMO, "--dir", board], capture_output=True, text=True,
                           timeout=120)
        out = r.stdout
        assert r.returncode == 0, "run_demo exit %d\n%s\n%s" % (r.returncode, out, r.stderr)
        lines = out.splitlines()
        # every line is one step with a relative timestamp and a source column
        assert all(re.match(r"^\[ *\d+\.\d\ds\] (demo|bs|server|client) *\| ", x) for x in lines), out
        i = 0
        found = {}
        for what, rx in STORY:
            while i < len(lines) and not re.search(rx, lines[i]):
                i += 1
            assert i < len(lines), "story line %r (%s) missing or out of order:\n%s" % (what, rx, out)
            found[what] = re.search(rx, lines[i])
            i += 1
        # an answer and what it set off (an Update, a Deregister) reach the server in either order
        assert re.search(r"\] server \| write /1/0/1 -> 2\.04$", out, re.M), out
        assert re.search(r"\] server \| execute /5/0/2 -> 2\.04$", out, re.M), out
        assert out.count("| demo-node bootstrap finished ok\n") == 1, out
        assert out.index("bootstrap finished ok") < out.index("read /3/0 -> 2.05"), out
        for n, rx in CLIENT_LINES:
            assert len(re.findall(rx, out, re.M)) == n, "%d x %s expected:\n%s" % (n, rx, out)
        # the simulated battery discharges: the notified levels never rise and do fall
        levels = [int(m) for m in re.findall(r"notify /3/0/9 #\d+ battery level (\d+) %", out)]
        assert len(levels) >= 2 and levels == sorted(levels, reverse=True) and levels[-1] < levels[0]
        assert "FAILED" not in out
        # the demo's story ends in well under a minute
        assert float(re.match(r"^\[ *(\d+\.\d\d)s\]", lines[-1]).group(1)) < 45, lines[-1]
        # nothing left running: both client processes are gone, nothing works in the board dir
        m = found["done"]
        for pid in (int(m.group(1)), int(m.group(2))):
            assert not _alive(pid), "client pid %d still running" % pid
        assert _procs_in(board) == []
        # the board dir holds the applied update: the new lib/ and the confirmed trial
        assert os.path.isfile(os.path.join(board, "lib", "lwm2m", "client.py"))
        assert not os.path.exists(os.path.join(board, "data", "fw", "trial"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_demo_fails_clearly():
    # a micropython that cannot start: exit 1 with a FAILED line naming the step, nothing left
    tmp = tempfile.mkdtemp(prefix="lwm2m-demo-")
    try:
        fake = os.path.join(tmp, "micropython")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho 'micropython: broken on purpose'\nexit 7\n")
        os.chmod(fake, 0o755)
        r = subprocess.run([sys.executable, DEMO, "--dir", os.path.join(tmp, "board"),
                            "--micropython", fake], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "client | micropython: broken on purpose" in r.stdout
        assert re.search(r"\] demo +\| FAILED: bootstrap request: the client exited with code 7$",
                         r.stdout, re.M), r.stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
