"""Firmware update end to end: `micropython main.py` in a board-like dir against tools/lwm2m_server.py.

Push (Block1 to /5/0/0) of a real application bundle, Update, reboot through boot.py, result 1
after re-registration; pull (/5/0/1) with the file server cut halfway and brought back on the same
port; a corrupted package (result 5) and one bigger than the staging capacity (result 2)."""
import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import lwm2m_server as L
from board.host import REBOOT_EXIT
from boardir import TOP, make_board_dir
from hostenv import micropython
from proc import Proc
from test_peer_client import one_server
from testpkg import blob, bundle, package

EP = "fw-e2e-1"
K = 1024


def run(coro, timeout=300):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def lib_bundle(marker, size=256 * K):
    """The whole lib/ of this tree (bundle paths are relative to lib/) plus a marker file, padded
    with a filler file so the bundle is at least `size` bytes."""
    items = []
    lib = os.path.join(TOP, "lib")
    for dp, dns, fns in os.walk(lib):
        dns[:] = sorted(d for d in dns if d != "__pycache__")
        for fn in sorted(fns):
            if fn.endswith(".py"):
                p = os.path.join(dp, fn)
                with open(p, "rb") as f:
                    items.append((os.path.relpath(p, lib).replace(os.sep, "/"), f.read()))
    items.append(("FW_VERSION", marker))
    have = len(bundle(items))
    if have < size:
        items.append(("filler.bin", blob(max(0, size - have - 40))))
    return bundle(items)


