"""Power-cut test: SIGKILL the client at random points (bootstrap, write bursts, firmware push), reboot.

    python tools/bench/killtest.py [--points 200] [--seed 1] [--verbose]

One board dir (the store persists across kills, as flash does); a BootstrapServer provisions a
LwM2MServer. After every kill the board boots as a real one does (boot.py, then main.py) and must:
start without a traceback, register (with the stored account or after bootstrapping again), and
show /5/0/3 State 0 or 2 with /5/0/5 Update Result in 0..9. CPython only."""
import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import benchpath  # first: tools/ and tools/bench/ on sys.path

benchpath.add("lib", "tools/cpy", "host_tests")

import mpshim  # noqa: E402,F401
import lwm2m_server as L  # noqa: E402
from boardir import make_board_dir  # noqa: E402
from hostenv import micropython  # noqa: E402
from proc import Proc  # noqa: E402
from testpkg import blob_package  # noqa: E402

EP = "kill-1"
PHASES = ("bootstrap", "writes", "fw")
BAD = ("Traceback", "fatal error")


class KillFailure(AssertionError):
    pass


def fw_package(size=64 * 1024, seed=b"kill"):
    return blob_package(size, seed, "kill-app", "1.1")[1]


class KillTest:
    """Drives one board dir through kill points; .survived counts the points that passed."""

    def __init__(self, seed=1, log=None):
        self.rng = random.Random(seed)
        self.log = log or (lambda s: None)
        self.dir = tempfile.mkdtemp(prefix="lwm2m-kill-")
        self.srv = self.bs = self.p = None
        self.runs = []
        self.survived = 0
        self.by_phase = {p: 0 for p in PHASES}
        self.rebootstraps = 0
        self.fw_states = {}
        self.pkg = fw_package()
        self._armed = None  # the pending kill of the current point

    async def start(self):
        self.srv = await L.LwM2MServer(expiry_interval=0).start()
        self.bs = await L.BootstrapServer(timeout=10).start()
        self.bs.provision = {
            "bootstrap": {"uri": "coap://127.0.0.1:%d" % self.bs.port},
            "servers": [{"uri": "coap://127.0.0.1:%d" % self.srv.port, "ssid": 5, "lifetime": 300}]}
        make_board_dir(self.dir, {
            "endpoint": EP, "local_port": 0, "data_dir": "data", "log": "info", "servers": [],
            "bootstrap": {"uri": "coap://127.0.0.1:%d" % self.bs.port, "hold_off": 0}})
        return self

    async def stop(self):
        self._kill()
        for s in (self.srv, self.bs):
            if s is not None:
                await s.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def output(self, last=3):
        return "\n----\n".join("\n".join(p.lines) for p in self.runs[-last:])

    def _kill(self):
        if self.p is not None and self.p.p.poll() is None:
            self.p.p.kill()  # SIGKILL: no cleanup, like pulling the power
            self.p.p.wait(5)

    def _boot(self):
        """boot.py then main.py, as a board powers up."""
        r = subprocess.run([micropython(), "boot.py"], cwd=self.dir, capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0 or any(b in r.stdout + r.stderr for b in BAD):
            raise KillFailure("boot.py failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
        self.p = Proc([micropython(), "-X", "heapsize=1M", "main.py"], cwd=self.dir)
        self.runs.append(self.p)
        del self.runs[:-5]

    async def _wait(self, peer, kind, since, timeout):
        end = time.monotonic() + timeout
        while True:
            for e in peer.events[since:]:
                if e.kind == kind and e.ep == EP:
                    return e
            if self.p.p.poll() is not None:
                raise KillFailure("client exited (%s) waiting for %s" % (self.p.p.returncode, kind))
            if time.monotonic() > end:
                raise KillFailure("no %s within %.0f s" % (kind, timeout))
            await asyncio.sleep(0.02)

    def _check_log(self):
        text = "\n".join(self.p.lines)
        for b in BAD:
            if b in text:
                raise KillFailure("%r in the client log" % b)

    async def _read_int(self, path):
        r = await self.srv.read(EP, path, timeout=10)
        if r.code != "2.05":
            raise KillFailure("read %s -> %s" % (path, r.code))
        return int(r.text)

    async def restart_and_check(self):
        self._kill()
        self._disarm()
        n_srv, n_bs = len(self.srv.events), len(self.bs.events)
        self._boot()
        await self._wait(self.srv, "register", n_srv, 40)
        if any(e.kind == "bootstrap-request" for e in self.bs.events[n_bs:]):
            self.rebootstraps += 1
        self._check_log()
        state = await self._read_int("/5/0/3")
        result = await self._read_int("/5/0/5")
        self.fw_states[state] = self.fw_states.get(state, 0) + 1
        if state not in (0, 2):
            raise KillFailure("firmware State %d after restart" % state)
        if not 0 <= result <= 9:
            raise KillFailure("firmware Update Result %d after restart" % result)
        self._check_log()

    def _kill_soon(self, most=0.012):
        # a random few ms after the chosen protocol point, so the cut lands mid-operation
        if self._armed is None:
            self._armed = asyncio.get_running_loop().call_later(self.rng.uniform(0, most), self._kill)

    def _disarm(self):
        if self._armed is not None:
            self._armed.cancel()
            self._armed = None

    async def _burst(self, at):
        n = 0
        while True:
            for path, val in (("/1/0/1", str(100 + n % 50)), ("/3/0/14", "+0%d:00" % (n % 10)),
                              ("/3/0/15", "Europe/Zone%d" % n)):
                if n == at:
                    self._kill_soon()
                n += 1
                await self.srv.write(EP, path, val, timeout=5)

    async def _push(self, at):
        def progress(sent, total):
            if sent >= at:
                self._kill_soon()
        await self.srv.push_firmware(EP, self.pkg, block_size=1024, timeout=5, progress=progress)

    async def point(self, phase):
        """One kill point in phase; the client is running and registered before and after."""
        rng = self.rng
        if phase == "bootstrap":
            # a factory-fresh store, so the board bootstraps; killed after a random bootstrap step
            self._kill()
            shutil.rmtree(os.path.join(self.dir, "data"), ignore_errors=True)
            steps = len(L.bootstrap_plan(self.bs.provision))
            at = rng.randrange(0, steps)  # 0: at the Bootstrap-Request, k: after step k
            seen = [0]

            def on_event(e):
                if e.ep != EP or e.kind not in ("bootstrap-request", "bootstrap-step"):
                    return
                if seen[0] == at:
                    self._kill_soon(0.002)  # a whole bootstrap takes a few ms on loopback
                seen[0] += 1
            self.bs.on_event = on_event
            try:
                self._boot()
                end = time.monotonic() + 30
                while self.p.p.poll() is None:
                    if time.monotonic() > end:
                        raise KillFailure("bootstrap never reached step %d" % at)
                    await asyncio.sleep(0.02)
            finally:
                self.bs.on_event = None
        else:
            if phase == "writes":
                job = asyncio.ensure_future(self._burst(rng.randrange(0, 30)))
            else:
                job = asyncio.ensure_future(self._push(rng.randrange(0, len(self.pkg) + 1024)))
            end = time.monotonic() + 30
            while self.p.p.poll() is None and not job.done() and time.monotonic() < end:
                await asyncio.sleep(0.01)
            self._kill()  # also when the push finished before its chosen block
            job.cancel()
            try:
                await job
            except BaseException:
                pass  # the request in flight dies with the client
        await self.restart_and_check()
        self.survived += 1
        self.by_phase[phase] += 1

    async def run(self, points):
        self._boot()
        await self._wait(self.srv, "register", 0, 40)
        self._check_log()
        for i in range(points):
            phase = PHASES[i % len(PHASES)]
            t0 = time.monotonic()
            await self.point(phase)
            self.log("kill point %d/%d (%s) survived in %.1f s" % (i + 1, points, phase,
                                                                   time.monotonic() - t0))
        return self.summary()

    def summary(self):
        return ("kill points survived %d (bootstrap %d, writes %d, fw %d); re-bootstraps %d; "
                "fw State after restart %s" % (
                    self.survived, self.by_phase["bootstrap"], self.by_phase["writes"],
                    self.by_phase["fw"], self.rebootstraps,
                    " ".join("%d:%d" % kv for kv in sorted(self.fw_states.items()))))


async def killtest(points=200, seed=1, log=None):
    """Run points kill points; returns the KillTest (raises KillFailure with the client log)."""
    kt = await KillTest(seed, log).start()
    try:
        await kt.run(points)
    except BaseException as e:
        if isinstance(e, KillFailure):
            e.args = ("%s after %d kill points; client output:\n%s" % (
                e.args[0], kt.survived, kt.output()),)
        raise
    finally:
        await kt.stop()
    return kt


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        kt = asyncio.run(killtest(a.points, a.seed, print if a.verbose else None))
    except KillFailure as e:
        print("FAILED:", e)
        return 1
    print(kt.summary())
    print("%.0f s" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
