"""Firmware Update (/5) besides a transfer: the record's restore and the settling of the boot
after Execute Update, Execute Update, the confirm.

lwm2m.fwupdate loads this for those steps only (its methods of the same names are the entry
points): a push or a pull never runs it, so its code is no heap during a transfer (the restore
runs as the engine loads, before the first block is taken). Each step unloads it as it starts
(the caller holds what runs), so it is gone again after every step without a place in
lwm2m.objects.firmware's _MODS, which is resident. It imports nothing of lwm2m.fwupdate: the
engine and the record are passed in, and the state and result values are private copies.
"""
from micropython import const

from board.fwstore import FwError
from lwm2m import unload

_IDLE = const(0)
_DOWNLOADING = const(1)
_DOWNLOADED = const(2)
_UPDATING = const(3)

_R_INITIAL = const(0)
_R_SUCCESS = const(1)
_R_CONN_LOST = const(4)
_R_INTEGRITY = const(5)
_R_FAILED = const(8)


def execute_update(fu):
    """Execute /5/0/2 in Downloaded (the caller checked): switch to the image and reboot."""
    unload("fwapply")
    if fu.length <= 0 or len(fu.sha256) != 64:
        fu._end(_R_INTEGRITY)
        return
    fu._set(_UPDATING, _R_INITIAL)
    try:
        fu.storage.apply()
    except (FwError, OSError):
        fu._end(_R_FAILED)
        return
    if fu._reboot is not None:
        fu._reboot()


def on_boot(fu, rec):
    """Restore rec, the persisted record (lwm2m.fwupdate.RECORD), as the engine loads (at
    start-up, or replayed by the stand-in), and settle what the reboot decided for one restored
    as Updating or Downloading."""
    unload("fwapply")
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
        rb = fu._rollback
        if rb is None:
            br = getattr(fu.storage, "boot_result", None)
            rb = br is not None and br() in ("rolledback", "failed")
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


def on_registered(fu):
    """First successful registration with an update pending: confirm the new image, result 1."""
    unload("fwapply")
    fu.pending = False
    try:
        ok = fu.storage.confirm() is not False  # BundleStore: False = nothing on trial
    except (FwError, OSError):
        ok = False
    fu._set(_IDLE, _R_SUCCESS if ok else _R_FAILED)
