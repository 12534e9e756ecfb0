"""Firmware Update (/5): a package's first bytes, until they are a header or a raw package.

lwm2m.fwupdate._take loads this while it holds those bytes (normally for the first block only),
begins storage once it is gone again and streams the rest itself, so the header code is no heap
while storage opens its file and hash, nor while the blocks after it come in (the endpoint's
dedup table has filled by then). It unloads itself as it
starts, like lwm2m.fwapply (the caller holds what runs), so it needs no place in the resident
lwm2m.objects.firmware's _MODS. It imports nothing of lwm2m.fwupdate (the engine is passed in).
The check against the header at the end is lwm2m.fwrec's: this module is loaded at the first
block, with that block's datagram and a pull's download, so it holds only what that block needs.
"""
from micropython import const

from board.fwstore import FwError
from lwm2m import unload

_HDR_LEN = const(128)  # lwm2m.fwpkg.HDR_LEN
_MAGIC = b"LWM2MFW1"  # lwm2m.fwpkg.MAGIC (a test holds them equal)

_R_INTEGRITY = const(5)
_R_BAD_TYPE = const(6)


def head(fu, data):
    """Take a block (None: the end) while fu._h holds the first bytes: 8 tell a header from
    a raw package, and a header is 128. None while they are held; once that is decided, fu._h
    is the header's (length, digest, name, version) or None (raw), fu._total what
    storage.begin() gets, and this returns what storage is to get after
    it, in order (a tuple: what was held of a raw package, then the block or what follows the
    header in it). The caller begins storage, with this module gone: its file and hash are new
    then. Another header version raises FwError(6), a field or the Size that fails a check
    FwError(5)."""
    unload("fwhead")
    h = fu._h
    fu._h = None
    if data is None:  # it ended while held (under 8 bytes, or a cut header): raw
        return (h,) if h else ()
    # a view: no copy of the block, only of what is held
    k = len(h)
    h.extend(memoryview(data)[:_HDR_LEN - k])
    if len(h) < 8 or h[:7] == _MAGIC[:7]:
        if len(h) >= 8 and h[7] != _MAGIC[7]:
            raise FwError(_R_BAD_TYPE)  # another header version
        if len(h) < _HDR_LEN:
            fu._h = h
            return None
        f = []
        for a in (44, 86):  # PkgName, PkgVersion: NUL-padded UTF-8, 42 bytes
            try:
                f.append(bytes(h[a:a + 42]).split(b"\0", 1)[0].decode())
            except UnicodeError:
                raise FwError(_R_INTEGRITY)
        size = int.from_bytes(h[8:12], "little")
        if fu._total is not None and fu._total != _HDR_LEN + size:
            raise FwError(_R_INTEGRITY)
        fu._h = (size, bytes(h[12:44]), f[0], f[1])
        fu._total = size
        data = memoryview(data)[_HDR_LEN - k:]  # what follows the header
        return (data,) if len(data) else ()
    # a raw package: what the magic test held back goes first, then the whole block, so
    # storage sees the blocks as they came
    return (h[:k], data) if k else (data,)
