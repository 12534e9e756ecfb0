"""LwM2M Firmware Update object (5): the definition, bindings onto a lwm2m.fwupdate.FwUpdate, and
the client's stand-in for that engine until the first operation on /5 needs it."""
import time

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

# State /5/0/3 and Update Result /5/0/5 (the engine's values, named here for callers)
IDLE = 0
DOWNLOADING = 1
DOWNLOADED = 2
UPDATING = 3
R_INITIAL = 0
R_SUCCESS = 1
R_NO_STORAGE = 2
R_NO_MEMORY = 3
R_CONN_LOST = 4
R_INTEGRITY = 5
R_UNSUPPORTED_TYPE = 6
R_INVALID_URI = 7
R_FAILED = 8
R_UNSUPPORTED_PROTOCOL = 9
RECORD = "fw"  # lwm2m.fwupdate.RECORD, the engine's store record (a test holds them equal)


def _load(client):
    from lwm2m.fwupdate import for_client  # the engine, its board storage and helpers

    return for_client(client)


class _Lazy:
    """for_client()'s FwUpdate, made at the first operation on /5, or at boot when the store says
    a transfer or an update is under way: until then neither lwm2m.fwupdate nor the board's
    firmware store is imported (about 15 KB of heap on a 32-bit board; lwm2m.fwpkg, 4.5 KB more,
    loads for a pull only). Any attribute this class lacks loads the engine and comes from it."""

    def __init__(self, client):
        self._client = client
        self._fu = None
        self._report = None  # set by Firmware before the engine exists
        self._boot = None  # (now,) once on_boot ran: replayed on the engine when it loads

    def _engine(self):
        fu = self._fu
        if fu is None:
            fu = self._fu = _load(self._client)
            if fu._report is None:
                fu._report = self._report
            if self._boot is not None:
                fu.on_boot(self._boot[0])  # an idle record only restores name, version, result
        return fu

    def __getattr__(self, name):
        return getattr(self._engine(), name)

    def on_boot(self, now=None):
        if self._fu is not None:
            self._fu.on_boot(now)
            return
        self._boot = (now,)
        rec = self._client.store.load(RECORD)
        if isinstance(rec, dict) and rec.get("state"):  # not Idle: the engine has work to do
            self._engine()

    def on_registered(self, now=None):
        if self._fu is not None:  # otherwise no update awaits confirmation (on_boot)
            self._fu.on_registered(now)

    def tick(self, now):
        return None if self._fu is None else self._fu.tick(now)


def for_client(client):
    """The FwUpdate behind /5 of a lwm2m.client.Client, loaded on first use (_Lazy)."""
    return _Lazy(client)


class Firmware:
    """Object 5 instance 0. Every value and every transition lives in `self.fu` (FwUpdate); this
    only maps DM operations onto it. An LwM2MError from the engine becomes the response code.
    Optional notification hooks, called after the engine accepted the operation (an LED, a log):
    on_package_block(offset, data, last), on_package_uri(uri), on_update(args)."""

    def __init__(self, registry, fu=None):
        if fu is None:
            # a model without board storage: transfers are hashed and checked, nothing flashed
            from lwm2m.fwpkg import MemStore, SinkStorage
            from lwm2m.fwupdate import FwUpdate

            fu = FwUpdate(SinkStorage(), MemStore())
        if fu._report is None:
            fu._report = lambda rid: registry.changed(5, 0, rid)
        self.fu = fu
        self.reg = registry
        self.on_package_block = None
        self.on_package_uri = None
        self.on_update = None
        o = self.obj = registry.add(DEF)
        o.deletable = False  # /5/0 is the update machinery itself; Delete "/" must not strand it
        o.add(0)
        for rid in (3, 5, 6, 7, 8, 9):
            o.bind(0, rid, get=self._getter(rid))
        o.blocks = {0: self._block}
        o.bind(0, 0, set=self._package)
        o.bind(0, 1, get=self._getter(1), set=self._set_uri)
        o.bind(0, 2, exe=self._update)

    def _getter(self, rid):
        fu = self.fu
        return lambda: fu.get(rid)

    @property
    def state(self):
        return self.fu.state

    @property
    def result(self):
        return self.fu.result

    def set_state(self, state, result=None):
        """Force a state (tests, diagnostics): persisted and reported like any transition."""
        self.fu._set(state, result)

    def _block(self, iid, offset, data, last):
        self.fu.package_block(offset, data, last)
        if self.on_package_block is not None:
            self.on_package_block(offset, data, last)

    def _package(self, value):
        self._block(0, 0, value, True)  # a Package written in one go (no Block1)

    def _set_uri(self, uri):
        self.fu.write_uri(uri, time.ticks_ms())
        if self.on_package_uri is not None:
            self.on_package_uri(uri)

    def _update(self, args):
        self.fu.execute_update(time.ticks_ms())
        if self.on_update is not None:
            self.on_update(args)


def make(registry, fu=None):
    return Firmware(registry, fu)
