"""Application-bundle firmware store (host, Pico W): format, staging, checking, unpacking.

Bundle format (BundleStore), all lines ASCII and ending in a single b"\\n":
    LWM2MBUNDLE 1
    <path relative to the app directory, '/'-separated, no '..'>
    <decimal byte length>
    <exactly that many bytes>
    ... more path/length/bytes entries ...
    END <lowercase hex SHA-256 of every byte before this trailer line>
Nothing may follow the trailer. Paths are relative to app_dir, which boot.py makes "lib" (the
whole application; boot.py and main.py are small launchers that no update replaces, so a swap is
one directory rename). boot.py calls board.fwboot.boot_apply(root, app_dir) at every boot: a staged
bundle marked by apply() is unpacked into <root>/new, then swapped in with renames (the old app
dir becomes <root>/prev), journalled so a power cut at any point resumes on the next boot. The new
app runs on trial: each boot counts in <root>/trial, and after max_boots boots without confirm()
boot_rollback() puts <root>/prev back. The outcome ("applied", "rolledback", "failed") is left in
<root>/result for the application to report.
"""
import hashlib
import os

from .fwstore import FwError


class BundleStore:
    """Stages an application bundle under root for boot_apply(); capacity caps its size. The steps
    past a transfer (the mark for boot_apply(), its outcome, the confirm) are board.fwfile's
    apply(store), boot_result(store) and confirm(store), which board.fwfile.step() calls for a
    store with a root (loaded for that step), so they are no heap during a push."""

    def __init__(self, root, capacity=None, reserve=16384):
        self.root = root
        if capacity is None:
            # a <root>/capacity file (decimal bytes) caps it too: a knob for simulated boards
            try:
                with open(root + "/capacity") as f:
                    c = f.read().strip()
                capacity = int(c) if c.isdigit() else None
            except OSError:
                pass
        self.capacity = capacity
        self.reserve = reserve
        self._f = None
        self._sha = None  # the running hash; False: aborted, nothing staged (board.stage)
        self.offset = 0

    def begin(self, total_size=None):
        from .room import begin  # board.room: loaded for the check only (see there)

        begin(self, total_size)
        del begin  # gone before the file and its hash are made
        self._f = open(self.root + "/staged.part", "wb")
        self._sha = hashlib.sha256()
        self.offset = 0

    def write(self, data):
        if self._f is None:
            raise FwError(8)  # write before begin
        if self.capacity is not None and self.offset + len(data) > self.capacity:
            raise FwError(2)  # no space: the stream exceeds the capacity
        self._f.write(data)
        self._sha.update(data)
        self.offset += len(data)

    def finish(self):
        from .unpack import finish  # board.unpack: the check loads for it, not the transfer

        return finish(self)

    def abort(self):
        from .stage import abort  # board.stage: it drops itself (see there)

        abort(self)
