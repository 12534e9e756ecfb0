"""Board driver tests with fakes: battery math and smoothing, power source, firmware storage."""
# Over ~400 lines on purpose: every board driver's tests in one file, as they share the fake
# pins, ADC and partitions.
import binascii
import hashlib
import io
import os
import sys

from board import battery as bat
from board import fwfile, power
from board.battery import Battery, percent
from board.bundle import BundleStore
from board.fwboot import boot_apply, boot_rollback, write_bundle
from board.unpack import unpack_bundle
from board.fwstore import FwError
from board.partstore import PartitionStore
from board.host import REBOOT_EXIT, Platform
from board.hostsim import FakeADC, FakePin, RamPartition
from board.power import PowerSource
from util import raises


def _counts(mv, divider=3):
    # ADC count whose reading is mv through the divider (3300 mV full scale)
    return mv * 65535 // (3300 * divider)


def test_divider_exact():
    assert Battery(FakeADC(32768)).millivolts() == 4950  # 32768 * 9900 / 65535 = 4950.08
    assert Battery(FakeADC(25000)).millivolts() == 3777  # 3776.6 rounds up
    assert Battery(FakeADC(65535)).millivolts() == 9900
    assert Battery(FakeADC(0)).millivolts() == 0
    assert Battery(FakeADC(40000), divider=2.0).millivolts() == 4028  # 4028.38
    assert Battery(FakeADC(1000), divider=1.0, vref_mv=1100, full_scale=4095).millivolts() == 269


def test_curve_exact_and_not_linear():
    assert percent(3000) == 0
    assert percent(3300) == 0
    assert percent(3450) == 2  # 0 + 150 * 5 // 300
    assert percent(3690) == 10
    assert percent(3735) == 21
    assert percent(3777) == 32
    assert percent(3800) == 40  # a linear 3300-4200 scale would say 55
    assert percent(4200) == 100
    assert percent(4500) == 100
    curve = ((3000, 0), (4000, 100))
    assert percent(3500, curve) == 50
    assert Battery(FakeADC(25000)).level() == 32
    assert Battery(FakeADC(25000), curve=curve).level() == 77


def test_smoothing_keeps_noise_from_observers():
    base = _counts(3800)
    noise = [base + (199 if i % 2 else -199) for i in range(60)]  # about +-30 mV
    b = Battery(FakeADC(seq=noise + noise))
    got = []
    for _ in range(10):
        b.poll(got.append)
    assert got.count("voltage") <= 2  # the first reading was 30 mV off; the estimate settles
    got = []
    for _ in range(100):
        b.poll(got.append)
    assert got == []
    assert abs(b.millivolts() - 3800) <= 20 and b.level() in (39, 40, 41)
    # without smoothing or hysteresis the same noise reports on every sample
    raw = Battery(FakeADC(seq=noise), alpha=1, hyst_mv=0)
    spam = []
    for _ in range(60):
        raw.poll(spam.append)
    assert spam.count("voltage") == 59


def test_real_change_is_reported_and_settles():
    b = Battery(FakeADC(_counts(3950)))
    got = []
    b.poll(got.append)
    assert got == [] and b.level() == 70
    b._adc.value = _counts(3700)
    for _ in range(40):
        b.poll(got.append)
    assert 1 <= got.count("voltage") <= 10  # follows the step, not once per sample
    assert got.count("level") == got.count("voltage")
    # the reported value lags the average by less than the hysteresis band
    assert abs(b.millivolts() - 3700) < b.hyst_mv and b.level() == percent(b.millivolts())
    assert 10 <= b.level() <= 14
    n = len(got)
    for _ in range(20):
        b.poll(got.append)
    assert len(got) == n


