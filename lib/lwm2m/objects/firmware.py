"""LwM2M Firmware Update object (5): state and result; the transfer and flashing are hooks."""
from lwm2m.errors import MethodNotAllowed

DEF = (5, "Firmware Update", False, False, (
    (0, "Package", "W", False, True, "o"),
    (1, "Package URI", "RW", False, True, "s"),
    (2, "Update", "E", False, True, "e"),
    (3, "State", "R", False, True, "i"),
    (5, "Update Result", "R", False, True, "i"),
    (6, "PkgName", "R", False, False, "s"),
    (7, "PkgVersion", "R", False, False, "s"),
    (8, "Firmware Update Protocol Support", "R", True, False, "i"),
    (9, "Firmware Update Delivery Method", "R", False, True, "i"),
))

# State /5/0/3
IDLE = 0
DOWNLOADING = 1
DOWNLOADED = 2
UPDATING = 3
# Update Result /5/0/5
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


class Firmware:
    """Object 5 instance 0. Hooks (set by the firmware-update layer):
    on_package_block(offset, data, last) per Block1 chunk of a Package write (empty + last:
    cancel); on_package_uri(uri) ("" cancels); on_update(args) when Update is executed in
    Downloaded state. A hook raising LwM2MError answers with its code."""

    def __init__(self, registry, protocols=(0, 1), delivery=2):
        self.reg = registry
        self.on_package_block = None
        self.on_package_uri = None
        self.on_update = None
        o = self.obj = registry.add(DEF)
        o.add(0, {1: "", 3: IDLE, 5: R_INITIAL, 8: {i: p for i, p in enumerate(protocols)},
                  9: delivery})
        o.blocks = {0: self._block}
        o.bind(0, 0, set=self._package)
        o.bind(0, 1, get=self._uri, set=self._set_uri)
        o.bind(0, 2, exe=self._update)

    @property
    def state(self):
        return self.obj.insts[0].vals[3]

    @property
    def result(self):
        return self.obj.insts[0].vals[5]

    def set_state(self, state, result=None):
        """Move the state machine (the update layer calls this as the transfer progresses)."""
        v = self.obj.insts[0].vals
        if v[3] != state:
            v[3] = state
            self.reg.changed(5, 0, 3)
        if result is not None and v[5] != result:
            v[5] = result
            self.reg.changed(5, 0, 5)

    def set_package_info(self, name=None, version=None):
        v = self.obj.insts[0].vals
        for rid, x in ((6, name), (7, version)):
            if x is not None:
                v[rid] = x
                self.reg.changed(5, 0, rid)

    def _block(self, iid, offset, data, last):
        if offset == 0 and last and not len(data):
            self._cancel()
            return
        if offset == 0:
            self.set_state(DOWNLOADING, R_INITIAL)
        if self.on_package_block is not None:
            self.on_package_block(offset, data, last)
        if last and self.state == DOWNLOADING:
            self.set_state(DOWNLOADED)

    def _package(self, value):
        self._block(0, 0, value, True)  # a Package written in one go (no Block1)

    def _uri(self):
        return self.obj.insts[0].vals[1]

    def _set_uri(self, uri):
        self.obj.insts[0].vals[1] = uri
        if not uri:
            self._cancel()
            return
        if self.on_package_uri is not None:
            self.on_package_uri(uri)

    def _cancel(self):
        if self.on_package_block is not None and self.state == DOWNLOADING:
            self.on_package_block(0, b"", True)
        if self.on_package_uri is not None and self.state == DOWNLOADING:
            self.on_package_uri("")
        self.set_state(IDLE, R_INITIAL)

    def _update(self, args):
        if self.state != DOWNLOADED:
            raise MethodNotAllowed("no package downloaded")
        self.set_state(UPDATING)
        if self.on_update is not None:
            self.on_update(args)


def make(registry, **kw):
    return Firmware(registry, **kw)
