"""Store tests: round trips, no-op saves, corruption, and power cuts at every call and byte."""
import binascii
import os

from lwm2m import store as storemod
from lwm2m.store import Store


class PowerCut(Exception):
    """Not an OSError, so nothing in the store can swallow it."""


class _File:
    def __init__(self, fs, path, mode):
        self.fs = fs
        self.path = path
        self.mode = mode
        self.buf = bytearray()  # written but not flushed: a power cut may drop it
        self.pos = 0
        self.closed = False

    def write(self, data):
        fs = self.fs
        fs._spend()
        room = len(data) if fs.fuse is None else fs.fuse - fs.ticks
        if room < len(data):
            self.buf += data[:room]
            fs.ticks = fs.fuse
            fs._die()
        self.buf += data
        fs.ticks += len(data)
        return len(data)

    def read(self, n=-1):
        data = self.fs.files[self.path]
        if n < 0:
            n = len(data) - self.pos
        out = data[self.pos:self.pos + n]
        self.pos += len(out)
        return out

    def flush(self):
        if "w" in self.mode:
            self.fs._spend()
            self.fs.files[self.path] = self.fs.files[self.path] + bytes(self.buf)
            self.buf = bytearray()

    def close(self):
        if self.closed:
            return
        if "w" in self.mode:
            self.flush()
            self.fs._open.remove(self)
        self.closed = True


class FakeFs:
    """In-RAM filesystem with a fuse: the call or byte at tick `fuse` never happens.

    Every mutating call (open for write, write, flush, close, rename, remove, mkdir, sync) costs
    one tick and every written byte one more. replace=False models FAT, whose rename refuses to
    overwrite an existing file.
    """

    def __init__(self, files=None, replace=True):
        self.files = dict(files or {})
        self.dirs = set()
        self.replace = replace
        self.fuse = None
        self.ticks = 0
        self.dead = False
        self._open = []

    def _die(self):
        self.dead = True
        raise PowerCut()

    def _spend(self):
        if self.dead or (self.fuse is not None and self.ticks >= self.fuse):
            self._die()
        self.ticks += 1

    def survivors(self, keep_unflushed):
        """The files a reboot finds; keep_unflushed=True keeps torn unflushed tails too."""
        files = dict(self.files)
        if keep_unflushed:
            for f in self._open:
                files[f.path] = files[f.path] + bytes(f.buf)
        out = FakeFs(files, self.replace)
        out.dirs = set(self.dirs)
        return out

    def open(self, path, mode):
        if "w" in mode:
            self._spend()
            self.files[path] = b""
            f = _File(self, path, mode)
            self._open.append(f)
            return f
        if path not in self.files:
            raise OSError(2)
        return _File(self, path, mode)

    def rename(self, a, b):
        self._spend()
        if a not in self.files or (b in self.files and not self.replace):
            raise OSError(17)
        self.files[b] = self.files.pop(a)

    def remove(self, path):
        self._spend()
        if path not in self.files:
            raise OSError(2)
        del self.files[path]

    def listdir(self, path):
        p = path + "/"
        return [k[len(p):] for k in self.files if k.startswith(p)]

    def stat(self, path):
        if path in self.files:
            return (0x8000, 0, 0, 0, 0, 0, len(self.files[path]), 0, 0, 0)
        raise OSError(2)

    def mkdir(self, path):
        self._spend()
        if path in self.dirs:
            raise OSError(17)
        self.dirs.add(path)

    def sync(self):
        self._spend()