def test_battery_status():
    b = Battery(FakeADC(_counts(3800)))
    assert b.status() == bat.UNKNOWN
    b.sample()
    assert b.status() == bat.NORMAL
    low = Battery(FakeADC(_counts(3650)))
    low.sample()
    assert low.status() == bat.LOW
    gone = Battery(FakeADC(100))
    gone.sample()
    assert gone.status() == bat.NOT_INSTALLED
    ext = [True]
    c = Battery(FakeADC(_counts(3800)), charging=lambda: ext[0])
    c.sample()
    assert c.status() == bat.CHARGING
    c2 = Battery(FakeADC(_counts(4250)), charging=lambda: ext[0])
    c2.sample()
    assert c2.status() == bat.CHARGE_COMPLETE
    ext[0] = False
    assert c.status() == bat.NORMAL
    got = []
    c.poll(got.append)
    ext[0] = True
    c.poll(got.append)
    assert got == ["status"]


def test_power_transitions_report_once():
    pin = FakePin(seq=[0, 1, 1, 1, 0, 1, 1, 0, 0, 0])
    b = Battery(FakeADC(_counts(3900)))
    ps = PowerSource(pin, b)
    got = []
    seen = []
    for _ in range(10):
        ps.poll(got.append)
        seen.append(ps.available())
    assert got == ["sources", "sources"]
    assert seen[0] == [1] and seen[2] == [5, 1] and seen[5] == [5, 1] and seen[8] == [1]
    assert ps.active() == power.INTERNAL_BATTERY
    assert ps.voltages() == [b.millivolts()] and ps.currents() == [0]
    usb = PowerSource(FakePin(1), b, debounce=1)
    assert usb.available() == [5, 1] and usb.active() == power.USB
    assert usb.voltages() == [5000, b.millivolts()]
    inv = PowerSource(FakePin(0), None, ext_code=power.DC, invert=True)
    assert inv.available() == [0]
    assert PowerSource().available() == [power.USB]  # no pin, no battery: always external
    assert PowerSource(ext_code=power.DC).available() == [0]
    assert PowerSource(battery=b).available() == [1]


def _image(n):
    out = bytearray(n)
    x = 12345
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = x >> 16 & 0xFF
    return out


def test_partition_store_streams_256k():
    n = 256 * 1024 - 1000
    img = _image(n)
    part = RamPartition(65 * 4096)
    st = PartitionStore(part)
    raises(FwError, st.write, b"x")
    st.begin(n)
    sizes = (1, 777, 4095, 4096, 4097, 13, 9000)
    i = k = 0
    mv = memoryview(img)
    while i < n:
        c = sizes[k % len(sizes)]
        st.write(mv[i:i + c])
        i += c
        k += 1
        assert st.offset == min(i, n)
    raises(FwError, st.apply)
    length, digest = st.finish()
    assert length == n
    assert digest == binascii.hexlify(hashlib.sha256(img).digest()).decode()
    assert hashlib.sha256(memoryview(part.data)[:n]).digest() == hashlib.sha256(img).digest()
    assert part.data[n:] == b"\xff" * (len(part.data) - n)
    assert part.erases == (n + 4095) // 4096  # one erase per sector, no rewrites
    assert not part.boot
    st.apply()
    assert part.boot
    before = RamPartition.confirms
    PartitionStore(part).confirm()
    assert RamPartition.confirms == before + 1


def test_partition_store_holds_no_sector_buffer():
    """The image goes to flash piece by piece (a sector erased as the image reaches it, then the
    extended writeblocks): neither the store nor a transfer under way holds a sector-sized
    buffer (4 KB of a 112 KB heap), and the image lands whole. Fails if a sector is buffered."""
    from util import heap_trace, heap_used

    part = RamPartition(64 * 1024)
    img = _image(3 * 4096 + 100)
    heap_trace(True)
    try:
        base = heap_used()
        st = PartitionStore(part)
        st.begin(len(img))
        for i in range(0, len(img), 1024):
            st.write(img[i:i + 1024])
        held = heap_used() - base
        assert held < 1024, held
    finally:
        heap_trace(False)
    assert st.finish()[0] == len(img) and bytes(part.data[:len(img)]) == img
    assert part.erases == 4  # one per sector the image reached


