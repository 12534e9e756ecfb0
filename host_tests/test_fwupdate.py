"""Firmware Update (/5) state machine: push, pull with resume, failures, update/reboot/confirm."""
# Over ~400 lines on purpose: one file per module under test: the /5 state machine's every
# transition and failure.
import binascii
import hashlib
import os
import time

from board.bundle import BundleStore
from board.fwboot import boot_apply, write_bundle
from board.fwstore import FwError
from board.partstore import PartitionStore
from board.hostsim import RamPartition
from lwm2m import fwpkg, fwuri
from lwm2m import fwupdate as fw
from lwm2m.errors import BadRequest, LwM2MError, MethodNotAllowed, NotFound, TooLarge
from lwm2m.store import Store
from util import FakeClock, heap_trace, heap_used, raises, rebuild_modules_table

K = 1024
# State /5/0/3 and Update Result /5/0/5 (LwM2M 1.0.2 E.6); the engine keeps its own as private
# constants
IDLE, DOWNLOADING, DOWNLOADED, UPDATING = 0, 1, 2, 3
R_INITIAL, R_SUCCESS, R_CONN_LOST = 0, 1, 4


def _image(n, seed=b"fw"):
    """n pseudo-random bytes (no period a misplaced block could hide in)."""
    out = bytearray(n)
    d = hashlib.sha256(seed).digest()
    for i in range(0, n, 32):
        d = hashlib.sha256(d).digest()
        k = min(32, n - i)
        out[i:i + k] = d[:k]
    return out


def _pkg(img, name="app", version="1.2.3", digest=None, length=None):
    d = digest if digest is not None else hashlib.sha256(img).digest()
    return fwpkg.make_header(len(img) if length is None else length, d, name, version) + img


def _rmtree(p):
    try:
        mode = os.stat(p)[0]
    except OSError:
        return
    if mode & 0x4000:
        for n in os.listdir(p):
            _rmtree(p + "/" + n)
        os.rmdir(p)
    else:
        os.remove(p)


def _root(tag):
    r = "/tmp/lwm2m_fw_%s_%d" % (tag, binascii.crc32(os.urandom(8)) & 0xFFFFFF)
    _rmtree(r)
    return r


class FakeStorage:
    """fwstore interface; keeps the bytes (or only a hash) and what was called."""

    def __init__(self, capacity=None, keep=True):
        self.capacity = capacity
        self.keep = keep
        self.data = bytearray()
        self.writes = []
        self.calls = []
        self.sha = None
        self.off = 0
        self.peak = 0
        self.base = None
        self.confirm_ret = None

    @property
    def offset(self):
        return self.off

    def begin(self, total=None):
        self.calls.append(("begin", total))
        if self.capacity is not None and total is not None and total > self.capacity:
            raise FwError(2)  # no space
        self.sha = hashlib.sha256()
        self.data = bytearray()
        self.off = 0

    def write(self, data):
        if self.capacity is not None and self.off + len(data) > self.capacity:
            raise FwError(2)  # no space
        self.writes.append(len(data))
        self.sha.update(data)
        if self.keep:
            self.data.extend(data)
        self.off += len(data)
        if self.base is not None:
            self.peak = max(self.peak, heap_used() - self.base)

    def finish(self):
        self.calls.append(("finish",))
        return self.off, binascii.hexlify(self.sha.digest()).decode()

    def abort(self):
        self.calls.append(("abort",))
        self.off = 0

    def apply(self):
        self.calls.append(("apply",))

    def confirm(self):
        self.calls.append(("confirm",))
        return self.confirm_ret


class CountingStore(Store):
    def __init__(self, root):
        Store.__init__(self, root)
        self.saves = 0

    def save(self, name, value):
        self.saves += 1
        return Store.save(self, name, value)


def _make(storage=None, root=None, **kw):
    reports = []
    storage = storage if storage is not None else FakeStorage()
    store = CountingStore(root or _root("s"))
    u = fw.FwUpdate(storage, store, report=reports.append, **kw)
    u.reports = reports
    return u, storage, store


def _push(u, pkg, bs=K, total=None):
    mv = memoryview(pkg)
    n = len(pkg)
    for off in range(0, n, bs):
        u.package_block(off, mv[off:off + bs], off + bs >= n, total)


def test_push_256k_raw_streams_per_block():
    img = _image(256 * K)
    u, st, store = _make()
    seen = []
    u._report = lambda rid: seen.append((rid, u.get(rid)))
    try:
        assert (u.get(3), u.get(5)) == (0, 0)
        mv = memoryview(img)
        u.package_block(0, mv[:K], False)
        assert seen == [(3, 1)] and st.off == K  # written through on the first block
        for off in range(K, len(img), K):
            u.package_block(off, mv[off:off + K], off + K == len(img))
            if off == 128 * K:
                assert st.off == 129 * K and u.get(3) == 1
        assert seen == [(3, 1), (3, 2)]
        assert st.data == img and st.writes == [K] * 256
        assert u.length == 256 * K and u.sha256 == binascii.hexlify(hashlib.sha256(img).digest()).decode()
        assert store.saves <= 3  # state changes only, not per block
        assert store.load("fw")["state"] == 2
    finally:
        _rmtree(store.root)


def test_push_with_header_strips_it_and_sets_names():
    img = _image(20 * K + 7)
    u, st, store = _make()
    try:
        _push(u, _pkg(img, "sensor-app", "2.0.1"), total=len(img) + fwpkg.HDR_LEN)
        assert u.get(3) == 2 and u.get(5) == 0
        assert st.data == img and ("begin", len(img)) in st.calls
        assert (u.get(6), u.get(7)) == ("sensor-app", "2.0.1")
        assert u.reports == [3, 3, 6, 7]
    finally:
        _rmtree(store.root)


def test_push_header_split_over_tiny_blocks():
    img = _image(1000)
    u, st, store = _make()
    try:
        _push(u, _pkg(img, "n", "v"), bs=16)  # szx 0: the header arrives in 8 pieces
        assert u.get(3) == 2 and st.data == img and u.get(6) == "n"
        u2, st2, store2 = _make()
        _push(u2, b"abc", bs=16)  # raw and shorter than the magic
        assert u2.get(3) == 2 and st2.data == b"abc"
        _rmtree(store2.root)
    finally:
        _rmtree(store.root)


