"""ESP32 firmware store: the image streamed into the next OTA partition (none: board.nostore)."""
import binascii
import hashlib

from .fwstore import FwError


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
        self._sha = None
        self.offset = 0
        self._bs = 0  # the partition's block (erase sector) size, from begin()
        self._cap = 0
        self._done = None

    def begin(self, total_size=None):
        p = self._part
        self._bs = bs = p.ioctl(5, 0)
        self._cap = p.ioctl(4, 0) * bs  # block count x block size
        if total_size is not None and total_size > self._cap:
            raise FwError(2)  # no space: the image is bigger than the partition
        self._sha = hashlib.sha256()
        self.offset = 0
        self._done = None

    def write(self, data):
        """Each piece goes to flash as it comes: a sector is erased as the image reaches its
        start (ioctl 6), and written with the extended writeblocks(block, buf, offset), which
        erases nothing, so no sector-sized buffer is held (4 KB of a 112 KB heap, through every
        block and while the image waits for Execute Update). Pieces land at any offset: fine on
        stock firmware, which has no flash encryption (with it, esp_partition_write would want
        16-byte aligned writes)."""
        if self._sha is None:
            raise FwError(8)  # write before begin
        n = len(data)
        o = self.offset
        if o + n > self._cap:
            raise FwError(2)  # no space: the stream exceeds the partition
        p = self._part
        bs = self._bs
        mv = memoryview(data)
        i = 0
        while i < n:
            b, at = divmod(o + i, bs)
            if not at:
                p.ioctl(6, b)  # the sector's first byte: erase it (the writes never do)
            k = min(bs - at, n - i)
            p.writeblocks(b, mv[i:i + k], at)
            i += k
        self._sha.update(data)
        self.offset = o + n

    def finish(self):
        """Read the image back and check it; returns (length, sha256 hex)."""
        if self._sha is None:
            raise FwError(8)  # finish before begin
        digest = binascii.hexlify(self._sha.digest()).decode()
        self._sha = None
        if self._read_back(self.offset) != digest:
            raise FwError(5)  # integrity: the read-back does not match
        self._done = (self.offset, digest)
        return self._done

    def _read_back(self, n):
        """The SHA-256 hex of the slot's first n bytes, read in 512-byte steps through a buffer
        made for it."""
        h = hashlib.sha256()
        mv = memoryview(bytearray(512))
        bs = self._bs or self._part.ioctl(5, 0)
        o = 0
        while o < n:
            b, at = divmod(o, bs)
            k = min(512, bs - at, n - o)
            self._part.readblocks(b, mv[:k], at)
            h.update(mv[:k])
            o += k
        return binascii.hexlify(h.digest()).decode()

    def resume(self, length, sha256):
        """A restart in Downloaded (the engine's record gives what finish() returned): the image
        is still in the slot, so apply() may switch to it once a read-back matches again."""
        self._done = (length, sha256, True)

    def abort(self):
        self._sha = None
        self._done = None
        self.offset = 0

    def apply(self):
        d = self._done
        if d is None:
            raise FwError(8)  # apply before finish
        if len(d) > 2 and self._read_back(d[0]) != d[1]:  # resume()'s: checked here again
            raise FwError(5)  # the slot no longer holds that image
        if self._record is not None:
            from .fwfile import _makedirs, _write  # boot-time helpers: no heap in a transfer

            _makedirs(self._record.rpartition("/")[0])
            _write(self._record, self._part.info()[4])  # before set_boot: a cut leaves no switch
        self._part.set_boot()

    def boot_result(self):
        """'applied' when the slot apply() chose runs, 'rolledback' when the bootloader went
        back to the old one, None when nothing was applied (or it cannot tell)."""
        from .fwfile import _read

        want = _read(self._record) if self._record is not None else None
        if not want or self._running is None:
            return None
        return "applied" if self._running() == want else "rolledback"

    def confirm(self):
        # Until this runs, the ESP-IDF bootloader rolls back to the old slot on the next reset.
        self._part.mark_app_valid_cancel_rollback()
        if self._record is not None:
            from .fwfile import _remove

            _remove(self._record)