def _same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(k in b and _same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


OLD = {"uri": "coap://a", "lt": 300, "psk": b"\x01\x02"}
NEW = {"uri": "coaps://bb", "lt": 86400, "psk": b"\xff", 7: [True, None, 1.5]}


def test_round_trip_types():
    s = Store("/s", FakeFs())
    v = {"a": [1, 2.5, "x", None, True, False], "b": b"\x00\xfe", 3: {"$b": "not bytes"},
         "n": {"k": (1, 2)}}
    assert s.save("obj", v)
    got = Store("/s", s.fs).load("obj")
    assert got == {"a": [1, 2.5, "x", None, True, False], "b": b"\x00\xfe",
                   3: {"$b": "not bytes"}, "n": {"k": [1, 2]}}
    assert type(got["b"]) is bytes and got["a"][4] is True
    for v in (0, -5, "s", None, [], b"", 1.25, True):
        s.save("x", v)
        assert _same(Store("/s", s.fs).load("x"), v)


def test_record_layout_is_exact():
    fs = FakeFs()
    Store("/s", fs).save("r", [1])
    payload = b"[1]"
    crc = binascii.crc32(payload) & 0xFFFFFFFF
    assert fs.files["/s/r.rec"] == (b"LWMR\x01\x03\x00\x00\x00" + bytes(
        (crc & 255, (crc >> 8) & 255, (crc >> 16) & 255, crc >> 24)) + payload)
    assert "/s/r.tmp" not in fs.files


def test_unchanged_save_writes_nothing():
    fs = FakeFs()
    s = Store("/s", fs)
    assert s.save("a", {"x": 1, "b": b"1"}) is True
    t = fs.ticks
    assert s.save("a", {"x": 1, "b": b"1"}) is False
    assert fs.ticks == t
    # same == but different type is a change: True == 1 must not be skipped
    assert s.save("a", {"x": True, "b": b"1"}) is True
    assert s.load("a")["x"] is True


def test_missing_and_corrupt():
    fs = FakeFs()
    s = Store("/s", fs)
    assert s.load("nope") is None and s.last_error == storemod.MISSING
    s.save("a", "hello")
    good = fs.files["/s/a.rec"]
    for i in range(len(good)):  # every single-byte flip is detected
        bad = bytearray(good)
        bad[i] ^= 0x20
        fs.files["/s/a.rec"] = bytes(bad)
        assert s.load("a") is None, i
        assert s.last_error == storemod.CORRUPT
    for n in range(len(good)):  # and every truncation
        fs.files["/s/a.rec"] = good[:n]
        assert s.load("a") is None and s.last_error == storemod.CORRUPT
    fs.files["/s/a.rec"] = good + b"\x00"
    assert s.load("a") is None
    # huge claimed length is corrupt, not a MemoryError
    fs.files["/s/a.rec"] = b"LWMR\x01\xff\xff\xff\x7f" + good[9:]
    assert s.load("a") is None and s.last_error == storemod.CORRUPT
    fs.files["/s/a.rec"] = good
    assert s.load("a") == "hello" and s.last_error is None


def test_remove_wipe_names():
    fs = FakeFs()
    s = Store("/s", fs)
    s.save("a", 1)
    s.save("b", 2)
    s.save("c", 3)
    fs.files["/s/junk.txt"] = b"x"
    assert s.names() == ["a", "b", "c"]
    s.remove("b")
    s.remove("b")
    assert s.names() == ["a", "c"] and s.load("b") is None
    s.wipe()
    assert s.names() == [] and s.load("a") is None
    assert "/s/junk.txt" in fs.files


def test_bad_names_and_values():
    s = Store("/s", FakeFs())
    for n in ("", "../x", "a/b", "a.b"):
        try:
            s.save(n, 1)
        except ValueError:
            continue
        raise AssertionError(n)
    try:
        s.save("x", {1.5: 2})
    except TypeError:
        pass
    else:
        raise AssertionError("float key accepted")


def test_real_filesystem_round_trip():
    root = "/tmp/lwm2m_store_%d" % (binascii.crc32(os.urandom(8)) & 0xFFFFFF)
    s = Store(root)
    try:
        assert s.save("sec", {"k": b"\x00\x01", 1: "x"})
        assert s.save("sec", {"k": b"\x02"})
        assert Store(root).load("sec") == {"k": b"\x02"}
        assert s.save("sec", {"k": b"\x02"}) is False
        assert sorted(os.listdir(root)) == ["sec.rec"]
    finally:
        s.wipe()
        os.rmdir(root)


def _cut_everywhere(old, new, keep, replace, nested=False):
    base = FakeFs(replace=replace)
    if old is not None:
        Store("/s", base).save("cfg", old)
    probe = base.survivors(False)
    Store("/s", probe).save("cfg", new)
    total = probe.ticks
    seen_old = seen_new = 0
    for fuse in range(total + 1):
        fs = base.survivors(False)
        fs.fuse = fuse
        try:
            Store("/s", fs).save("cfg", new)
            assert fuse == total
        except PowerCut:
            assert fuse < total
        after = fs.survivors(keep)
        st = Store("/s", after)
        v = st.load("cfg")
        if _same(v, new):
            seen_new += 1
        else:
            assert _same(v, old), (fuse, keep, replace, v, after.files)
            seen_old += 1
        assert _same(Store("/s", after).load("cfg"), v)  # stable across reboots
        if nested:
            # a second cut anywhere in the next save, starting from this survivor state
            probe2 = after.survivors(True)
            Store("/s", probe2).save("cfg", "third")
            for fuse2 in range(probe2.ticks + 1):
                fs2 = after.survivors(True)
                fs2.fuse = fuse2
                try:
                    Store("/s", fs2).save("cfg", "third")
                except PowerCut:
                    pass
                v2 = Store("/s", fs2.survivors(keep)).load("cfg")
                assert v2 == "third" or _same(v2, v), (fuse, fuse2, v2)
        else:
            assert st.save("cfg", "next") is True and Store("/s", after).load("cfg") == "next"
    assert seen_old and seen_new
    return total


def test_power_cut_every_call_and_byte():
    total = 0
    for keep in (False, True):
        for replace in (True, False):
            total += _cut_everywhere(OLD, NEW, keep, replace)
    assert total > 4 * 60  # every byte of the record was a cut point


def test_power_cut_first_save():
    for keep in (False, True):
        _cut_everywhere(None, NEW, keep, True)


def test_power_cut_twice_fat():
    # FAT-style rename leaves a lone .tmp window; a second cut right after must not lose it
    _cut_everywhere("a", "b", False, False, nested=True)
    _cut_everywhere("a", "b", True, True, nested=True)
