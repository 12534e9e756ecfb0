"""Firmware Update (/5): a Read (FwUpdate.get), the record's restore and the settling of the boot
after Execute Update (FwUpdate.on_boot); FwUpdate.__getattr__ finds them here. And check(), the
end of a transfer: the check against the package header and Downloaded (lwm2m.fwupdate._take
loads it once storage.finish() has returned; in lwm2m.fwhead it was heap at the first block).

The restore runs as the engine loads, right after the construction (lwm2m.fwapply): at start-up,
or when a push's first block loads the engine, and then both at once were that block's heap peak.
So it is a module of its own, loaded for the call and unloaded as it starts like lwm2m.fwapply
(the caller holds what runs), with no place in lwm2m.objects.firmware's resident _MODS. A Read
loads it too (the smaller of the two): a Read is no block. It imports nothing of lwm2m.fwupdate:
the engine is passed in, and the state and result values are private copies.
"""
import binascii

from micropython import const

from board.fwstore import FwError
from lwm2m import unload
from lwm2m.errors import NotFound

_IDLE = const(0)
_DOWNLOADING = const(1)
_DOWNLOADED = const(2)
_UPDATING = const(3)

_R_INITIAL = const(0)
_R_CONN_LOST = const(4)
_R_INTEGRITY = const(5)
_R_FAILED = const(8)


def get(fu, rid):
    """FwUpdate.get(rid), a Read of /5/0: the value of a readable resource (8 as {riid:
    protocol}, lwm2m.fwuri's)."""
    unload("fwrec")
    if rid == 8:
        from lwm2m.fwuri import protocols  # it drops itself

        return protocols(fu)
    if rid == 9:
        # push only (a board without room for an image: refused, result 2) / push and pull
        return 1 if getattr(fu.storage, "none", False) else 2
    a = {1: "uri", 3: "state", 5: "result", 6: "pkg_name", 7: "pkg_version"}.get(rid)
    if a is None:
        raise NotFound()
    return getattr(fu, a)


def on_boot(fu, now=None):
    """Restore the persisted record (lwm2m.fwupdate.RECORD) as the engine loads (at start-up, or
    replayed by the stand-in), and settle what the reboot decided for one restored as Updating
    or Downloading."""
    unload("fwrec")
    rec = fu.store.load("fw")  # lwm2m.fwupdate.RECORD
    if not isinstance(rec, dict):
        return
    st = rec.get("state", _IDLE)
    res = rec.get("result", _R_INITIAL)
    fu.state = st if st in (_IDLE, _DOWNLOADING, _DOWNLOADED, _UPDATING) else _IDLE
    fu.result = res if isinstance(res, int) and 0 <= res <= 9 else _R_INITIAL
    for a in ("pkg_name", "pkg_version", "uri", "sha256"):
        setattr(fu, a, str(rec.get(a) or ""))
    fu.length = rec.get("length") or 0
    fu._reset()
    if fu.state == _UPDATING:
        rb = getattr(fu, "_rollback", None)
        if rb is None:
            from board.fwfile import step

            rb = step(fu.storage, "boot_result") in ("rolledback", "failed")
        elif callable(rb):
            rb = rb()
        if rb:
            fu._set(_IDLE, _R_FAILED)
        else:
            fu.pending = True  # result waits for on_registered()
    elif fu.state == _DOWNLOADING:
        # the storage driver's running hash died with the old process: nothing to resume
        fu.storage.abort()
        fu._set(_IDLE, _R_CONN_LOST)
    elif fu.state == _DOWNLOADED:
        # a store that keeps what its finish() checked in RAM only (an OTA slot) is told it
        # again, so Execute Update after a restart applies the image rather than fails
        r = getattr(fu.storage, "resume", None)
        if r is not None:
            r(fu.length, fu.sha256)


def check(fu, r):
    """All bytes are in and storage.finish() returned r, (length, sha256 hex): check them against
    the header, if there was one (else FwError(5)), take its name and version, land in
    Downloaded."""
    unload("fwrec")
    length, sha = r
    exp = fu._h
    if exp is not None:
        if length != exp[0] or sha != binascii.hexlify(exp[1]).decode():
            raise FwError(_R_INTEGRITY)
        fu.pkg_name, fu.pkg_version = exp[2], exp[3]
    fu.length = length
    fu.sha256 = sha
    fu._deadline = fu._handle = None
    fu._set(_DOWNLOADED)
    if fu._report is not None and exp is not None:
        fu._report(6)
        fu._report(7)