def test_header_and_restore_code_is_gone_while_blocks_stream():
    """lwm2m.fwhead (header or raw) is gone again after every block it took, and lwm2m.fwapply
    and lwm2m.fwrec after the restore: the blocks after the header come in without their code."""
    import sys

    img = _image(3000)
    pkg = _pkg(img)
    u, st, store = _make()
    try:
        u.on_boot(0)
        assert "lwm2m.fwapply" not in sys.modules and "lwm2m.fwrec" not in sys.modules
        for off in range(0, len(pkg), 64):  # the header over two blocks
            u.package_block(off, pkg[off:off + 64], off + 64 >= len(pkg))
            assert "lwm2m.fwhead" not in sys.modules and "lwm2m.fwapply" not in sys.modules
        assert u.get(3) == DOWNLOADED and st.data == img and u.get(6) == "app"
    finally:
        _rmtree(store.root)


def test_steps_without_a_block_load_for_the_call_only():
    """The steps that store no block (FwUpdate.__getattr__: a Read, the restore, a cancel, Execute
    Update, the confirm) are lwm2m.fwrec / lwm2m.fwapply functions and BundleStore.abort is
    board.stage's: each module is gone again after its call, and another missing name loads
    nothing."""
    import sys

    mods = ("lwm2m.fwrec", "lwm2m.fwapply", "board.stage")

    def gone():
        return not [m for m in mods if m in sys.modules]

    root = _root("steps")
    u, st, store = _make(BundleStore(root + "/fw"))
    try:
        u.on_boot(0)
        u.on_registered(0)  # nothing pending: nothing changes
        assert gone() and (u.get(3), u.get(5), u.get(9)) == (IDLE, R_INITIAL, 2) and gone()
        raises(NotFound, u.get, 4)
        raises(MethodNotAllowed, u.execute_update, 0)
        assert gone() and isinstance(raises(AttributeError, getattr, u, "_nope"), AttributeError)
        assert gone() and not hasattr(u, "unload") and gone()
        u.package_block(0, b"x" * K, False)
        assert u.get(3) == DOWNLOADING and st.offset == K and gone()
        os.stat(root + "/fw/staged.part")  # staged
        u.cancel()
        assert (u.get(3), u.get(5)) == (IDLE, R_INITIAL) and gone()
        raises(OSError, os.stat, root + "/fw/staged.part")  # BundleStore.abort removed it
    finally:
        _rmtree(root)
        _rmtree(store.root)


def test_integrity_failure_result_5():
    img = _image(8 * K)
    flipped = bytearray(_pkg(img))
    flipped[5000] ^= 1  # one bit of the image changed on the way
    for pkg in (_pkg(img, digest=b"\x01" * 32), flipped, _pkg(img, length=len(img) + 1),
                _pkg(img, length=len(img) - 1)):
        u, st, store = _make()
        try:
            _push(u, pkg)  # the whole package arrived: the Write itself succeeds
            assert (u.get(3), u.get(5)) == (0, 5)
            assert u.reports == [3, 3, 5] and st.calls[-1] == ("abort",)
            assert store.load("fw")["result"] == 5
            raises(MethodNotAllowed, u.execute_update, 0)
        finally:
            _rmtree(store.root)


def test_size1_mismatch_and_unsupported_header_version():
    img = _image(4 * K)
    u, st, store = _make()
    try:
        raises(LwM2MError, u.package_block, 0, _pkg(img)[:K], False, len(img))
        assert (u.get(3), u.get(5)) == (0, 5)
        bad = bytearray(_pkg(img))
        bad[7] = ord("2")  # LWM2MFW2
        raises(LwM2MError, u.package_block, 0, bytes(bad[:K]), False)
        assert (u.get(3), u.get(5)) == (0, 6)
        raises(BadRequest, u.package_block, K, bytes(bad[K:2 * K]), False)  # stopped
    finally:
        _rmtree(store.root)


def test_no_space_result_2():
    u, st, store = _make(FakeStorage(capacity=4 * K))
    img = _image(8 * K)
    try:
        mv = memoryview(img)
        for off in range(0, 4 * K, K):
            u.package_block(off, mv[off:off + K], False)
        e = raises(TooLarge, u.package_block, 4 * K, mv[4 * K:5 * K], False)
        assert e.code == 0x8D
        assert (u.get(3), u.get(5)) == (0, 2) and u.reports == [3, 3, 5]
        raises(BadRequest, u.package_block, 5 * K, mv[5 * K:6 * K], False)
        # known up front from Size1: refused at the first block
        raises(TooLarge, u.package_block, 0, mv[:K], False, 8 * K)
        assert (u.get(3), u.get(5)) == (0, 2) and ("begin", 8 * K) in st.calls
        # a new push resets the result to 0 and succeeds
        _push(u, img[:2 * K])
        assert (u.get(3), u.get(5)) == (2, 0)
    finally:
        _rmtree(store.root)


def test_out_of_sequence_is_bad_request():
    u, st, store = _make()
    try:
        raises(BadRequest, u.package_block, K, b"x" * K, False)  # Idle
        u.package_block(0, b"a" * K, False)
        raises(BadRequest, u.package_block, 2 * K, b"c" * K, False)
        raises(BadRequest, u.package_block, 0 + 0 * K + 512, b"c" * K, False)
        u.package_block(K, b"b" * K, True)
        assert u.get(3) == 2 and st.data == b"a" * K + b"b" * K
    finally:
        _rmtree(store.root)


def test_cancel_by_empty_package_and_empty_uri():
    u, st, store = _make()
    try:
        u.package_block(0, b"a" * K, False)
        assert u.get(3) == 1
        u.package_block(0, b"", True)
        assert (u.get(3), u.get(5)) == (0, 0) and st.calls[-1] == ("abort",)
        raises(BadRequest, u.package_block, K, b"b" * K, True)
        _push(u, b"z" * 3000)
        assert u.get(3) == 2
        u.write_uri("", 0)
        assert (u.get(3), u.get(5)) == (0, 0) and st.calls[-1] == ("abort",)
        raises(MethodNotAllowed, u.execute_update, 0)
        assert store.load("fw")["state"] == 0
    finally:
        _rmtree(store.root)


