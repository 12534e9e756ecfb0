"""`make run`: the client end to end on this machine - bootstrap, DM, observe, firmware update.

    python tools/run_demo.py [--dir run/demo] [--ep demo-node] [--clean] [--micropython PATH]

Lays out a board-like directory (config.json names only a bootstrap server), starts the local
bootstrap server and LwM2M server (tools/lwm2m_server.py, in this process, free loopback ports)
and the client (`micropython`, boot.py then main.py, as a board starts), then drives it through
bootstrap, registration, a Device read in TLV, a write, an observation of the simulated battery,
a firmware push, the update and reboot, re-registration and deregistration - printing one line
per step. Exit 0 when every step worked; otherwise 1 and a line saying which step failed. Nothing
is left running, also on Ctrl-C.
"""
import argparse
import asyncio
import hashlib
import os
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
for _p in (HERE, os.path.join(HERE, "cpy"), os.path.join(TOP, "lib")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import lwm2m_server as L  # noqa: E402
from boardir import make_board_dir  # noqa: E402

EP = "demo-node"
SIM_BATTERY = "4000,600"  # board.hostsim.SimBattery: 4.0 V, losing 10 mV/s (about 1 % per second)
NEW_VERSION = "1.1.0"
REBOOT_EXIT = 3  # board.host.REBOOT_EXIT
# A board runs boot.py, then main.py, in one interpreter; boot.py applies a staged update.
BOARD_START = "exec(open('boot.py').read())\nexec(open('main.py').read())\n"

DEVICE_FIELDS = ((0, "Manufacturer", ""), (1, "Model", ""), (2, "Serial", ""), (3, "Firmware", ""),
                 (9, "Battery level", " %"), (20, "Battery status", ""), (6, "Power sources", ""),
                 (7, "Power voltage", " mV"), (10, "Memory free", " KiB"), (16, "Binding", ""))
# /3/0/20 and /3/0/6 codes (LwM2M 1.0 Device object)
BATTERY_STATUS = {0: "normal", 1: "charging", 2: "charge complete", 3: "damaged", 4: "low",
                  5: "not installed", 6: "unknown"}
POWER = {0: "DC", 1: "internal battery", 2: "external battery", 4: "PoE", 5: "USB", 6: "AC",
         7: "solar"}
FW_STATES = {0: "Idle", 1: "Downloading", 2: "Downloaded", 3: "Updating"}


def _show(path):
    rel = os.path.relpath(path, TOP)
    return path if rel.startswith("..") else rel


class DemoFailed(Exception):
    pass


def micropython(path=None):
    if path:
        return path
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(cand):
        return cand
    path = shutil.which("micropython")
    if not path:
        raise DemoFailed("setup: no `micropython` next to %s or on PATH (run `make venv`)" % sys.executable)
    return path


def firmware_package(version, name="lwm2m-demo"):
    """A package for /5/0/0: the 128-byte header, then a bundle of this tree's lib/ (the whole
    application: boot.py swaps it in for the board's lib/)."""
    from board.fwboot import write_bundle
    from lwm2m.fwpkg import make_header
    import io

    items = []
    lib = os.path.join(TOP, "lib")
    for root, dirs, files in os.walk(lib):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                p = os.path.join(root, f)
                with open(p, "rb") as fh:
                    items.append((os.path.relpath(p, lib).replace(os.sep, "/"), fh.read()))
    buf = io.BytesIO()
    write_bundle(buf, items)
    image = buf.getvalue()
    return make_header(len(image), hashlib.sha256(image).digest(), name, version) + image, len(items)


def device_summary(payload):
    d = L.decode_tlv(payload)
    types = L.RES_TYPES[3]
    out = []
    for rid, label, unit in DEVICE_FIELDS:
        if rid not in d:
            continue
        v = d[rid]
        if isinstance(v, dict):
            vals = [L.tlv_typed(x, types.get(rid, "i")) for _, x in sorted(v.items())]
            val = ", ".join(POWER.get(x, str(x)) if rid == 6 else "%s%s" % (x, unit) for x in vals)
        else:
            val = L.tlv_typed(v, types.get(rid, "s"))
            if rid == 20:
                val = BATTERY_STATUS.get(val, str(val))
            else:
                val = (repr(val) if isinstance(val, str) else str(val)) + unit
        out.append("%s %s" % (label, val))
    return d, out


def fw_summary(payload):
    d = L.decode_tlv(payload)
    g = lambda rid, kind: L.tlv_typed(d[rid], kind) if rid in d else None  # noqa: E731
    return {"state": g(3, "i"), "result": g(5, "i"), "name": g(6, "s"), "version": g(7, "s")}


class Demo:
    def __init__(self, board_dir, ep=EP, out=None, mpy=None):
        self.dir = board_dir
        self.mpy = mpy
        self.ep = ep
        self.out = out or sys.stdout
        self.t0 = time.monotonic()
        self.proc = None
        self.reader = None
        self.client_lines = []
        self.pids = []
        self.bs = None
        self.srv = None
        self.boots = 0

    # ---- output
    def say(self, who, text):
        self.out.write("[%6.2fs] %-6s | %s\n" % (time.monotonic() - self.t0, who, text))
        self.out.flush()

    def on_event(self, who, e):
        if e.kind in ("observe", "observe-cancel", "fw-push", "notify", "fw-get"):
            return  # the step that caused it says it, with decoded values
        self.say(who, e.line().split("] ", 1)[1])

    # ---- the client process
    async def start_client(self):
        self.boots += 1
        env = dict(os.environ, LWM2M_SIM_BATTERY=SIM_BATTERY)
        self.proc = await asyncio.create_subprocess_exec(
            micropython(self.mpy), "-X", "heapsize=2M", "-c", BOARD_START, cwd=self.dir, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        self.pids.append(self.proc.pid)
        self.say("demo", "client started (boot #%d): micropython boot.py + main.py in %s, pid %d" % (
            self.boots, _show(self.dir), self.proc.pid))
        self.reader = asyncio.ensure_future(self._read(self.proc))

    async def _read(self, proc):
        while True:
            line = await proc.stdout.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\n")
            self.client_lines.append(text)
            self.say("client", text)

    async def client_exit(self, timeout, what):
        try:
            rc = await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            raise DemoFailed("%s: the client did not exit within %d s" % (what, timeout))
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 5)
        return rc

    def kill_client(self):
        p = self.proc
        if p is not None and p.returncode is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    async def step(self, what, aw, timeout=15.0):
        """Await aw, failing clearly on a timeout or when the client dies meanwhile."""
        task = asyncio.ensure_future(asyncio.wait_for(aw, timeout))
        died = asyncio.ensure_future(self.proc.wait())
        try:
            done, _ = await asyncio.wait({task, died}, return_when=asyncio.FIRST_COMPLETED)
            if task not in done:
                await asyncio.sleep(0.2)  # let its last lines be read
                raise DemoFailed("%s: the client exited with code %s" % (what, self.proc.returncode))
            try:
                return task.result()
            except asyncio.TimeoutError:
                raise DemoFailed("%s: no answer within %d s" % (what, timeout))
            except Exception as e:  # a server-side error (not registered, CoAP error): say which step
                raise DemoFailed("%s: %s: %s" % (what, type(e).__name__, e))
        finally:
            for t in (task, died):
                if not t.done():
                    t.cancel()

    def expect(self, cond, what):
        if not cond:
            raise DemoFailed(what)

    # ---- the story
    async def run(self):
        ep = self.ep
        self.bs = bs = L.BootstrapServer()
        self.srv = srv = L.LwM2MServer()
        await bs.start()
        await srv.start()
        bs.on_event = lambda e: self.on_event("bs", e)
        srv.on_event = lambda e: self.on_event("server", e)
        bs_uri = "coap://127.0.0.1:%d" % bs.port
        srv_uri = "coap://127.0.0.1:%d" % srv.port
        # Delete "/" first, as bootstrap servers do: it wipes accounts; /3/0, /4/0, /5/0 stay.
        bs.provision = {"delete": True, "bootstrap": {"uri": bs_uri},
                        "servers": [{"uri": srv_uri, "ssid": 1, "lifetime": 300, "binding": "U"}]}
        cfg = {"endpoint": ep, "servers": [], "bootstrap": {"uri": bs_uri, "hold_off": 0},
               "queue_mode": False, "local_port": 0, "data_dir": "data", "log": "info"}
        if os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        make_board_dir(self.dir, cfg)
        self.say("demo", "bootstrap server on %s, LwM2M server on %s" % (bs_uri, srv_uri))
        self.say("demo", "board dir %s: config.json names only the bootstrap server" % _show(self.dir))
        await self.start_client()

        # 1. bootstrap
        await self.step("bootstrap request", bs.wait_event("bootstrap-request", ep, 20), 25)
        f = await self.step("bootstrap", bs.wait_bootstrapped(ep, 20), 25)
        self.expect(f.info["ok"], "bootstrap: a step failed: %s" % bs.results.get(ep))

        # 2. registration
        await self.step("registration", srv.wait_event("register", ep, 20), 25)
        reg = srv.clients[ep]
        self.say("server", "%s is registered at %s: lifetime %d s, binding %s, %d object links" % (
            ep, reg.location.lstrip("/"), reg.lifetime, reg.binding, len(reg.objects)))

        # 3. Device read in TLV
        r = await self.step("read /3/0", srv.read(ep, "/3/0", accept=L.CF_TLV))
        self.expect(r.code == "2.05" and r.content_format == L.CF_TLV,
                    "read /3/0: expected 2.05 TLV, got %s" % r.describe("/3/0"))
        d, parts = device_summary(r.payload)
        self.say("server", "read /3/0 -> 2.05 TLV, %d bytes, %d resources:" % (len(r.payload), len(d)))
        for i in range(0, len(parts), 4):
            self.say("server", "    " + ", ".join(parts[i:i + 4]))
        self.expect(0 in d and 9 in d, "read /3/0: Manufacturer or Battery Level missing")

        # 4. a write: the lifetime, which the client carries to the server in an Update
        # requests whose effects the server sees before their answer are told before they go out
        self.say("server", "write /1/0/1 (Lifetime) = 60")
        r = await self.step("write /1/0/1", srv.write(ep, "/1/0/1", "60"))
        self.say("server", "write /1/0/1 -> %s" % r.code)
        self.expect(r.code == "2.04", "write /1/0/1: expected 2.04, got %s" % r.code)
        u = await self.step("update after the write", srv.wait_event("update", ep, 10))
        self.expect(u.info.get("lifetime") == 60, "update after the write: %s" % u.info)
        self.say("server", "the client sent an Update with lt=60")

        # 5. observe the battery level with write-attributes
        r = await self.step("write-attributes", srv.write_attributes(ep, "/3/0/9", pmin=1, pmax=2))
        self.say("server", "write-attributes /3/0/9 pmin=1 pmax=2 -> %s" % r.code)
        self.expect(r.code == "2.04", "write-attributes /3/0/9: got %s" % r.code)
        obs = await self.step("observe /3/0/9", srv.observe(ep, "/3/0/9"))
        self.expect(obs.active, "observe /3/0/9: not accepted (%s)" % obs.first.describe())
        self.say("server", "observe /3/0/9 (Battery Level) -> %s, now %s %%" % (
            obs.first.code, obs.first.text))
        start = time.monotonic()
        for n in range(1, 4):
            note = await self.step("notification %d" % n, obs.next(6), 8)
            self.say("server", "notify /3/0/9 #%d battery level %s %% (Observe %s, +%.1f s)" % (
                n, note.text, note.seq, time.monotonic() - start))
        r = await self.step("cancel observation", obs.cancel())
        self.say("server", "observation cancelled -> %s" % r.code)

        # 6. firmware push with a package header
        pkg, nfiles = firmware_package(NEW_VERSION)
        r = await self.step("read /5/0", srv.read(ep, "/5/0", accept=L.CF_TLV))
        self.expect(r.code == "2.05", "firmware: read /5/0 -> %s: the client has no Firmware Update "
                    "instance (not wired into the client's /5)" % r.code)
        before = fw_summary(r.payload)
        self.say("server", "firmware now: state %s, PkgVersion %r; pushing %d bytes (%d files of lib/, "
                 "PkgVersion %s) to /5/0/0" % (FW_STATES.get(before.get("state")), before.get("version"),
                                               len(pkg), nfiles, NEW_VERSION))
        shown = [0]

        def progress(sent, total):
            pc = sent * 100 // total
            if pc >= shown[0] + 25:
                shown[0] = pc // 25 * 25
                self.say("server", "firmware push %3d %% (%d/%d bytes)" % (shown[0], sent, total))

        t = time.monotonic()
        r = await self.step("firmware push", srv.push_firmware(ep, pkg, block_size=1024,
                                                               progress=progress), 60)
        self.expect(r.code == "2.04", "firmware push: the transfer ended with %s" % r.code)
        self.say("server", "firmware push 100 %% (%d/%d bytes) -> %s in %.1f s" % (
            len(pkg), len(pkg), r.code, time.monotonic() - t))
        r = await self.step("read /5/0", srv.read(ep, "/5/0", accept=L.CF_TLV))
        fw = fw_summary(r.payload) if r.code == "2.05" else {}
        self.say("server", "read /5/0 -> state %s, result %s, PkgName %r, PkgVersion %r" % (
            FW_STATES.get(fw.get("state"), fw.get("state")), fw.get("result"), fw.get("name"),
            fw.get("version")))
        self.expect(fw.get("state") == 2, "firmware: /5/0/3 is %s after the push, not 2 (Downloaded): "
                    "the firmware update is not wired into the client's /5" % fw.get("state"))

        # 7. Update: the client reboots into the new lib/
        self.say("server", "execute /5/0/2 (Update)")
        r = await self.step("execute /5/0/2", srv.execute(ep, "/5/0/2"))
        self.say("server", "execute /5/0/2 -> %s" % r.code)
        self.expect(r.code == "2.04", "execute /5/0/2: got %s" % r.code)
        rc = await self.client_exit(20, "reboot after the update")
        self.say("demo", "client process exited with code %d (board.host.REBOOT_EXIT: a reboot)" % rc)
        self.expect(rc == REBOOT_EXIT, "reboot: the client exited with %d, not %d" % (rc, REBOOT_EXIT))
        await self.start_client()
        reg2 = await self.step("re-registration", srv.wait_event("register", ep, 20), 25)
        self.say("server", "%s registered again (%s)" % (ep, reg2.info["location"]))
        fw = {}
        for _ in range(20):  # the result turns 1 once the client has seen its Register answered
            r = await self.step("read /5/0", srv.read(ep, "/5/0", accept=L.CF_TLV))
            fw = fw_summary(r.payload) if r.code == "2.05" else {}
            if fw.get("result") == 1:
                break
            await asyncio.sleep(0.1)
        self.say("server", "read /5/0 -> state %s, Update Result %s, PkgVersion %r" % (
            FW_STATES.get(fw.get("state"), fw.get("state")), fw.get("result"), fw.get("version")))
        self.expect(fw.get("result") == 1 and fw.get("version") == NEW_VERSION,
                    "after the update: expected Update Result 1 and PkgVersion %s, got %s" % (
                        NEW_VERSION, fw))

        # 8. deregistration
        self.say("demo", "SIGINT to the client")
        self.proc.send_signal(signal.SIGINT)
        await self.step("deregistration", srv.wait_event("deregister", ep, 10), 12)
        rc = await self.client_exit(15, "exit after deregistering")
        self.expect(rc == 0, "the client exited with %d after SIGINT, not 0" % rc)
        self.say("demo", "client exited with code 0")

    async def close(self):
        self.kill_client()
        if self.proc is not None:
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                pass
        if self.reader is not None and not self.reader.done():
            self.reader.cancel()
        for s in (self.srv, self.bs):
            if s is not None:
                try:
                    await s.stop()
                except Exception:  # stopping is best effort; the process ends anyway
                    pass


async def amain(args):
    demo = Demo(os.path.abspath(args.dir), args.ep, mpy=args.micropython)
    try:
        await demo.run()
    except DemoFailed as e:
        demo.say("demo", "FAILED: %s" % e)
        return 1
    finally:
        await demo.close()
        if args.clean and os.path.isdir(demo.dir):
            shutil.rmtree(demo.dir, ignore_errors=True)
    demo.say("demo", "done: every step worked, nothing left running (client pids %s)" % (
        " ".join(str(p) for p in demo.pids)))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=os.path.join(TOP, "run", "demo"), help="board-like dir to create")
    ap.add_argument("--ep", default=EP, help="endpoint name")
    ap.add_argument("--micropython", help="the unix port to run (default: next to this python)")
    ap.add_argument("--clean", action="store_true", help="remove the board dir afterwards")
    args = ap.parse_args(argv)
    try:
        return asyncio.run(amain(args))
    except KeyboardInterrupt:
        sys.stderr.write("run_demo: interrupted; everything stopped\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