def test_partition_store_no_space_and_integrity():
    part = RamPartition(64 * 1024)
    st = PartitionStore(part)
    assert raises(FwError, st.begin, 64 * 1024 + 1).args[0] == 2  # no space
    st.begin(64 * 1024)
    st.begin()  # size unknown: the stream itself hits the limit
    st.write(b"\x00" * (60 * 1024))
    e = raises(FwError, st.write, b"\x00" * (5 * 1024))
    assert e.args[0] == 2
    st.abort()
    assert st.offset == 0

    class Flaky(RamPartition):
        def writeblocks(self, block_num, buf, offset=None):
            RamPartition.writeblocks(self, block_num, buf, offset)
            self.data[block_num * 4096 + 7] ^= 1

    st = PartitionStore(Flaky(64 * 1024))
    st.begin(5000)
    st.write(_image(5000))
    assert raises(FwError, st.finish).args[0] == 5


def _tmp():
    d = "/tmp/lwm2m_test_%s" % binascii.hexlify(os.urandom(6)).decode()
    os.mkdir(d)
    return d


def _tree(d, rel=""):
    out = {}
    for name in sorted(os.listdir(d)):
        p = d + "/" + name
        r = rel + name
        if os.stat(p)[0] & 0x4000:
            out.update(_tree(p, r + "/"))
        else:
            with open(p, "rb") as f:
                out[r] = f.read()
    return out


def _put(d, files):
    for rel, data in files.items():
        parts = rel.split("/")
        cur = d
        for c in parts[:-1]:
            cur += "/" + c
            try:
                os.mkdir(cur)
            except OSError:
                pass
        with open(d + "/" + rel, "wb") as f:
            f.write(data)


V1 = {"main.py": b"print('v1')\n", "lwm2m/a.py": b"A = 1\n"}
V2 = {"main.py": b"print('v2')\n", "lwm2m/a.py": b"A = 2\n", "lwm2m/new/b.py": b"\x00" * 1500}


def _bundle(files):
    out = io.BytesIO()
    write_bundle(out, sorted(files.items()))
    return out.getvalue()


def _stage(root, blob, chunk=333):
    st = BundleStore(root)
    st.begin(len(blob))
    for i in range(0, len(blob), chunk):
        st.write(blob[i:i + chunk])
    return st, st.finish()


def test_bundle_format_exact():
    blob = _bundle({"a/b.py": b"xy"})
    head = b"LWM2MBUNDLE 1\na/b.py\n2\nxy"
    assert blob == head + b"END " + binascii.hexlify(hashlib.sha256(head).digest()) + b"\n"


def _on_trial(root):
    """A newly applied app runs unconfirmed (BundleStore.pending() before it went)."""
    return "trial" in os.listdir(root)


def test_bundle_begin_aborts_unless_aborted_since_the_last_transfer():
    """BundleStore.begin's check (board.room) drops what is staged and makes the directories
    (board.stage's abort) for a new store or one with a finished transfer, and skips that after
    an abort, which the engine runs before every transfer: then only the room check loads at a
    transfer's first block. Fails if begin forgets a stale package or aborts twice."""
    d = _tmp()
    try:
        root = d + "/a/fw"
        st = BundleStore(root)
        calls = []
        ab = st.abort
        st.abort = lambda: calls.append(1) or ab()
        st.begin(10)  # a new store: its directories made by the abort
        assert calls == [1] and sorted(os.listdir(root)) == ["staged.part"]
        st.write(_bundle({"x.py": b"1"}))
        st.finish()
        assert sorted(os.listdir(root)) == ["staged.bundle"]
        st.begin(10)  # a finished transfer's package is dropped first
        assert calls == [1, 1] and sorted(os.listdir(root)) == ["staged.part"]
        st.abort()
        assert calls == [1, 1, 1] and os.listdir(root) == []
        st.begin(None)
        assert calls == [1, 1, 1] and sorted(os.listdir(root)) == ["staged.part"]
        assert "board.stage" not in sys.modules and "board.room" not in sys.modules
    finally:
        _rmtree(d)