class FakeNet:
    """download(uri, start_block, sink, done, now, peer) serving `data` in 16<<szx blocks."""

    def __init__(self, data, szx=6):
        self.data = data
        self.szx = szx
        self.starts = []
        self.live = None

    def __call__(self, uri, start_block, sink, done, now, peer):
        self.starts.append((uri, start_block, peer))
        self.live = [start_block << (self.szx + 4), sink, done, False]
        return self

    def cancel(self):
        self.live[3] = True

    def serve(self, nblocks, now, end=True):
        """Deliver up to nblocks; then done(2.05) at the end, or done(None) if end is False."""
        off, sink, done, cancelled = self.live
        bs = 16 << self.szx
        mv = memoryview(self.data)
        for _ in range(nblocks):
            if off >= len(self.data) or self.live[3]:
                break
            sink(off, mv[off:off + bs])
            off += bs
        self.live[0] = off
        if self.live[3]:
            return
        if off >= len(self.data) and end:
            done(0x45, now)
        elif not end:
            done(None, now)


def _stack():
    """(function name, file name) of every frame under the caller: CPython only (MicroPython
    has no sys._getframe, and there this gives [])."""
    import sys

    out = []
    f = sys._getframe(1) if hasattr(sys, "_getframe") else None
    while f is not None:
        out.append((f.f_code.co_name, f.f_code.co_filename))
        f = f.f_back
    return out


def test_pull_first_request_goes_out_in_the_tick_after_the_write():
    """A Package URI write only readies the pull (lwm2m.fwuri checks and parses the URI and
    leaves): the first GET goes out in the engine's next tick, with no frame of the Write (its
    step, its datagram, fwuri) under it: they and the first request at once were a pull's heap
    peak. Fails when write_uri starts the attempt itself (CPython: frames)."""
    calls = []
    seen = []

    def net(uri, start_block, sink, done, now, peer):
        calls.append(uri)
        for name, file in _stack():
            seen.append(name)
            seen.append(file)
        return "h"

    u, st, store = _make(download=net)
    try:
        u.write_uri("coap://fw.example/fw", 0)
        assert u.get(3) == 1 and u._handle is None and calls == []  # Downloading, nothing sent
        assert u.tick(0) is None and u._handle == "h" and calls  # the first GET, due at once
        assert "write_uri" not in seen and not [n for n in seen if n.endswith("fwuri.py")], seen
    finally:
        _rmtree(store.root)


def test_uri_write_stops_what_there_is_with_fwuri_gone():
    """A Package URI write stops what there is (storage.abort(): a bundle store loads board.stage
    for it) only once lwm2m.fwuri has given its outcome and returned: both at once, with the
    Write's step, were a pull's heap peak. Fails if an abort runs under a frame of fwuri
    (CPython: frames; an empty URI's cancel is fwuri's own, no transfer)."""
    def fwuri_on_stack():
        return any(file.endswith("fwuri.py") for _, file in _stack())

    net = FakeNet(_image(4 * K))
    u, st, store = _make(download=net)
    seen = []
    ab = st.abort
    st.abort = lambda: seen.append(fwuri_on_stack()) or ab()
    try:
        u.write_uri("coap://h/f", 0)
        u.tick(0)
        assert seen == [False] and u.get(3) == 1 and len(net.starts) == 1
        u.cancel()
        u.write_uri("ftp://h/f", 0)  # refused (result 7): what there was is stopped all the same
        assert (u.get(3), u.get(5), u.get(1)) == (0, 7, "ftp://h/f")
        assert seen == [False, False, False]
    finally:
        _rmtree(store.root)


def test_pull_resume_after_loss():
    img = _image(256 * K)
    pkg = _pkg(img, "p", "9")
    net = FakeNet(pkg)
    clk = FakeClock(1000)
    u, st, store = _make(download=net, rand=lambda n: 250, resolve=lambda h, p: (h, p, "r"))
    try:
        u.write_uri("coap://fw.example:5699/fw/img?v=2", clk.now)
        u.tick(clk.now)  # the first attempt: the tick after the Write
        assert u.get(3) == 1 and u.get(1) == "coap://fw.example:5699/fw/img?v=2"
        assert net.starts == [("coap://fw.example:5699/fw/img?v=2", 0, ("fw.example", 5699, "r"))]
        saves = store.saves
        net.serve(100, clk.now, end=False)  # connection lost after 100 blocks
        assert u.get(3) == 1 and u.get(5) == 0 and u.offset == 100 * K
        assert store.load("fw")["offset"] == 100 * K and store.saves == saves + 1
        assert u.tick(clk.now) == 2000  # back-off with zero jitter
        assert u.tick(clk.advance(1999)) == 1 and len(net.starts) == 1
        assert u.tick(clk.advance(1)) is None
        assert net.starts[-1][1] == 100  # resumes at the next block
        net.serve(10000, clk.now)
        # the last response's receive only marks it complete: the check waits for the tick
        # that follows it (the runner's timers), when that datagram is no longer held
        assert u.get(3) == 1 and ("finish",) not in st.calls and u.tick(clk.now) is None
        assert (u.get(3), u.get(5)) == (2, 0) and st.data == img
        assert u.reports == [3, 3, 6, 7] and u.tick(clk.now) is None
    finally:
        _rmtree(store.root)


def test_pull_checked_in_the_tick_with_the_download_modules_gone():
    """The package check (storage.finish, a bundle's read-back) was a pull's heap peak while it
    ran inside the last response's receive: it runs in the next tick, after lwm2m.fwpull and
    coap.transfer were dropped. Fails if done() finishes at once or the modules stay."""
    import sys

    net = FakeNet(_pkg(_image(8 * K), "p", "1"))
    u, st, store = _make(download=net)
    seen = []
    fin = st.finish
    st.finish = lambda: seen.append(
        [m for m in ("lwm2m.fwpull", "coap.transfer") if m in sys.modules]) or fin()
    try:
        u.write_uri("coap://h/f", 0)
        u.tick(0)  # the first attempt: the tick after the Write
        assert "lwm2m.fwpull" in sys.modules
        net.serve(100, 5)
        assert u.get(3) == 1 and seen == [] and u.tick(5) is None
        assert seen == [[]] and u.get(3) == 2
        u.write_uri("coap://h/g", 6)  # a new pull after a complete one starts, not finishes
        u.tick(6)  # the first attempt: the tick after the Write
        assert u.get(3) == 1 and net.starts[-1][:2] == ("coap://h/g", 0) and seen == [[]]
    finally:
        _rmtree(store.root)


