"""Firmware Update (/5): a package's first bytes, until they are a header or a raw package.

lwm2m.fwupdate._take loads this while it holds those bytes (normally for the first block only)
and streams the rest itself, so the header code is no heap while the blocks after it come in
(the peak of a transfer: the endpoint's dedup table has filled by then). It unloads itself as it
starts, like lwm2m.fwapply (the caller holds what runs), so it needs no place in the resident
lwm2m.objects.firmware's _MODS. It imports nothing of lwm2m.fwupdate (the engine is passed in).
"""
from micropython import const

from board.fwstore import FwError
from lwm2m import unload

_HDR_LEN = const(128)  # lwm2m.fwpkg.HDR_LEN
_MAGIC = b"LWM2MFW1"  # lwm2m.fwpkg.MAGIC (a test holds them equal)

_R_INTEGRITY = const(5)
_R_BAD_TYPE = const(6)


def head(fu, data):
    """Take a block (None: the end) while fu._hdr holds the first bytes: 8 tell a header from
    a raw package, and a header is 128. Once that is decided, storage has begun (and has what
    was held of a raw package), fu._hdr is None, and this returns what of the block storage is
    to get next (None: nothing). Another header version raises FwError(6), a field or the Size
    that fails a check FwError(5)."""
    unload("fwhead")
    st = fu.storage
    h = fu._hdr
    if data is None:  # it ended while held (under 8 bytes, or a cut header): raw
        st.begin(fu._total)
        fu._hdr = None
        if h:
            st.write(h)
        return None
    # a view: no copy of the block, only of what is held
    k = len(h)
    h.extend(memoryview(data)[:_HDR_LEN - k])
    if len(h) < 8 or h[:7] == _MAGIC[:7]:
        if len(h) >= 8 and h[7] != _MAGIC[7]:
            raise FwError(_R_BAD_TYPE)  # another header version
        if len(h) < _HDR_LEN:
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
        fu._exp = (size, bytes(h[12:44]), f[0], f[1])
        st.begin(size)
        fu._hdr = None
        data = memoryview(data)[_HDR_LEN - k:]  # what follows the header
        return data if len(data) else None
    # a raw package: what the magic test held back goes first, then the whole block, so
    # storage sees the blocks as they came
    st.begin(fu._total)
    if k:
        st.write(h[:k])
    fu._hdr = None
    return data
