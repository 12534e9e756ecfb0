"""Firmware Update (/5) besides a transfer: the engine's construction, a cancel, Execute Update,
the confirm (the record's restore right after the construction is lwm2m.fwrec: the two together,
with the engine loading in a push's first block, were its heap peak).

lwm2m.fwupdate loads this for those steps only (FwUpdate() runs setup, and FwUpdate.__getattr__
finds the others here by their method names): a push or a pull never runs it, so its code is no
heap during a transfer (the construction runs as the engine loads, before the first block is
taken; the engine holds no function of this module). Each step unloads it as it starts (the
caller holds what runs), so it is gone again after every step without a place in
lwm2m.objects.firmware's _MODS, which is resident. It imports nothing of lwm2m.fwupdate: the
engine is passed in, and the state and result values are private copies.
"""
from micropython import const

from board.fwstore import FwError
from lwm2m import unload
from lwm2m.errors import MethodNotAllowed

_IDLE = const(0)
_DOWNLOADED = const(2)
_UPDATING = const(3)

_R_INITIAL = const(0)
_R_SUCCESS = const(1)
_R_INTEGRITY = const(5)
_R_FAILED = const(8)


def setup(fu, storage, store, resolve=None, download=None, report=None, reboot=None,
          coaps=False, rollback=None, tries=5, retry_ms=2000, retry_cap_ms=60000, rand=None,
          szx=6, secure=None, client=None):
    """FwUpdate(storage, store, ...): a new engine, Idle with result 0 until on_boot restores the
    record; every keyword is an attribute of it (client: a lwm2m.client.Client that lwm2m.fwuri
    wires a pull onto when no download is given). storage None (lwm2m.fwupdate.for_client): the
    client's platform's fwstore, board.nostore when the board has no room for an image, a hashing
    sink without a board; /5/0/8 asks once whether CoAPS works (coaps None), the back-off draws
    from client.rand, and with no reboot given execute_update reboots the Device reboot way."""
    unload("fwapply")
    if storage is None:
        coaps, rand = None, client.rand
        p = client.platform
        if getattr(p, "fwstore", None) is not None:
            storage = p.fwstore()
            if storage is None:  # the board has no room for an image (ESP32_GENERIC: no OTA slots)
                from board.nostore import NoStore

                storage = NoStore()
        else:
            from lwm2m.fwpkg import SinkStorage

            storage = SinkStorage()
    fu.storage = storage
    fu.store = store
    # an engine's attributes are a table that grows in steps (29 slots, then 37: 8 B each): a
    # few are set only when given, and asked with a default (lwm2m.fwuri, lwm2m.fwrec)
    if download is not None:
        # lwm2m.fwtry reads these for an engine with a downloader only (its request is None)
        fu._download = download  # (uri, start_block, sink, done, now, peer) -> handle
        fu._resolve = resolve  # (host, port) -> peer; OSError counts as a lost connection
        fu._secure = secure  # peer -> True when it is reached through DTLS (coaps:// pulls)
    if rollback is not None:
        fu._rollback = rollback
    if reboot is not None:
        fu._reboot = reboot
    fu._report = report
    fu.coaps = coaps
    fu.client = client
    fu.tries, fu.retry_ms, fu.retry_cap_ms, fu.szx = tries, retry_ms, retry_cap_ms, szx
    fu._rand = rand  # None: lwm2m.fwtry takes coap.retry.urandom_int
    fu.state, fu.result = _IDLE, _R_INITIAL
    fu.pkg_name = fu.pkg_version = fu.uri = fu.sha256 = ""
    fu.length = 0
    fu.pending = False  # an applied image awaits its first registration
    fu._gen = 0  # bumped per download attempt: callbacks of an older one are ignored
    fu._reset()


def cancel(fu):
    """FwUpdate.cancel(): an empty Package or Package URI drops any transfer or stored package,
    back to Idle (4.05 while Updating)."""
    unload("fwapply")
    if fu.state == _UPDATING:
        raise MethodNotAllowed()  # updating
    fu._end(_R_INITIAL)


def execute_update(fu, now=None):
    """Execute /5/0/2: only in Downloaded (else 4.05); switch to the image and reboot."""
    unload("fwapply")
    if fu.state != _DOWNLOADED:
        raise MethodNotAllowed()  # no downloaded package
    if fu.length <= 0 or len(fu.sha256) != 64:
        fu._end(_R_INTEGRITY)
        return
    fu._set(_UPDATING, _R_INITIAL)
    try:
        from board.fwfile import step  # the store's step, whichever store it is

        step(fu.storage, "apply")
    except (FwError, OSError):
        fu._end(_R_FAILED)
        return
    r = getattr(fu, "_reboot", None)
    if r is not None:
        r()
    elif fu.client is not None:
        # a client's engine (lwm2m.fwupdate.for_client): the Device reboot way, the 2.04 of
        # Update out first, then Deregister, then platform.reboot()
        fu.client._x_device("reboot")


def on_registered(fu, now=None):
    """First successful registration since boot: with an update pending, confirm the new image,
    result 1."""
    unload("fwapply")
    if not fu.pending:
        return
    fu.pending = False
    try:
        from board.fwfile import step

        ok = step(fu.storage, "confirm") is not False  # BundleStore: False = nothing on trial
    except (FwError, OSError):
        ok = False
    fu._set(_IDLE, _R_SUCCESS if ok else _R_FAILED)
