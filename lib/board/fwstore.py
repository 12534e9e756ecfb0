"""Firmware-update storage: ESP32 OTA partition or a staged application bundle, one interface.

Both backends: begin(total_size=None), write(data) streamed, offset, finish() -> (length,
sha256_hex), abort(), apply() (boot the new image next), confirm() (after the first successful
registration of the new image). The caller persists the Firmware Update object state.

Bundle format (BundleStore), all lines ASCII and ending in a single b"\\n":
    LWM2MBUNDLE 1
    <path relative to the app directory, '/'-separated, no '..'>
    <decimal byte length>
    <exactly that many bytes>
    ... more path/length/bytes entries ...
    END <lowercase hex SHA-256 of every byte before this trailer line>
Nothing may follow the trailer. Paths are relative to app_dir, which boot.py makes "lib" (the
whole application; boot.py and main.py are small launchers that no update replaces, so a swap is
one directory rename). boot.py calls boot_apply(root, app_dir) at every boot: a staged
bundle marked by apply() is unpacked into <root>/new, then swapped in with renames (the old app
dir becomes <root>/prev), journalled so a power cut at any point resumes on the next boot. The new
app runs on trial: each boot counts in <root>/trial, and after max_boots boots without confirm()
boot_rollback() puts <root>/prev back. The outcome ("applied", "rolledback", "failed") is left in
<root>/result for the application to report.
"""
import binascii
import hashlib
import os


class FwError(Exception):
    result = 8  # /5/0/5 Firmware update failed


class NoSpace(FwError):
    result = 2


class IntegrityError(FwError):
    result = 5


_MAGIC = b"LWM2MBUNDLE 1\n"


def _hex(h):
    return binascii.hexlify(h.digest()).decode()


class NoStore:
    """No room for an image at all (stock ESP32_GENERIC has no OTA slot): /5 says "not
    supported" and every package is refused for space (result 2)."""

    none = True
    offset = 0

    def begin(self, total_size=None):
        raise NoSpace("no OTA partition in this firmware")

    def write(self, data):
        raise NoSpace("no OTA partition in this firmware")

    def finish(self):
        raise NoSpace("no OTA partition in this firmware")

    def abort(self):
        pass

    def apply(self):
        raise FwError("no OTA partition in this firmware")

    def confirm(self):
        return False