def test_pull_sink_adds_no_heap_to_a_block():
    """The pull's sink runs around every block's write (inside the response's receive): it adds
    no heap to what fu._take itself holds there. Its frame stays on the C stack (MicroPython puts
    a frame of more than 11 slots of locals and stack on the heap: 80 B per block on a board) and
    a block it takes whole goes on as it came (a memoryview of it: 16 B). MicroPython only."""
    import gc

    if not hasattr(gc, "mem_alloc"):
        return  # CPython's frames and objects are another matter
    net = FakeNet(_image(8 * K))
    u, st, store = _make(download=net)
    try:
        u.write_uri("coap://h/f", 0)
        u.tick(0)  # the first attempt: the tick after the Write
        sink = net.live[1]
        at = [0]

        def write(data):
            gc.collect()
            at[0] = gc.mem_alloc()

        st.write = write
        data = memoryview(bytearray(K))
        for _ in range(3):  # the first takes the header path
            gc.collect()
            base = gc.mem_alloc()
            u._take(data)
            direct = at[0] - base
            gc.collect()
            base = gc.mem_alloc()
            sink(u.offset, data)
        assert at[0] - base - direct < 16, (at[0] - base, direct)  # < one GC block
    finally:
        _rmtree(store.root)


def test_pull_stale_attempt_callbacks_are_ignored():
    """An attempt's callbacks after a newer one started (a downloader without cancel): its blocks
    are refused, its end changes nothing."""
    net = FakeNet(_image(8 * K))
    clk = FakeClock()
    u, st, store = _make(download=net, rand=lambda n: 250)
    try:
        u.write_uri("coap://h/f", clk.now)
        u.tick(clk.now)  # the first attempt: the tick after the Write
        old_sink, old_done = net.live[1], net.live[2]
        net.serve(2, clk.now, end=False)  # lost after 2 blocks
        clk.advance(u.tick(clk.now))
        u.tick(clk.now)  # the next attempt
        assert len(net.starts) == 2 and u.offset == 2 * K
        raises(ValueError, old_sink, 2 * K, memoryview(bytes(K)))
        old_done(0x45, clk.now)
        old_done(None, clk.now)
        assert u.offset == 2 * K and u.get(3) == 1 and u._handle is net and u._at == 2 * K
        assert u.tick(clk.now) is None and len(net.starts) == 2  # no back-off started
        net.serve(10000, clk.now)
        u.tick(clk.now)
        assert u.get(3) == 2 and st.data == _image(8 * K)
    finally:
        _rmtree(store.root)


def test_pull_resume_when_server_shrank_blocks():
    img = _image(40 * K + 100)
    net = FakeNet(bytes(img), szx=5)  # the server answers with 512-byte blocks
    clk = FakeClock()
    u, st, store = _make(download=net, rand=lambda n: 250)
    try:
        u.write_uri("coap://[::1]/a%20b", clk.now)
        u.tick(clk.now)  # the first attempt: the tick after the Write
        net.serve(21, clk.now, end=False)  # 10.5 of our 1024-byte blocks
        clk.advance(u.tick(clk.now))
        u.tick(clk.now)
        assert net.starts[-1][1] == 10  # asks for block 10 of 1024 ...
        net.live[0] = 10 * K  # ... and the server starts there again in 512s
        net.serve(10000, clk.now)
        u.tick(clk.now)  # checks the complete package
        assert u.get(3) == 2 and st.data == img  # the overlap was skipped, not written twice
    finally:
        _rmtree(store.root)


def test_pull_repeated_failures_result_4():
    net = FakeNet(_image(8 * K))
    clk = FakeClock()
    u, st, store = _make(download=net, rand=lambda n: 250, tries=3)
    try:
        u.write_uri("coap://h/f", clk.now)
        u.tick(clk.now)  # the first attempt: the tick after the Write
        net.serve(0, clk.now, end=False)
        assert u.tick(clk.now) == 2000
        clk.advance(2000)
        u.tick(clk.now)
        net.serve(0, clk.now, end=False)
        assert u.tick(clk.now) == 4000  # doubled
        clk.advance(4000)
        u.tick(clk.now)
        net.serve(0, clk.now, end=False)
        assert (u.get(3), u.get(5)) == (0, 4) and u.tick(clk.now) is None
        assert len(net.starts) == 3 and st.calls[-1] == ("abort",)
    finally:
        _rmtree(store.root)


def test_pull_progress_resets_failure_count_and_cancel():
    net = FakeNet(_image(20 * K))
    clk = FakeClock()
    u, st, store = _make(download=net, rand=lambda n: 250, tries=2)
    try:
        u.write_uri("coap://h/f", clk.now)
        u.tick(clk.now)  # the first attempt: the tick after the Write
        for _ in range(4):  # each attempt gets somewhere: never gives up
            net.serve(2, clk.now, end=False)
            clk.advance(u.tick(clk.now))
            u.tick(clk.now)
        assert u.get(3) == 1 and net.starts[-1][1] == 8
        raises(MethodNotAllowed, u.write_uri, "coap://h/other", clk.now)
        u.write_uri("", clk.now)  # cancel: the live transfer is dropped
        assert (u.get(3), u.get(5)) == (0, 0) and net.live[3] and u.get(1) == ""
        assert u.tick(clk.now) is None
    finally:
        _rmtree(store.root)


def test_pull_4xx_is_invalid_uri_and_dns_failure_retries():
    net = FakeNet(b"")
    u, st, store = _make(download=net)
    try:
        u.write_uri("coap://h/missing", 0)
        u.tick(0)  # the first attempt: the tick after the Write
        net.live[2](0x84, 0)  # 4.04
        assert (u.get(3), u.get(5)) == (0, 7)

        def bad_resolve(h, p):
            raise OSError(-2)

        u2, st2, store2 = _make(download=net, resolve=bad_resolve, rand=lambda n: 250, tries=2)
        u2.write_uri("coap://nowhere/x", 0)
        assert u2.get(3) == 1 and u2.tick(0) == 2000
        u2.tick(2000)
        assert (u2.get(3), u2.get(5)) == (0, 4)
        _rmtree(store2.root)
    finally:
        _rmtree(store.root)


def test_uri_errors_7_and_9_and_protocol_support():
    net = FakeNet(b"x")
    u, st, store = _make(download=net)
    try:
        for bad in ("coap//h/x", "coap://", "coap://h:99999/x", "coap://h:12a/", "ftp://h/x",
                    "coap://[::1/x", "coap://h/x#frag", "coap://h/%zz", "coap://h/" + "a" * 260):
            u.write_uri(bad, 0)
            assert (u.get(3), u.get(5)) == (0, 7), bad
        for bad in ("http://h/x", "https://h/x", "coaps://h/x"):
            u.write_uri(bad, 0)
            assert (u.get(3), u.get(5)) == (0, 9), bad
        assert net.starts == [] and u.get(8) == {0: 0} and u.get(9) == 2
        raises(NotFound, u.get, 4)
        # a coaps:// pull goes ahead only where the peer is behind a DTLS session
        u2, st2, store2 = _make(download=net, coaps=True, secure=lambda peer: True)
        assert u2.get(8) == {0: 0, 1: 1}
        u2.write_uri("coaps://h/x", 0)
        u2.tick(0)  # the first attempt: the tick after the Write
        assert u2.get(3) == 1 and net.starts[-1][1] == 0
        _rmtree(store2.root)
    finally:
        _rmtree(store.root)