class Board:
    """A board-like dir; start() runs main.py, reboot() runs boot.py then main.py again."""

    def __init__(self, srv_port, capacity=None):
        self.dir = tempfile.mkdtemp(prefix="lwm2m-fw-")
        make_board_dir(self.dir, dict(one_server(EP, "coap://127.0.0.1:%d" % srv_port), log="info"))
        if capacity is not None:
            os.makedirs(os.path.join(self.dir, "data", "fw"))
            with open(os.path.join(self.dir, "data", "fw", "capacity"), "w") as f:
                f.write("%d\n" % capacity)  # BundleStore's staging cap (documented in fwstore)
        self.p = None
        self.runs = []

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def start(self):
        self.p = Proc([micropython(), "-X", "heapsize=1M", "main.py"], cwd=self.dir)
        self.runs.append(self.p)

    def boot(self):
        r = subprocess.run([micropython(), "boot.py"], cwd=self.dir, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r
        return r.stdout

    def output(self):
        return "\n----\n".join("\n".join(p.lines) for p in self.runs)

    def close(self):
        try:
            if self.p is not None:
                self.p.kill()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


async def with_board(board, body, servers):
    try:
        await body(board)
    except BaseException:
        sys.stderr.write("client output:\n%s\n" % board.output())
        raise
    finally:
        board.close()
        for s in servers:
            await s.stop()


async def text(srv, path):
    r = await srv.read(EP, path)
    assert r.code == "2.05", (path, r)
    return bytes(r.payload).decode()


async def wait_state(srv, want, timeout=120):
    end = time.monotonic() + timeout
    while True:
        s = int(await text(srv, "/5/0/3"))
        if s == want:
            return
        assert time.monotonic() < end, "state stays %d, wanted %d" % (s, want)
        await asyncio.sleep(0.3)


def test_push_update_reboot_confirm():
    async def main():
        srv = await L.LwM2MServer().start()
        img = lib_bundle(b"2.0.0\n")
        assert len(img) >= 256 * K
        pkg = package(img, "lwm2m-app", "2.0.0")

        async def body(b):
            b.start()
            await srv.wait_registered(EP, 20)
            assert await text(srv, "/5/0/9") == "2"  # push and pull
            assert await text(srv, "/5/0/3") == "0"
            # pmin 0: every state is reported (the default 1 s would fold a sub-second push's
            # Downloading into Downloaded)
            assert (await srv.write_attributes(EP, "/5/0/3", pmin=0)).code == "2.04"
            obs = await srv.observe(EP, "/5/0/3")
            assert obs.active and bytes(obs.first.payload) == b"0"
            t0 = time.monotonic()
            r = await srv.push_firmware(EP, pkg, block_size=1024, timeout=30)
            dt = time.monotonic() - t0
            assert r.code == "2.04", r
            states = []
            while not states or states[-1] != 2:
                states.append(int(bytes((await obs.next(10)).payload)))
            assert states == [1, 2], states
            assert await text(srv, "/5/0/6") == "lwm2m-app"
            assert await text(srv, "/5/0/7") == "2.0.0"
            with open(b.path("data", "fw", "staged.bundle"), "rb") as f:
                assert hashlib.sha256(f.read()).digest() == hashlib.sha256(img).digest()
            sys.stderr.write("push %d bytes in %.2f s\n" % (len(pkg), dt))
            # Update: 2.04 first, then Deregister, then the reboot exit code
            assert (await srv.execute(EP, "/5/0/2")).code == "2.04"
            await srv.wait_event("deregister", EP, 15)
            assert await asyncio.to_thread(b.p.wait_exit, 15) == REBOOT_EXIT
            # the board reboots: boot.py swaps the staged bundle in for lib/, then main.py
            assert "boot: firmware update applied" in b.boot()
            with open(b.path("lib", "FW_VERSION"), "rb") as f:
                assert f.read() == b"2.0.0\n"
            assert os.path.isdir(b.path("data", "fw", "prev"))  # the old lib, for rollback
            n = len(srv.events)
            b.start()
            await srv.wait_event("register", EP, 20)
            assert len(srv.events) > n
            await wait_state(srv, 0, 10)
            assert await text(srv, "/5/0/5") == "1"
            assert await text(srv, "/5/0/6") == "lwm2m-app"
            assert await text(srv, "/5/0/7") == "2.0.0"
            # confirmed: the previous app and the trial marker are gone
            assert not os.path.exists(b.path("data", "fw", "prev"))
            assert not os.path.exists(b.path("data", "fw", "trial"))
            # a second reboot changes nothing
            assert b.boot() == ""

        await with_board(Board(srv.port), body, [srv])

    run(main())


def test_pull_with_cut_then_corrupt_and_too_large():
    async def main():
        srv = await L.LwM2MServer().start()
        fs = await L.LwM2MServer(fw_block_size=1024).start()
        port = fs.port
        img = bundle([("blob.bin", blob(256 * K))])
        pkg = package(img, "pulled", "3.1")
        servers = [srv, fs]

        async def body(b):
            nonlocal fs
            b.start()
            await srv.wait_registered(EP, 20)
            uri = fs.serve_file("img.bin", pkg)
            assert (await srv.write(EP, "/5/0/1", uri)).code == "2.04"
            # cut the file server once it has served half, for a few seconds
            while not any(e.kind == "fw-get" and e.info["end"] >= len(pkg) // 2
                          for e in fs.events):
                await asyncio.sleep(0.05)
            assert int(await text(srv, "/5/0/3")) == 1
            await fs.stop()
            servers.remove(fs)
            await asyncio.sleep(4)
            assert int(await text(srv, "/5/0/3")) == 1  # still Downloading, waiting to resume
            fs = await L.LwM2MServer(port=port, fw_block_size=1024).start()
            servers.append(fs)
            assert fs.port == port
            fs.serve_file("img.bin", pkg)
            await wait_state(srv, 2, 120)
            gets = [e.info["num"] for e in fs.events if e.kind == "fw-get"]
            # resumed where it stopped: the new server never served the first half again
            assert gets and min(gets) >= (len(pkg) // 2) // 1024, gets[:5]
            assert gets[-1] == (len(pkg) - 1) // 1024
            assert await text(srv, "/5/0/5") == "0"
            assert await text(srv, "/5/0/1") == uri
            assert (await text(srv, "/5/0/6"), await text(srv, "/5/0/7")) == ("pulled", "3.1")
            with open(b.path("data", "fw", "staged.bundle"), "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(img).hexdigest()

            # corrupted: the header's SHA-256 does not match the image -> Idle, result 5
            bad = package(img, digest=hashlib.sha256(b"other").digest())
            r = await srv.push_firmware(EP, bad, block_size=1024, timeout=30)
            assert r.code == "2.04", r  # the whole package arrived; /5/0/5 says why it failed
            assert (await text(srv, "/5/0/3"), await text(srv, "/5/0/5")) == ("0", "5")

            # bigger than the staging capacity (300 KB here): refused at the first block -> 2
            big = package(bundle([("big.bin", blob(320 * K))]))
            r = await srv.push_firmware(EP, big, block_size=1024, timeout=30)
            assert r.code == "4.13", r
            assert (await text(srv, "/5/0/3"), await text(srv, "/5/0/5")) == ("0", "2")
            # and Update is refused outside Downloaded
            assert (await srv.execute(EP, "/5/0/2")).code == "4.05"

        await with_board(Board(srv.port, capacity=300 * K), body, servers)

    run(main())