class PartitionStore:
    """Streams an app image into an esp32.Partition-like object (the next OTA slot).

    record: a file that keeps the label apply() switched to, and running: a callable giving the
    running partition's label (Partition(RUNNING).info()[4]). The bootloader silently boots the
    old slot when the new image fails before confirm(), and mark_app_valid_cancel_rollback()
    succeeds on either, so boot_result() compares the two to tell a rollback from a success."""

    def __init__(self, part, record=None, running=None):
        self._part = part
        self._record = record
        self._running = running
        self._buf = bytearray(4096)  # one flash sector; the only buffer a transfer needs
        self._sha = None
        self._off = 0
        self._fill = 0
        self._block = 0
        self._cap = 0
        self._done = None

    @property
    def offset(self):
        return self._off

    def capacity(self):
        p = self._part
        return p.ioctl(4, 0) * p.ioctl(5, 0)

    def begin(self, total_size=None):
        bs = self._part.ioctl(5, 0)
        if bs != len(self._buf):
            self._buf = bytearray(bs)
        self._cap = self.capacity()
        if total_size is not None and total_size > self._cap:
            raise NoSpace("image %d > partition %d" % (total_size, self._cap))
        self._sha = hashlib.sha256()
        self._off = self._fill = self._block = 0
        self._done = None

    def write(self, data):
        if self._sha is None:
            raise FwError("write before begin")
        n = len(data)
        if self._off + n > self._cap:
            raise NoSpace("image exceeds partition")
        buf = self._buf
        bs = len(buf)
        mv = memoryview(data)
        i = 0
        while i < n:
            k = min(bs - self._fill, n - i)
            buf[self._fill:self._fill + k] = mv[i:i + k]
            self._fill += k
            i += k
            if self._fill == bs:
                self._part.writeblocks(self._block, buf)  # 2-arg form erases the sector first
                self._block += 1
                self._fill = 0
        self._sha.update(data)
        self._off += n

    def finish(self):
        """Flush the last block, read the image back and check it; returns (length, sha256 hex)."""
        if self._sha is None:
            raise FwError("finish before begin")
        buf = self._buf
        bs = len(buf)
        if self._fill:
            for j in range(self._fill, bs):
                buf[j] = 0xFF
            self._part.writeblocks(self._block, buf)
        digest = _hex(self._sha)
        self._sha = None
        h = hashlib.sha256()
        left = self._off
        b = 0
        mv = memoryview(buf)
        while left > 0:
            self._part.readblocks(b, buf)
            h.update(mv[:min(bs, left)])
            left -= bs
            b += 1
        if _hex(h) != digest:
            raise IntegrityError("read-back mismatch")
        self._done = (self._off, digest)
        return self._done

    def abort(self):
        self._sha = None
        self._done = None
        self._off = self._fill = self._block = 0

    def apply(self):
        if self._done is None:
            raise FwError("apply before finish")
        if self._record is not None:
            _makedirs(self._record.rpartition("/")[0])
            _write(self._record, self._part.info()[4])  # before set_boot: a cut leaves no switch
        self._part.set_boot()

    def boot_result(self):
        """'applied' when the slot apply() chose runs, 'rolledback' when the bootloader went
        back to the old one, None when nothing was applied (or it cannot tell)."""
        want = _read(self._record) if self._record is not None else None
        if not want or self._running is None:
            return None
        return "applied" if self._running() == want else "rolledback"

    def confirm(self):
        # Until this runs, the ESP-IDF bootloader rolls back to the old slot on the next reset.
        self._part.mark_app_valid_cancel_rollback()
        if self._record is not None:
            _remove(self._record)


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _isdir(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False


def _remove(p):
    try:
        os.remove(p)
    except OSError:
        pass


def _rmtree(p):
    if not _isdir(p):
        _remove(p)
        return
    for name in os.listdir(p):
        _rmtree(p + "/" + name)
    os.rmdir(p)


def _makedirs(p):
    part = ""
    for c in p.split("/"):
        part = part + "/" + c if part or p[:1] == "/" else c
        if c and not _isdir(part):
            os.mkdir(part)


def _write(path, text):
    # Small state files: written beside and renamed over, so a cut leaves old or new.
    with open(path + ".t", "w") as f:
        f.write(text)
    os.rename(path + ".t", path)


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _touch(path):
    open(path, "w").close()


def write_bundle(out, items):
    """Write a bundle of (path, bytes) items to out (has write); returns the trailer SHA-256."""
    h = hashlib.sha256(_MAGIC)
    out.write(_MAGIC)
    for path, data in items:
        head = ("%s\n%d\n" % (path, len(data))).encode()
        out.write(head)
        out.write(data)
        h.update(head)
        h.update(data)
    digest = _hex(h)
    out.write(("END %s\n" % digest).encode())
    return digest


def _good_path(p):
    if not p or p[0] == "/" or "\\" in p:
        return False
    for c in p.split("/"):
        if c in ("", ".", ".."):
            return False
    return True


def unpack_bundle(path, dest=None):
    """Check a bundle file; with dest, also extract it there. Returns the file count."""
    buf = bytearray(512)
    mv = memoryview(buf)
    h = hashlib.sha256()
    count = 0
    with open(path, "rb") as f:
        line = f.readline(64)
        if line != _MAGIC:
            raise IntegrityError("not a bundle")
        h.update(line)
        while True:
            line = f.readline(256)
            if line[:4] == b"END " and line[-1:] == b"\n":
                if line[4:-1].decode() != _hex(h) or f.read(1):
                    raise IntegrityError("bundle checksum")
                return count
            name = line[:-1].decode() if line[-1:] == b"\n" else ""
            size = f.readline(16)
            if not _good_path(name) or size[-1:] != b"\n" or not size[:-1].isdigit():
                raise IntegrityError("bundle entry")
            h.update(line)
            h.update(size)
            left = int(size)
            out = None
            if dest is not None:
                _makedirs((dest + "/" + name).rpartition("/")[0])  # dest itself too
                out = open(dest + "/" + name, "wb")
            try:
                while left:
                    n = f.readinto(mv[:min(left, len(buf))])
                    if not n:
                        raise IntegrityError("bundle truncated")
                    h.update(mv[:n])
                    if out:
                        out.write(mv[:n])
                    left -= n
            finally:
                if out:
                    out.close()
            count += 1


class BundleStore:
    """Stages an application bundle under root for boot_apply(); capacity caps its size."""

    def __init__(self, root, capacity=None, reserve=16384):
        self.root = root
        if capacity is None:
            # a <root>/capacity file (decimal bytes) caps it too: a knob for simulated boards
            c = _read(root + "/capacity")
            capacity = int(c) if c and c.isdigit() else None
        self.capacity = capacity
        self.reserve = reserve
        self._f = None
        self._sha = None
        self._off = 0
        self._total = None

    @property
    def offset(self):
        return self._off

    def _room(self):
        try:
            st = os.statvfs(self.root)
            return st[0] * st[4] - self.reserve
        except (OSError, AttributeError):
            return None

    def begin(self, total_size=None):
        self.abort()
        _makedirs(self.root)
        if total_size is not None:
            if self.capacity is not None and total_size > self.capacity:
                raise NoSpace("bundle %d > capacity %d" % (total_size, self.capacity))
            room = self._room()
            # the staged file and its unpacked copy exist side by side while applying
            if room is not None and 2 * total_size > room:
                raise NoSpace("bundle %d needs %d free" % (total_size, 2 * total_size))
        self._f = open(self.root + "/staged.part", "wb")
        self._sha = hashlib.sha256()
        self._off = 0

    def write(self, data):
        if self._f is None:
            raise FwError("write before begin")
        if self.capacity is not None and self._off + len(data) > self.capacity:
            raise NoSpace("bundle exceeds capacity")
        self._f.write(data)
        self._sha.update(data)
        self._off += len(data)

    def finish(self):
        if self._f is None:
            raise FwError("finish before begin")
        self._f.close()
        self._f = None
        part = self.root + "/staged.part"
        unpack_bundle(part)
        os.rename(part, self.root + "/staged.bundle")
        return (self._off, _hex(self._sha))

    def abort(self):
        if self._f is not None:
            self._f.close()
            self._f = None
        self._sha = None
        self._off = 0
        for n in ("/apply", "/staged.part", "/staged.bundle"):
            _remove(self.root + n)

    def apply(self):
        if not _exists(self.root + "/staged.bundle"):
            raise FwError("apply before finish")
        _touch(self.root + "/apply")

    def pending(self):
        """True while a newly applied app runs unconfirmed."""
        return _exists(self.root + "/trial")

    def boot_result(self):
        """What the last boot_apply did: 'applied', 'rolledback', 'failed' or None."""
        return _read(self.root + "/result")

    def confirm(self):
        if not _exists(self.root + "/trial"):
            return False
        _remove(self.root + "/trial")
        _rmtree(self.root + "/prev")
        return True


def boot_apply(root, app_dir, max_boots=3, count=True):
    """Run at every boot; returns 'applied', 'rolledback', 'failed', 'trial' or 'none'.
    count=False: <root>/trial was counted elsewhere (main.py, which mpremote's soft resets in the
    raw REPL do not run); only roll back once it is over max_boots."""
    if _exists(root + "/rollback"):
        boot_rollback(root, app_dir)
        return "rolledback"
    if _exists(root + "/apply") and not _exists(root + "/swap"):
        _rmtree(root + "/new")
        _rmtree(root + "/prev")
        try:
            unpack_bundle(root + "/staged.bundle", root + "/new")
        except (FwError, OSError, ValueError):
            _rmtree(root + "/new")
            _remove(root + "/apply")
            _remove(root + "/staged.bundle")
            _write(root + "/result", "failed")
            return "failed"
        _touch(root + "/swap")
    if _exists(root + "/swap"):
        if _exists(root + "/new"):
            if _exists(app_dir):
                os.rename(app_dir, root + "/prev")
            os.rename(root + "/new", app_dir)
        _write(root + "/trial", "1" if count else "0")  # count=False: main.py counts this one
        _write(root + "/result", "applied")
        _remove(root + "/apply")
        _remove(root + "/staged.bundle")
        _remove(root + "/swap")
        return "applied"
    boots = _read(root + "/trial")
    if boots is None:
        return "none"
    n = (int(boots) if boots.isdigit() else max_boots) + (1 if count else 0)
    if n > max_boots or (not count and n >= max_boots):
        if boot_rollback(root, app_dir):
            return "rolledback"
        _remove(root + "/trial")  # nothing to go back to: keep the new app
        return "none"
    if count:
        _write(root + "/trial", str(n))
    return "trial"


def boot_rollback(root, app_dir):
    """Put <root>/prev back as app_dir if the running app is unconfirmed; True if it did."""
    journal = root + "/rollback"
    prev = root + "/prev"
    if not _exists(journal):
        if not _exists(root + "/trial") or not _isdir(prev):
            return False
        _rmtree(root + "/bad")
        _touch(journal)
    if _exists(prev):
        if _exists(app_dir):
            os.rename(app_dir, root + "/bad")
        os.rename(prev, app_dir)
    _remove(root + "/trial")
    _write(root + "/result", "rolledback")
    _remove(journal)
    _rmtree(root + "/bad")
    return True