def test_parse_uri():
    assert fwuri.parse_uri("coap://h/a/b?x=1&y") == ("coap", "h", 5683, ["a", "b"], ["x=1", "y"])
    assert fwuri.parse_uri("coaps://[fe80::1]:7000/%41%20z") == (
        "coaps", "fe80::1", 7000, ["A z"], [])
    assert fwuri.parse_uri("COAP://10.0.0.1") == ("coap", "10.0.0.1", 5683, [], [])


def test_update_only_when_downloaded():
    net = FakeNet(_image(4 * K))
    u, st, store = _make(download=net)
    try:
        e = raises(MethodNotAllowed, u.execute_update, 0)
        assert e.code == 0x85
        u.write_uri("coap://h/f", 0)
        u.tick(0)  # the first attempt: the tick after the Write
        raises(MethodNotAllowed, u.execute_update, 0)
        net.serve(100, 0)
        u.tick(0)
        assert u.get(3) == 2
        u.execute_update(0)
        assert u.get(3) == 3 and ("apply",) in st.calls
        raises(MethodNotAllowed, u.execute_update, 0)
        raises(MethodNotAllowed, u.package_block, 0, b"x", True)
        raises(MethodNotAllowed, u.write_uri, "coap://h/g", 0)
        raises(MethodNotAllowed, u.write_uri, "", 0)
    finally:
        _rmtree(store.root)


def _starts_with(buf, data):
    """buf begins with data, compared 4 KB at a time: a 256 KB slice copy needs one contiguous
    block that a 2 MB heap after the rest of the suite does not always have."""
    mv = memoryview(buf)
    for i in range(0, len(data), 4096):
        if bytes(mv[i:i + 4096]) != data[i:i + 4096]:
            return False
    return len(buf) >= len(data)


def test_update_reboot_confirm_partition():
    RamPartition.confirms = 0
    part = RamPartition(size=512 * K)
    img = _image(256 * K)
    boots = []
    root = _root("p")
    u = fw.FwUpdate(PartitionStore(part), Store(root), reboot=lambda: boots.append(1))
    try:
        u.on_boot(0)
        assert (u.get(3), u.get(5)) == (0, 0)
        _push(u, _pkg(img, "esp-app", "3.1"))
        assert u.get(3) == 2 and _starts_with(part.data, img)
        u.execute_update(0)
        assert boots == [1] and part.boot and RamPartition.confirms == 0
        assert Store(root).load("fw")["state"] == 3
        # the reboot: a new process over the same store and partition
        reports = []
        u = fw.FwUpdate(PartitionStore(part), Store(root), report=reports.append)
        u.on_boot(0)
        assert (u.get(3), u.get(5), u.get(6), u.get(7)) == (3, 0, "esp-app", "3.1")
        assert RamPartition.confirms == 0
        u.on_registered(0)
        assert RamPartition.confirms == 1 and reports == [3, 5]
        assert (u.get(3), u.get(5), u.get(6), u.get(7)) == (0, 1, "esp-app", "3.1")
        u.on_registered(0)
        assert RamPartition.confirms == 1  # once per update, not per registration
        u = fw.FwUpdate(PartitionStore(part), Store(root))
        u.on_boot(0)
        assert (u.get(3), u.get(5), u.get(6), u.get(7)) == (0, 1, "esp-app", "3.1")
    finally:
        _rmtree(root)


def test_partition_image_survives_a_restart_in_downloaded():
    """A restart (power cut) between the download and Execute Update: the image is still in the
    OTA slot, and the record says Downloaded, so Update switches to it after a read-back
    matches; a slot changed since is result 8, with no switch. Before: the store's checked
    (length, digest) lived in RAM only, and every such Update failed (result 8)."""
    part = RamPartition(size=512 * K)
    img = _image(64 * K)
    root = _root("q")
    try:
        u = fw.FwUpdate(PartitionStore(part), Store(root))
        _push(u, _pkg(img, "esp-app", "4.0"))
        assert u.get(3) == 2
        boots = []
        u = fw.FwUpdate(PartitionStore(part), Store(root), reboot=lambda: boots.append(1))
        u.on_boot(0)
        assert (u.get(3), u.get(6)) == (2, "esp-app")
        u.execute_update(0)
        assert part.boot and boots == [1] and u.get(3) == 3
        # again, with the slot changed after the download: no switch, result 8
        part.boot = False
        u = fw.FwUpdate(PartitionStore(part), Store(root))
        u.on_boot(0)
        u.on_registered(0)
        _push(u, _pkg(img, "esp-app", "4.1"))
        part.data[100] ^= 0xFF
        u = fw.FwUpdate(PartitionStore(part), Store(root))
        u.on_boot(0)
        assert u.get(3) == 2
        u.execute_update(0)
        assert not part.boot and (u.get(3), u.get(5)) == (0, 8)
    finally:
        _rmtree(root)


def test_rollback_result_8_and_boot_mid_download():
    root = _root("r")
    try:
        u = fw.FwUpdate(FakeStorage(), Store(root))
        _push(u, _pkg(_image(K), "a", "1"))
        u.execute_update(0)
        st = FakeStorage()
        u = fw.FwUpdate(st, Store(root), rollback=lambda: True)
        u.on_boot(0)
        assert (u.get(3), u.get(5), u.get(6)) == (0, 8, "a")
        u.on_registered(0)
        assert u.get(5) == 8 and ("confirm",) not in st.calls
        # power lost while downloading: nothing to resume from, connection lost
        u.package_block(0, b"x" * K, False)
        u = fw.FwUpdate(FakeStorage(), Store(root))
        u.on_boot(0)
        assert (u.get(3), u.get(5)) == (0, 4)
    finally:
        _rmtree(root)


