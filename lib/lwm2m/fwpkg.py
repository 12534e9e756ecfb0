"""Firmware package helpers for /5: the package header writer, a package written as TLV, and the
storage stand-ins of a model without board storage. Loaded for a TLV-wrapped push, a model without
a board or the host tools; a push of an opaque package does without it, and so does a pull
(lwm2m.fwpull)."""
from micropython import const

from lwm2m.errors import BadRequest, Incomplete

HDR_LEN = const(128)
MAGIC = b"LWM2MFW1"
NAME_LEN = const(42)


def make_header(length, digest, name="", version=""):
    """The 128-byte package header for an image of `length` bytes with SHA-256 `digest` (raw):
        0   8  b"LWM2MFW1"
        8   4  image length, uint32 little-endian
        12  32 SHA-256 of the image (raw digest)
        44  42 PkgName, UTF-8, NUL-padded
        86  42 PkgVersion, UTF-8, NUL-padded"""
    n = name.encode()
    v = version.encode()
    if len(digest) != 32 or len(n) > NAME_LEN or len(v) > NAME_LEN:
        raise ValueError("header field too long")
    h = bytearray(HDR_LEN)
    h[0:8] = MAGIC
    h[8:12] = bytes((length & 0xFF, (length >> 8) & 0xFF, (length >> 16) & 0xFF, length >> 24))
    h[12:44] = digest
    h[44:44 + len(n)] = n
    h[86:86 + len(v)] = v
    return bytes(h)


def tlv_unwrap(dm, rid, off, data, last):
    """A streamed write (/5/0/0 Package) sent as one opaque resource TLV, as servers that write
    in the client's registered format do: (offset, bytes) of the opaque value in this Block1
    chunk. The TLV header is in the first block; only its length and the value's length are
    kept (dm._tlvw) and the bytes stream on exactly as an opaque body does."""
    if off == 0:
        b = data
        t = b[0] if len(b) > 1 else 0
        if t >> 6 != 3:
            raise BadRequest("one resource TLV expected")
        i = 3 if t & 0x20 else 2
        n = (t >> 3) & 3
        if len(b) < i + n or (b[1] << 8 | b[2] if t & 0x20 else b[1]) != rid:
            raise BadRequest("TLV for another resource")
        size = t & 7 if n == 0 else int.from_bytes(bytes(b[i:i + n]), "big")
        dm._tlvw = (i + n, size)
        data = memoryview(b)[i + n:]
    elif dm._tlvw is None:
        raise Incomplete("block1")  # a continuation whose first block we never saw
    else:
        off -= dm._tlvw[0]
    end = off + len(data)
    if end > dm._tlvw[1] or (last and end != dm._tlvw[1]):
        dm._tlvw = None
        raise BadRequest("TLV length does not match the package")
    if last:
        dm._tlvw = None
    return off, data


class SinkStorage:
    """fwstore interface that only hashes: /5 for a model with no board storage behind it."""

    def __init__(self):
        self._sha = None
        self.offset = 0

    def begin(self, total_size=None):
        import hashlib

        self._sha = hashlib.sha256()
        self.offset = 0

    def write(self, data):
        self._sha.update(data)
        self.offset += len(data)

    def finish(self):
        import binascii

        return self.offset, binascii.hexlify(self._sha.digest()).decode()

    def abort(self):
        self._sha = None
        self.offset = 0

    def apply(self):
        pass

    def confirm(self):
        return False  # nothing was ever switched to


class MemStore:
    """lwm2m.store.Store interface in RAM (the /5 record of a model without a filesystem)."""

    def __init__(self):
        self.d = {}

    def load(self, name):
        return self.d.get(name)

    def save(self, name, value):
        if self.d.get(name) == value:
            return False
        self.d[name] = value
        return True

    def remove(self, name):
        self.d.pop(name, None)

