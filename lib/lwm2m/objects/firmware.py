"""LwM2M Firmware Update object (5): the definition, and the client's resident stand-in binding /5
onto a lwm2m.fwupdate.FwUpdate, loaded for an operation and dropped when nothing is under way."""
import sys
import time

from lwm2m import unload

DEF = (5, None, False, False, (  # Firmware Update
    (0, None, "W", False, True, "o"),  # Package
    (1, None, "RW", False, True, "s"),  # Package URI
    (2, None, "E", False, True, "e"),  # Update
    (3, None, "R", False, True, "i"),  # State
    (5, None, "R", False, True, "i"),  # Update Result
    (6, None, "R", False, False, "s"),  # PkgName
    (7, None, "R", False, False, "s"),  # PkgVersion
    (8, None, "R", True, False, "i"),  # Firmware Update Protocol Support
    (9, None, "R", False, True, "i"),  # Firmware Update Delivery Method
))

# State /5/0/3 (the engine's values, named here for callers)
IDLE = 0
DOWNLOADING = 1
DOWNLOADED = 2
UPDATING = 3
RECORD = "fw"  # lwm2m.fwupdate.RECORD, the engine's store record (a test holds them equal)
# what a transfer loads (engine, pull half, board store, a pull's Block2 download) and the store's
# file helpers an update loads: dropped again with the engine (board.unpack, lwm2m.fwapply,
# lwm2m.fwhead, lwm2m.fwuri, lwm2m.fwtry drop themselves)
_MODS = (
    "lwm2m.fwupdate", "lwm2m.fwpull", "lwm2m.fwpkg", "board.fwstore", "board.bundle",
    "board.partstore", "board.nostore", "board.fwfile", "coap.transfer")


def _load(client):
    if client is None:
        # a model without board storage: transfers are hashed and checked, nothing flashed
        from lwm2m.fwpkg import MemStore, SinkStorage
        from lwm2m.fwupdate import FwUpdate

        return FwUpdate(SinkStorage(), MemStore())
    from lwm2m.fwupdate import for_client  # the engine, its board storage and helpers

    return for_client(client)


class Firmware:
    """Object 5 instance 0; every value and transition lives in the engine, `fu`. For a client
    (for_client) the engine is loaded by the first operation on /5, or at boot when the store
    says a transfer or an update is under way, and dropped with the modules it brought in (about
    15 KB of heap on a 32-bit board) once it is Idle with no update to confirm, or Downloaded;
    the store's record brings its values back with it. Any attribute this class lacks comes
    from the engine.
    Optional notification hooks, called after the engine accepted the operation (an LED, a log):
    on_package_block(offset, data, last), on_package_uri(uri), on_update(args)."""

    def __init__(self, client=None, fu=None):
        self._client = client
        self._fu = fu
        self._report = None  # the registry's, handed to an engine made without one
        self._boot = False  # on_boot ran: replayed on an engine loaded later
        self._new = None  # the _MODS the engine's loading brought in
        # values Reads got from an engine that did nothing else before it was dropped: Idle,
        # they cannot change until an operation loads it again (see get)
        self._seen = {}
        self._clean = False
        self.on_package_block = self.on_package_uri = self.on_update = None

    @property
    def fu(self):
        """The engine, loaded if need be, for an operation: it may change any value."""
        self._clean = False
        if self._seen:  # not a new dict per call: a push comes here once per block
            self._seen = {}
        return self._engine()

    def _engine(self):
        fu = self._fu
        if fu is None:
            new = []  # a loop: a comprehension is one more function on the heap
            for m in _MODS:
                if m not in sys.modules:
                    new.append(m)
            fu = self._fu = _load(self._client)
            if self._client is not None:  # a record store brings the values back: droppable
                self._new = new
            if fu._report is None:
                fu._report = self._report
            if self._boot:
                fu.on_boot()  # an idle record only restores name, version, result
        return fu

    def __getattr__(self, name):
        return getattr(self.fu, name)

    def get(self, rid):
        """A Read of /5/0/rid. With the engine dropped, a value an earlier Read got is answered
        again instead of reloading ~8 KB of code for each Read (slow, and it fragments the heap)."""
        seen = self._seen
        if self._fu is None:
            if rid in seen:
                return seen[rid]
            self._clean = True  # loaded by this Read, as the record restores it
        v = self._engine().get(rid)
        if self._clean:
            seen[rid] = v
        return v

    def _idle(self):
        """Drop a loaded engine that has nothing under way, and the modules it brought in: Idle
        with no update to confirm, or Downloaded (the image waits in the store, its length and
        digest in the record; an OTA slot's store is told them again as the engine reloads for
        Execute Update: board.partstore's resume). A Downloaded engine held 4.8 KB (32-bit, .mpy)
        until the Update, which a server may send much later."""
        fu = self._fu
        if self._new is not None and fu.state in (IDLE, DOWNLOADED) and not fu.pending:
            self._fu = None
            for m in self._new:
                unload(m)  # and the package's reference
            self._new = None

    def on_boot(self, now=None):
        self._boot = True
        if self._fu is not None:
            self._fu.on_boot(now)
            return
        c = self._client
        rec = None if c is None else c.store.load(RECORD)
        if c is None or (isinstance(rec, dict) and rec.get("state")):
            self.fu  # not Idle: the engine has work to do (loading runs its on_boot)
            self._idle()

    def on_registered(self, now=None):
        if self._fu is not None:  # otherwise no update awaits confirmation (on_boot)
            self.fu.on_registered(now)
            self._idle()

    def tick(self, now):
        fu = self._fu
        if fu is None:
            return None
        d = fu.tick(now)
        self._idle()  # a pull that failed for good, or an engine a Read loaded
        return d

    def _block(self, iid, offset, data, last):
        try:
            self.fu.package_block(offset, data, last)
        finally:
            self._idle()
        if self.on_package_block is not None:
            self.on_package_block(offset, data, last)

    def _package(self, value):
        self._block(0, 0, value, True)  # a Package written in one go (no Block1)

    def _set_uri(self, uri):
        try:
            self.fu.write_uri(uri, time.ticks_ms())
        finally:
            self._idle()
        if self.on_package_uri is not None:
            self.on_package_uri(uri)

    def _update(self, args):
        try:
            self.fu.execute_update(time.ticks_ms())
        finally:
            self._idle()
        if self.on_update is not None:
            self.on_update(args)


# for_client(client): the stand-in behind /5 of a lwm2m.client.Client, the engine loaded on first
# use; _Lazy: its old name (tools/bench/bench_fw.py hooks it). Names, not functions: no heap.
for_client = _Lazy = Firmware


def make(registry, fu=None):
    """Add /5/0 to registry, backed by fu: for_client()'s stand-in, an engine, or (None) an engine
    over a hashing sink and a record in RAM."""
    f = fu if isinstance(fu, Firmware) else Firmware(None, fu)
    f._report = lambda rid: registry.changed(5, 0, rid)
    if f._fu is not None and f._fu._report is None:
        f._fu._report = f._report
    f.reg = registry
    o = f.obj = registry.add(DEF)
    o.deletable = False  # /5/0 is the update machinery itself; Delete "/" must not strand it
    o.add(0)
    for rid in (3, 5, 6, 7, 8, 9):
        o.bind(0, rid, get=lambda r=rid: f.get(r))
    o.blocks = {0: f._block}
    o.bind(0, 0, set=f._package)
    o.bind(0, 1, get=lambda: f.get(1), set=f._set_uri)
    o.bind(0, 2, exe=f._update)
    return f
