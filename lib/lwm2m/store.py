"""Flash-backed record store: atomic, checksummed, power-cut safe persistence of named values.

Each record is one file `<root>/<name>.rec` holding a 13-byte header - magic b"LWMR", format
version (1 byte), payload length and CRC32 of the payload (both uint32 little-endian) - followed
by a JSON payload. A save writes `<name>.tmp`, flushes, syncs where the port can, then renames it
over `<name>.rec`; a torn or partial file fails the length/CRC check and is ignored, so after a
power cut at any byte a load sees either the old or the new value.

JSON cannot carry bytes or non-string keys, so values are escaped: bytes -> {"$b": "<hex>"}, a dict
whose keys are not all strings (or that could be mistaken for an escape) -> {"$d": [[k, v], ...]}.
Tuples come back as lists. The escaping is lwm2m.persist's, loaded for each load and save.
"""
import binascii
import json
import os
import struct

from micropython import const

_MAGIC = b"LWMR"
_VERSION = const(1)
_HDR = const(13)
MISSING = "missing"
CORRUPT = "corrupt"


class OsFs:
    """The filesystem interface Store uses: os and open() themselves; tests pass a fake instead."""

    # the functions as they are, not wrapped in methods of their own (heap on a board)
    open = staticmethod(open)
    rename = staticmethod(os.rename)
    remove = staticmethod(os.remove)
    listdir = staticmethod(os.listdir)
    stat = staticmethod(os.stat)
    mkdir = staticmethod(os.mkdir)
    # littlefs and FAT on the boards commit on close; os.sync() exists only on some ports
    if hasattr(os, "sync"):
        sync = staticmethod(os.sync)


def _valid_name(name):
    if not name or not isinstance(name, str) or len(name) > 40:
        return False
    for c in name:
        if not (c.isalpha() or c.isdigit() or c in "_-"):
            return False
    return True


class Store:
    """Named records under one directory. load() never raises on bad data; save() skips no-ops."""

    max_record = 16 * 1024  # a header claiming more is corrupt, not a reason to run out of heap

    def __init__(self, root, fs=None):
        self.root = root.rstrip("/") or "/"
        self.fs = fs if fs is not None else OsFs()
        self.last_error = None

    def _path(self, name, ext):
        if not _valid_name(name):
            raise ValueError("store: bad record name %r" % (name,))
        return "%s/%s%s" % (self.root, name, ext)

    def _read(self, path):
        """Payload bytes of a complete record file, or None (self.last_error says why)."""
        try:
            f = self.fs.open(path, "rb")
        except OSError:
            self.last_error = MISSING
            return None
        try:
            hdr = f.read(_HDR)
            if not hdr or len(hdr) < _HDR or hdr[:4] != _MAGIC or hdr[4] != _VERSION:
                self.last_error = CORRUPT
                return None
            n, crc = struct.unpack_from("<II", hdr, 5)
            if n > self.max_record:
                self.last_error = CORRUPT
                return None
            data = f.read(n) if n else b""
            if data is None or len(data) != n or f.read(1):
                self.last_error = CORRUPT
                return None
            if binascii.crc32(data) & 0xFFFFFFFF != crc:
                self.last_error = CORRUPT
                return None
            return data
        except OSError:
            self.last_error = CORRUPT
            return None
        finally:
            f.close()

    def _raw(self, name):
        """Payload bytes of the record after recovering an interrupted commit, or None."""
        rec = self._path(name, ".rec")
        data = self._read(rec)
        err = self.last_error
        if data is None:
            tmp = self._path(name, ".tmp")
            data = self._read(tmp)
            if data is None:
                self.last_error = err
                return None
            # Only a complete new record survives as a lone .tmp (cut between remove and rename
            # on a filesystem whose rename does not replace), so finish that commit now.
            try:
                self._commit(tmp, rec)
            except OSError:
                pass
        return data

    def load(self, name):
        """The stored value, or None when missing or corrupt (self.last_error: MISSING/CORRUPT)."""
        data = self._raw(name)
        if data is None:
            return None
        from lwm2m import persist, unload

        unload("persist")
        try:
            v = persist.unpack(json.loads(data.decode()))
        except (ValueError, UnicodeError, TypeError, KeyError):
            self.last_error = CORRUPT
            return None
        self.last_error = None
        return v

    def _commit(self, tmp, rec):
        try:
            self.fs.rename(tmp, rec)
        except OSError:
            # FAT-style rename refuses to replace; load() recovers the lone .tmp if cut here.
            try:
                self.fs.remove(rec)
            except OSError:
                pass
            self.fs.rename(tmp, rec)

    def save(self, name, value):
        """Persist value; False (nothing written) when it equals what is already stored."""
        from lwm2m import persist, unload

        unload("persist")
        payload = json.dumps(persist.pack(value)).encode()
        # the stored bytes, not a decoded copy: no garbage, and equal bytes are an equal value
        # of the same types (true vs 1 vs 1.0 encode apart)
        if self._raw(name) == payload:
            return False
        if len(payload) > self.max_record:
            raise ValueError("store: record %s too large" % name)
        tmp = self._path(name, ".tmp")
        rec = self._path(name, ".rec")
        try:
            self.fs.mkdir(self.root)
        except OSError:
            pass
        f = self.fs.open(tmp, "wb")
        try:
            f.write(_MAGIC + bytes((_VERSION,))
                    + struct.pack("<II", len(payload), binascii.crc32(payload) & 0xFFFFFFFF))
            f.write(payload)
            f.flush()
        finally:
            f.close()
        sync = getattr(self.fs, "sync", None)
        if sync:
            sync()
        self._commit(tmp, rec)
        if sync:
            sync()
        self.last_error = None
        return True

    def remove(self, name):
        """Delete a record; the .tmp goes first so a cut never resurrects a stale value."""
        for ext in (".tmp", ".rec"):
            try:
                self.fs.remove(self._path(name, ext))
            except OSError:
                pass

    def names(self):
        """Sorted names of the records that load."""
        try:
            files = self.fs.listdir(self.root)
        except OSError:
            return []
        out = []
        for f in files:
            stem = f[:-4]
            if f[-4:] in (".rec", ".tmp") and _valid_name(stem) and stem not in out:
                if f[-4:] == ".rec" or (stem + ".rec") not in files:
                    out.append(stem)
        good = []
        for n in out:
            self.load(n)
            if self.last_error is None:
                good.append(n)
        good.sort()
        return good

    def wipe(self):
        """Factory reset: remove every record file (and stray temp files)."""
        try:
            files = self.fs.listdir(self.root)
        except OSError:
            return
        for f in files:
            if f[-4:] == ".tmp":
                self.fs.remove("%s/%s" % (self.root, f))
        for f in files:
            if f[-4:] == ".rec":
                self.fs.remove("%s/%s" % (self.root, f))
