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
        # one flash sector, the only buffer a transfer needs: made by begin(), as the store also
        # exists for a boot's confirm or a Read of /5, which need none (4 KB on a 112 KB heap)
        self._buf = None
        self._sha = None
        self.offset = 0
        self._fill = 0
        self._block = 0
        self._cap = 0
        self._done = None

    def begin(self, total_size=None):
        bs = self._part.ioctl(5, 0)
        if self._buf is None or bs != len(self._buf):
            self._buf = bytearray(bs)
        self._cap = self._part.ioctl(4, 0) * bs  # block count x block size
        if total_size is not None and total_size > self._cap:
            raise FwError(2)  # no space: the image is bigger than the partition
        self._sha = hashlib.sha256()
        self.offset = self._fill = self._block = 0
        self._done = None

    def write(self, data):
        if self._sha is None:
            raise FwError(8)  # write before begin
        n = len(data)
        if self.offset + n > self._cap:
            raise FwError(2)  # no space: the stream exceeds the partition
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
        self.offset += n

    def finish(self):
        """Flush the last block, read the image back and check it; returns (length, sha256 hex)."""
        if self._sha is None:
            raise FwError(8)  # finish before begin
        buf = self._buf
        bs = len(buf)
        if self._fill:
            for j in range(self._fill, bs):
                buf[j] = 0xFF
            self._part.writeblocks(self._block, buf)
        digest = binascii.hexlify(self._sha.digest()).decode()
        self._sha = None
        h = hashlib.sha256()
        left = self.offset
        b = 0
        mv = memoryview(buf)
        while left > 0:
            self._part.readblocks(b, buf)
            h.update(mv[:min(bs, left)])
            left -= bs
            b += 1
        if binascii.hexlify(h.digest()).decode() != digest:
            raise FwError(5)  # integrity: the read-back does not match
        self._done = (self.offset, digest)
        return self._done

    def abort(self):
        self._sha = None
        self._done = None
        self.offset = self._fill = self._block = 0

    def apply(self):
        if self._done is None:
            raise FwError(8)  # apply before finish
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