def test_bundle_store_apply_confirm_and_rollback():
    root = _root("b")
    app = root + "/app"
    stage = root + "/stage"
    os.mkdir(root)
    os.mkdir(app)
    with open(app + "/main.py", "w") as f:
        f.write("old")

    class Buf:
        def __init__(self):
            self.b = bytearray()

        def write(self, d):
            self.b.extend(d)

    try:
        for fail in (False, True):
            out = Buf()
            # a top-level file first: unpack_bundle creates dest itself
            write_bundle(out, [("main.py", b"new%d" % fail), ("lib/x.py", _image(3000))])
            u = fw.FwUpdate(BundleStore(stage), Store(root + "/db"))
            _push(u, _pkg(bytes(out.b), "bundle", "v%d" % fail), bs=512)
            assert u.get(3) == 2
            u.execute_update(0)
            assert boot_apply(stage, app) == "applied"
            with open(app + "/main.py") as f:
                assert f.read() == "new%d" % fail
            if fail:  # the new app never registers: the trial runs out and boot rolls back
                assert boot_apply(stage, app, max_boots=2) == "trial"
                assert boot_apply(stage, app, max_boots=2) == "rolledback"
            u = fw.FwUpdate(BundleStore(stage), Store(root + "/db"))
            u.on_boot(0)
            if fail:
                assert (u.get(3), u.get(5)) == (0, 8)
                with open(app + "/main.py") as f:
                    assert f.read() == "new0"
            else:
                assert u.get(3) == 3
                u.on_registered(0)
                assert (u.get(3), u.get(5), u.get(7)) == (0, 1, "v0")
    finally:
        _rmtree(root)


def test_confirm_false_means_not_applied():
    root = _root("c")
    try:
        u = fw.FwUpdate(FakeStorage(), Store(root))
        _push(u, b"img")
        u.execute_update(0)
        st = FakeStorage()
        st.confirm_ret = False
        u = fw.FwUpdate(st, Store(root), rollback=False)
        u.on_boot(0)
        u.on_registered(0)
        assert (u.get(3), u.get(5)) == (0, 8)
    finally:
        _rmtree(root)


def test_push_peak_memory_stays_small():
    img = _image(256 * K)
    st = FakeStorage(keep=False)
    heap_trace(True)
    u, st, store = _make(st)
    try:
        mv = memoryview(img)
        u.package_block(0, mv[:K], False)  # record and first state save before measuring
        st.base = heap_used()
        for off in range(K, len(img), K):
            u.package_block(off, mv[off:off + K], off + K == len(img))
        assert u.get(3) == 2 and st.writes == [K] * 256
        assert 0 < st.peak < 16 * K, st.peak  # measured under both interpreters (util.heap_used)
    finally:
        heap_trace(False)
        _rmtree(store.root)


def test_coap_download_builds_block2_get():
    from coap import msg as m

    calls = []

    class Ep:
        def download(self, msg, peer, now, sink, done, szx=6, start_block=0):
            calls.append((msg, peer, now, szx, start_block))
            return "h"

    dl = fwuri.coap_download(Ep(), szx=5)
    assert dl("coap://h:5700/fw/a%2Fb?x=1", 7, None, None, 99, None) == "h"
    msg, peer, now, szx, start = calls[0]
    assert msg.code == m.GET and msg.path() == ["fw", "a/b"] and msg.query() == ["x=1"]
    assert (peer, now, szx, start) == (("h", 5700), 99, 5, 7)
    dl("coap://h/x", 0, None, None, 1, "peer")
    assert calls[1][1] == "peer"


def test_apply_failure_8_and_out_of_ram_3():
    class Bad(FakeStorage):
        def apply(self):
            raise FwError(8)  # set_boot failed

        def write(self, data):
            if self.oom:
                raise MemoryError()
            FakeStorage.write(self, data)

    st = Bad()
    st.oom = False
    boots = []
    u, st, store = _make(st, reboot=lambda: boots.append(1))
    try:
        _push(u, b"i" * 3000)
        u.execute_update(0)
        assert (u.get(3), u.get(5)) == (0, 8) and boots == [] and u.reports == [3, 3, 3, 3, 5]
        st.oom = True
        raises(LwM2MError, u.package_block, 0, b"j" * K, False)
        assert (u.get(3), u.get(5)) == (0, 3)
    finally:
        _rmtree(store.root)


def test_fwpkg_helpers():
    # the engine reads what lwm2m.fwpkg writes: their copies of the header constants agree
    from lwm2m import fwhead

    assert fwhead._MAGIC == fwpkg.MAGIC
    raises(AttributeError, getattr, fw, "no_such_name")
    h = fwpkg.make_header(0x01020304, bytes(range(32)), "nm", "v1")
    assert len(h) == 128 and h[:12] == b"LWM2MFW1\x04\x03\x02\x01" and h[12:44] == bytes(range(32))
    assert h[44:86] == b"nm" + bytes(40) and h[86:] == b"v1" + bytes(40)
    raises(ValueError, fwpkg.make_header, 1, b"short")
    raises(ValueError, fwpkg.make_header, 1, bytes(32), "n" * 43)
    import sys

    # coaps only where DTLS works: MicroPython with coap.dtls and its tls module
    if sys.implementation.name != "micropython":
        assert fwuri.coaps_supported() is False
    s = fwpkg.MemStore()
    assert s.save("a", {"x": 1}) and not s.save("a", {"x": 1}) and s.load("a") == {"x": 1}
    s.remove("a")
    assert s.load("a") is None


def _dm_fw(fu):
    from lwm2m.dm import DM
    from lwm2m.model import Registry
    from lwm2m.objects import firmware

    reg = Registry()
    seen = []
    reg.listener = lambda oid, iid, rid: seen.append((oid, iid, rid))
    obj = firmware.make(reg, fu)
    return reg, DM(reg), obj, seen


def _req(code, path, payload=b"", cf=None, b1=None):
    from coap import msg as m

    r = m.Message(m.CON, code, 1, b"", payload).set_path(path)
    if cf is not None:
        r.add(m.CONTENT_FORMAT, cf)
    if b1 is not None:
        r.add(m.BLOCK1, b1)
    return r