def test_bundle_apply_trial_rollback():
    d = _tmp()
    try:
        root, app = d + "/fw", d + "/app"
        os.mkdir(app)
        _put(app, V1)
        assert boot_apply(root, app) == "none"
        blob = _bundle(V2)
        st, (length, digest) = _stage(root, blob)
        assert length == len(blob)
        # finish() loaded the checker for the check only: a staged package waits without it
        assert "board.unpack" not in sys.modules
        assert "board.stage" not in sys.modules and "board.room" not in sys.modules  # gone again
        assert digest == binascii.hexlify(hashlib.sha256(blob).digest()).decode()
        assert boot_apply(root, app) == "none"  # staged but not applied: nothing happens
        fwfile.apply(st)
        assert boot_apply(root, app, max_boots=3) == "applied"
        assert _tree(app) == V2 and _tree(root + "/prev") == V1
        assert _on_trial(root) and fwfile.boot_result(st) == "applied"
        assert sorted(os.listdir(root)) == ["prev", "result", "trial"]
        assert boot_apply(root, app, max_boots=3) == "trial"
        assert boot_apply(root, app, max_boots=3) == "trial"
        assert boot_apply(root, app, max_boots=3) == "rolledback"  # 4th boot, never confirmed
        assert _tree(app) == V1 and not _on_trial(root) and fwfile.boot_result(st) == "rolledback"
        assert sorted(os.listdir(root)) == ["result"]
        assert boot_apply(root, app) == "none"
        # again, and this time the new app registers and confirms
        st, _ = _stage(root, blob, chunk=4096)
        fwfile.apply(st)
        assert boot_apply(root, app) == "applied"
        assert fwfile.confirm(st) is True and not _on_trial(root)
        assert sorted(os.listdir(root)) == ["result"]
        for _ in range(5):
            assert boot_apply(root, app, max_boots=1) == "none"
        assert _tree(app) == V2
        assert boot_rollback(root, app) is False
    finally:
        _rmtree(d)


def test_bundle_interrupted_swaps_resume():
    d = _tmp()
    try:
        root, app = d + "/fw", d + "/app"
        os.mkdir(app)
        _put(app, V1)
        st, _ = _stage(root, _bundle(V2))
        fwfile.apply(st)
        # power cut after the journal, between the two renames: app dir is gone
        unpack_bundle(root + "/staged.bundle", root + "/new")
        open(root + "/swap", "w").close()
        os.rename(app, root + "/prev")
        assert boot_apply(root, app) == "applied"
        assert _tree(app) == V2 and _tree(root + "/prev") == V1
        # rollback cut after app -> bad: prev goes back on the next boot
        open(root + "/rollback", "w").close()
        os.rename(app, root + "/bad")
        assert boot_apply(root, app) == "rolledback"
        assert _tree(app) == V1 and sorted(os.listdir(root)) == ["result"]
    finally:
        _rmtree(d)


def test_bundle_rejects_bad_input():
    d = _tmp()
    try:
        root, app = d + "/fw", d + "/app"
        os.mkdir(app)
        _put(app, V1)
        blob = bytearray(_bundle(V2))
        blob[30] ^= 1
        st = BundleStore(root)
        st.begin()
        st.write(blob)
        assert raises(FwError, st.finish).args[0] == 5
        st.abort()
        raises(FwError, fwfile.apply, st)
        for bad in ({"../x.py": b"1"}, {"/etc/x": b"1"}, {"a//b": b"1"}):
            st.begin()
            st.write(_bundle(bad))
            assert raises(FwError, st.finish).args[0] == 5
            st.abort()
        # a name, or a trailer, that is not UTF-8: integrity (5) like any bad entry, not a
        # UnicodeError escaping the transfer's last block
        import binascii
        import hashlib

        for body, end in ((b"LWM2MBUNDLE 1\n\xff.py\n1\nx", None),
                          (b"LWM2MBUNDLE 1\na.py\n1\nx", b"END \xff\n")):
            if end is None:
                end = b"END " + binascii.hexlify(hashlib.sha256(body).digest()) + b"\n"
            st.begin()
            st.write(body + end)
            assert raises(FwError, st.finish).args[0] == 5
            st.abort()
        trunc = _bundle(V2)[:-10]
        st.begin()
        st.write(trunc)
        assert raises(FwError, st.finish).args[0] == 5
        st.abort()
        assert os.listdir(root) == []
        small = BundleStore(root, capacity=1000)
        assert raises(FwError, small.begin, 1001).args[0] == 2
        small.begin()
        assert raises(FwError, small.write, b"x" * 1001).args[0] == 2
        small.abort()
        # more than the disk holds
        assert raises(FwError, BundleStore(root).begin, 1 << 50).args[0] == 2
        # a staged bundle damaged after finish fails at boot and leaves the app alone
        st, _ = _stage(root, _bundle(V2))
        fwfile.apply(st)
        with open(root + "/staged.bundle", "r+b") as f:
            f.seek(20)
            f.write(b"!")
        assert boot_apply(root, app) == "failed"
        assert _tree(app) == V1 and fwfile.boot_result(st) == "failed"
        assert sorted(os.listdir(root)) == ["result"]
    finally:
        _rmtree(d)


def _rmtree(p):
    fwfile._rmtree(p)


def test_host_platform():
    wiped = []
    p = Platform(root="/tmp/x", factory_reset=lambda: wiped.append(1))
    assert p.manufacturer == "MicroPython"
    import sys

    assert p.model == sys.platform and p.serial
    v = sys.implementation.version
    assert p.firmware_version == "%s %d.%d.%d" % (sys.implementation.name, v[0], v[1], v[2])
    assert p.mem_total() >= p.mem_free() >= 0
    assert p.power.available() == [power.DC]  # no battery: DC, as PowerSource(ext_code=DC) says
    ps = PowerSource(ext_code=power.DC)
    assert p.power.voltages() == ps.voltages() == [5000] and p.power.currents() == ps.currents()
    assert isinstance(p.fwstore(), BundleStore) and p.wdt(1000) is None
    assert raises(SystemExit, p.reboot).args[0] == REBOOT_EXIT == 3
    assert raises(SystemExit, p.factory_reset).args[0] == 3 and wiped == [1]
    import board

    assert board.platform() is board.platform()
    assert type(board.platform()).__module__.endswith("host")


def test_fakes():
    a = FakeADC(5, seq=[1, 2])
    assert (a.read_u16(), a.read_u16(), a.read_u16()) == (1, 2, 2) and a.reads == 3
    pin = FakePin()
    pin.value(1)
    assert pin.value() == 1 and pin() == 1
    part = RamPartition(8192)
    assert part.ioctl(4, 0) == 2 and part.ioctl(5, 0) == 4096
    buf = bytearray(4096)
    part.writeblocks(1, b"\x0f" * 4096)
    part.writeblocks(1, b"\xf1", 0)  # programming without erase only clears bits
    part.readblocks(1, buf)
    assert buf[0] == 0x01 and buf[1] == 0x0F
    raises(OSError, part.writeblocks, 2, buf)


def test_unpack_creates_dest_for_a_top_level_first_entry():
    d = _tmp()
    try:
        files = {"main.py": b"print('top')\n", "lwm2m/a.py": b"A = 3\n"}
        with open(d + "/b.bundle", "wb") as f:
            write_bundle(f, [("main.py", files["main.py"]), ("lwm2m/a.py", files["lwm2m/a.py"])])
        # neither dest nor its parent exists yet: unpack makes both
        assert unpack_bundle(d + "/b.bundle", d + "/x/new") == 2
        assert _tree(d + "/x/new") == files
    finally:
        _rmtree(d)


def test_bundle_store_capacity_file():
    d = _tmp()
    try:
        root = d + "/fw"
        os.mkdir(root)
        with open(root + "/capacity", "w") as f:
            f.write("1000\n")
        st = BundleStore(root)
        assert st.capacity == 1000
        assert raises(FwError, st.begin, 1001).args[0] == 2
        st.begin(None)
        st.write(b"x" * 1000)
        assert raises(FwError, st.write, b"y").args[0] == 2
        st.abort()
        assert BundleStore(root, capacity=5).capacity == 5  # an explicit cap wins
        assert BundleStore(d + "/none").capacity is None
    finally:
        _rmtree(d)