def test_object_is_the_engine_through_dm():
    from coap import msg as m

    boots = []
    u, st, store = _make(reboot=lambda: boots.append(1))
    try:
        reg, dm, obj, seen = _dm_fw(u)
        assert obj.fu is u and bytes(dm.handle(_req(m.GET, "/5/0/3"), 1).payload) == b"0"
        img = _image(3000)
        pkg = _pkg(img, "nm", "9.9")
        for off in range(0, len(pkg), 1024):
            more = off + 1024 < len(pkg)
            r = dm.handle(_req(m.PUT, "/5/0/0", pkg[off:off + 1024], 42,
                               m.block_value(off // 1024, more, 6)), 1)
            assert r.code == m.CHANGED
            assert u.get(3) == (1 if more else 2)
        assert bytes(st.data) == img  # header stripped, image streamed into storage
        assert u.reports == [3, 3, 6, 7]  # Idle->Downloading->Downloaded, then the names
        assert bytes(dm.handle(_req(m.GET, "/5/0/6"), 1).payload) == b"nm"
        assert bytes(dm.handle(_req(m.GET, "/5/0/7"), 1).payload) == b"9.9"
        assert bytes(dm.handle(_req(m.GET, "/5/0/9"), 1).payload) == b"2"
        # Protocol Support: CoAP only when the engine has no DTLS
        from lwm2m import parse, tlv

        r = dm.handle(_req(m.GET, "/5/0/8"), 1)
        assert r.code == m.CONTENT and parse.tlv_decode(bytes(r.payload))[0][0] == tlv.MULTI_RES
        assert dm.handle(_req(m.POST, "/5/0/2"), 1).code == m.CHANGED
        assert u.get(3) == 3 and boots == [1] and ("apply",) in st.calls
        assert dm.handle(_req(m.POST, "/5/0/2"), 1).code == m.METHOD_NOT_ALLOWED
        # a write while Updating: the engine's 4.05 is the response code
        assert dm.handle(_req(m.PUT, "/5/0/0", b"x", 42), 1).code == m.METHOD_NOT_ALLOWED
    finally:
        _rmtree(store.root)


def test_object_uri_write_and_errors_through_dm():
    from coap import msg as m

    calls = []
    u, st, store = _make(download=lambda *a: calls.append(a) or "h")
    try:
        reg, dm, obj, seen = _dm_fw(u)
        assert dm.handle(_req(m.PUT, "/5/0/1", b"coap://127.0.0.1:9/fw", 0), 1).code == m.CHANGED
        assert u.get(3) == 1 and not calls  # the GET goes in the tick after the Write
        u.tick(time.ticks_ms())
        assert calls and calls[0][0] == "coap://127.0.0.1:9/fw"
        assert bytes(dm.handle(_req(m.GET, "/5/0/1"), 1).payload) == b"coap://127.0.0.1:9/fw"
        # another URI while downloading: 4.05 from the engine; "" cancels to Idle
        assert dm.handle(_req(m.PUT, "/5/0/1", b"coap://h/x", 0), 1).code == \
            m.METHOD_NOT_ALLOWED
        assert dm.handle(_req(m.PUT, "/5/0/1", b"", 0), 1).code == m.CHANGED
        assert (u.get(3), u.get(5), u.get(1)) == (0, 0, "")
        assert dm.handle(_req(m.PUT, "/5/0/1", b"http://h/x", 0), 1).code == m.CHANGED
        assert (u.get(3), u.get(5)) == (0, 9)
        assert dm.handle(_req(m.PUT, "/5/0/1", b"coap://h:99999/x", 0), 1).code == m.CHANGED
        assert (u.get(3), u.get(5)) == (0, 7)
        # a block out of sequence: 4.00 from the engine
        assert dm.handle(_req(m.PUT, "/5/0/0", b"y" * 16, 42, m.block_value(3, True, 0)), 1).code \
            == m.BAD_REQUEST
    finally:
        _rmtree(store.root)


def test_default_object_without_a_board():
    from lwm2m.model import Registry
    from lwm2m.objects import firmware

    reg = Registry()
    seen = []
    reg.listener = lambda oid, iid, rid: seen.append((oid, iid, rid))
    o = firmware.make(reg)
    o._block(0, 0, b"abc", True)
    assert seen == [(5, 0, 3), (5, 0, 3)]  # reports go to the registry when none was given
    assert (o.state, o.result, o.fu.length) == (2, 0, 3)
    assert o.fu.sha256 == binascii.hexlify(hashlib.sha256(b"abc").digest()).decode()


class _FwClient:
    """What for_client() reads of a client: a platform whose fwstore() is a BundleStore under
    root/fw, a Store under root/db; the Device operations it asks for go to .ops."""
    ep = None
    rand = None

    def __init__(self, root):
        class Plat:
            def fwstore(self):
                return BundleStore(root + "/fw")

        self.platform = Plat()
        self.store = Store(root + "/db")
        self.ops = []

    def _x_device(self, name):
        self.ops.append(name)


def test_for_client_wiring():
    from lwm2m.objects import firmware

    root = _root("w")
    try:
        c = _FwClient(root)
        u = firmware.for_client(c)
        assert isinstance(u.storage, BundleStore) and u.store is c.store
        # Update reboots the Device reboot way (deferred: 2.04 first, then Deregister;
        # test_stand_in_drops_the_engine_when_idle runs it)
        assert u.client is c and getattr(u, "_reboot", None) is None and u.coaps is None
        c.platform = None
        assert isinstance(firmware.for_client(c).storage, fwpkg.SinkStorage)
    finally:
        _rmtree(root)


def test_for_client_loads_the_engine_on_first_use():
    """The engine (lwm2m.fwupdate, the board's fwstore) loads at the first /5 operation, or at
    boot when the store holds a transfer or an update under way; an idle record is restored."""
    from lwm2m.objects import firmware

    assert firmware.RECORD == fw.RECORD
    root = _root("lazy")
    os.mkdir(root)
    os.mkdir(root + "/db")

    class C:
        platform = None
        store = Store(root + "/db")
        ep = None
        rand = None

        def _x_device(self, name):
            pass

    try:
        c = C()
        u = firmware.for_client(c)
        u.on_boot(0)
        assert u._fu is None and u.tick(0) is None
        u.on_registered(0)
        assert u._fu is None
        assert u.get(3) == IDLE and u._fu is not None  # a read loads it
        # an idle record with a result: not loaded at boot, restored when it loads
        c.store.save(firmware.RECORD, {"state": IDLE, "result": R_SUCCESS, "pkg_name": "n"})
        u = firmware.for_client(c)
        u.on_boot(0)
        assert u._fu is None
        assert (u.get(5), u.get(6)) == (R_SUCCESS, "n")
        # a transfer cut by the reboot: loaded at boot, which settles it as a lost connection
        c.store.save(firmware.RECORD, {"state": DOWNLOADING, "result": R_INITIAL})
        u = firmware.for_client(c)
        u.on_boot(0)
        assert c.store.load(firmware.RECORD)["result"] == R_CONN_LOST  # the engine's on_boot
        assert u._fu is None  # then dropped: Idle, nothing to confirm
        assert (u.state, u.result) == (IDLE, R_CONN_LOST)
    finally:
        _rmtree(root)


def test_push_through_the_client_stand_in_never_loads_fwpkg():
    """lwm2m.fwuri and lwm2m.fwpull (URIs, the downloader, coaps detection) are for a pull and
    lwm2m.fwpkg for a TLV-wrapped push: a push of an opaque package, and the boot after it, do
    without them (7 KB of heap on a 32-bit board); /5/0/8 asks lwm2m.fwuri once."""
    import sys

    from lwm2m import unload
    from lwm2m.objects import firmware

    root = _root("nopkg")
    os.mkdir(root)
    os.mkdir(root + "/db")
    class Buf:
        b = bytearray()

        def write(self, d):
            self.b.extend(d)

    out = Buf()
    write_bundle(out, [("main.py", b"new"), ("lib/x.py", _image(3000))])
    pkg = _pkg(bytes(out.b))  # the header comes from lwm2m.fwpkg: made before it is dropped
    had = [m for m in ("fwpkg", "fwpull", "fwuri") if "lwm2m." + m in sys.modules]
    try:
        unload("fwpkg")
        unload("fwpull")
        unload("fwuri")
        u = firmware.for_client(_FwClient(root))
        u.on_boot(0)
        for off in range(0, len(pkg), K):
            u.package_block(off, pkg[off:off + K], off + K >= len(pkg))
        assert (u.get(3), u.get(5), u.get(6)) == (DOWNLOADED, R_INITIAL, "app")
        assert "lwm2m.fwpkg" not in sys.modules and "lwm2m.fwpull" not in sys.modules
        assert "lwm2m.fwuri" not in sys.modules
        assert u.get(8) in ({0: 0}, {0: 0, 1: 1})  # coaps where DTLS works (fwuri says)
        assert u.coaps is not None and "lwm2m.fwpull" not in sys.modules  # asked, then dropped
        assert "lwm2m.fwuri" not in sys.modules
        assert "lwm2m.fwpkg" not in sys.modules
    finally:
        for m in had:  # as the other tests found them
            __import__("lwm2m." + m)
        _rmtree(root)


def test_stand_in_drops_the_engine_when_idle():
    """The engine and the modules a transfer loaded leave the heap again once nothing is under
    way: after a cancelled push, once a package is staged (Downloaded: Execute Update loads it
    again) and after the post-update confirm on the next boot (an update executed keeps it). The
    record brings the values back."""
    import sys

    from lwm2m.objects import firmware

    root = _root("drop")
    os.mkdir(root)
    os.mkdir(root + "/db")

    class Plat:
        def fwstore(self):
            from board.bundle import BundleStore as B  # this run's module, loaded afresh

            return B(root + "/fw")

    class C:
        platform = Plat()
        store = Store(root + "/db")
        ep = None
        rand = None
        ops = []

        def _x_device(self, name):
            self.ops.append(name)

    out = []

    class Buf:
        def write(self, d):
            out.append(bytes(d))

    write_bundle(Buf(), [("main.py", b"new"), ("x.py", _image(5000))])
    pkg = _pkg(b"".join(out))
    mods = firmware._MODS
    saved = {}
    for m in mods:
        if m in sys.modules:
            saved[m] = sys.modules[m]

    def loaded():
        return [m for m in mods if m in sys.modules]

    def reboot():
        for m in loaded():
            sys.modules.pop(m)
            p, _, n = m.rpartition(".")
            sys.modules[p].__dict__.pop(n, None)

    heap_trace(True)
    rebuild_modules_table("lwm2m", "board")  # the engine's modules come and go (CPython)
    try:
        reboot()  # as on a board: none of the engine is loaded before the first block
        c = C()
        u = firmware.for_client(c)
        u.on_boot(0)
        base = None
        for _ in range(2):  # the second time round, with the interpreter's caches warm
            u._block(0, 0, pkg[:K], False)
            assert u._fu is not None and "lwm2m.fwupdate" in loaded()
            assert "board.bundle" in loaded()
            import coap.transfer  # noqa: F401 (what a pull's download loads: goes with it too)

            assert "coap.transfer" in loaded()
            loaded_heap = heap_used()
            u._block(0, 0, b"", True)  # an empty Package cancels: Idle, nothing under way
            assert u._fu is None and loaded() == [] and not hasattr(sys.modules["board"], "bundle")
            if base is not None:  # the engine's code went, and nothing of it piles up
                left = heap_used() - base
                assert left < K < loaded_heap - base - 4 * K, (left, loaded_heap - base)
            base = heap_used()
        for off in range(0, len(pkg), K):
            u._block(0, off, pkg[off:off + K], off + K >= len(pkg))
        assert u._fu is None and loaded() == []  # staged: the engine waits on flash
        assert u.get(3) == DOWNLOADED and u.get(6) == "app"  # the record's, on a Read
        u.tick(0)
        assert u._fu is None and loaded() == []
        u._update(b"")  # Execute Update loads the engine again
        assert u._fu is not None and u.state == UPDATING and c.ops == ["reboot"]
        reboot()
        boot_apply(root + "/fw", root + "/app")  # the bundle goes in on trial
        u = firmware.for_client(c)
        u.on_boot(0)
        assert u._fu is not None and u.pending  # Updating: loaded to confirm
        u.on_registered(0)
        assert u._fu is None and loaded() == []
        assert (u.get(3), u.get(5), u.get(6)) == (IDLE, R_SUCCESS, "app")
        u.tick(0)  # the Read loaded it: the next tick drops it again
        assert u._fu is None and loaded() == []
        # later Reads get what that Read got: no reload of the engine for each one
        assert (u.get(3), u.get(5), u.get(6)) == (IDLE, R_SUCCESS, "app")
        assert u._fu is None and loaded() == []
        # an operation forgets them: an empty Package resets the result (E.6), and a Read then
        # loads the engine again for the new value
        u._block(0, 0, b"", True)
        assert u._fu is None and loaded() == []
        assert u.get(5) == R_INITIAL and "lwm2m.fwupdate" in loaded()
        u.tick(0)
        assert u.get(5) == R_INITIAL and loaded() == []
    finally:
        heap_trace(False)
        for m in mods:
            sys.modules.pop(m, None)
            if m in saved:
                sys.modules[m] = saved[m]
                p, _, n = m.rpartition(".")
                setattr(sys.modules[p], n, saved[m])
        _rmtree(root)
