"""Firmware Update (/5) state machine: push and pull streamed into fwstore, update, reboot, confirm

Sans-I/O: the storage driver, the record store, the Block2 downloader and the reboot are passed
in; `now` is ms ticks. State /5/0/3 and Update Result /5/0/5 follow LwM2M 1.0.2 E.6:
Idle -(package block / URI)-> Downloading -(complete, verified)-> Downloaded -(Update)-> Updating
-(reboot, first registration)-> Idle with result 1. Download failures (2 no space, 3 out of RAM,
4 connection lost, 5 integrity, 6 package type, 7 invalid URI, 9 protocol) and update failures
(8, also a rollback seen at boot) go back to Idle with that result; an empty package or URI
cancels to Idle with result 0. An operation that is no trigger in the current state (Update
outside Downloaded, a URI while Downloading, anything while Updating) raises MethodNotAllowed.

An optional 128-byte package header (layout: lwm2m.fwpkg.make_header) is stripped before
storage sees the image (lwm2m.fwhead, loaded while the first bytes are held); another
b"LWM2MFW?" version is an unsupported package type (result 6).
The image's length and SHA-256 from storage.finish() must match the header (else result 5).
Without a header the package goes to storage as is and finish() does the checking (BundleStore
verifies the bundle's own SHA-256 trailer, PartitionStore reads the image back).

This module is loaded with the first block of a push and dropped again when the transfer is over
(lwm2m.objects.firmware): few, larger methods, as each function costs heap beyond its bytecode,
and errors without a message (a response carries only the code; a comment says why).
The pull half is in three parts, each loaded for its step: lwm2m.fwuri checks and parses a
written Package URI, lwm2m.fwtry starts each attempt and backs off after a failed one, and
lwm2m.fwpull, the only one held during a download, has its per-block callbacks. The rest that is
no transfer (the construction, a cancel, Execute Update, the confirm) is lwm2m.fwapply, a Read,
the record's restore, the boot after Execute Update and the check at a transfer's end
lwm2m.fwrec (FwUpdate.__getattr__ finds those steps there); the header, lwm2m.fwhead, leaves the
heap before the blocks after it come in. None of them imports anything of this module (the values
they need are copied).
"""
import time

from micropython import const

from board.fwstore import FwError
from lwm2m.errors import BadRequest, LwM2MError, MethodNotAllowed, TooLarge

# State /5/0/3 and Update Result /5/0/5: private, so they cost no heap (lwm2m.objects.firmware
# names the states for callers)
_IDLE = const(0)
_DOWNLOADING = const(1)
_DOWNLOADED = const(2)
_UPDATING = const(3)

_R_INITIAL = const(0)
_R_SUCCESS = const(1)
_R_NO_SPACE = const(2)
_R_NO_RAM = const(3)
_R_CONN_LOST = const(4)
_R_INTEGRITY = const(5)
_R_BAD_TYPE = const(6)
_R_BAD_URI = const(7)
_R_FAILED = const(8)
_R_BAD_PROTOCOL = const(9)

RECORD = "fw"


class FwUpdate:
    """Object /5 instance 0 behind the data model; see the module docstring for the states.
    FwUpdate(storage, store, resolve=None, download=None, report=None, reboot=None, coaps=False,
    rollback=None, tries=5, retry_ms=2000, retry_cap_ms=60000, rand=None, szx=6, secure=None,
    client=None): lwm2m.fwapply.setup says what each sets."""

    _at = 0  # a pull attempt's first offset (lwm2m.fwpull); None: all bytes are in, tick() checks

    def __init__(self, storage, store, **kw):
        """Runs lwm2m.fwapply.setup (as the engine loads: its code is no heap during a transfer)."""
        from lwm2m.fwapply import setup

        setup(self, storage, store, **kw)

    def __getattr__(self, name):
        """The steps that store no block, FwUpdate.get (a Read; rid 8 as {riid: protocol}),
        on_boot(now=None) (the record's restore, and what the reboot decided), cancel() (an
        empty Package or Package URI: back to Idle), execute_update(now=None) (only in
        Downloaded, else 4.05: switch to the image and reboot) and on_registered(now=None) (the
        first registration since boot confirms a new image, result 1), are functions of the same
        name of lwm2m.fwrec and lwm2m.fwapply, loaded for the call (each drops its module as it
        starts; the call holds it): as methods here, even as stubs that load them, they held
        496 B of heap through every block (32-bit, .mpy), this lookup 224. Any other name is
        missing: nothing is loaded for it."""
        if name in ("get", "on_boot"):
            from lwm2m import fwrec as m
        elif name in ("cancel", "execute_update", "on_registered"):
            from lwm2m import fwapply as m
        else:
            raise AttributeError(name)
        f = getattr(m, name)
        return lambda *a: f(self, *a)

    def _reset(self, u=None, total=None):
        self.offset = 0  # package bytes consumed, header included
        # the first bytes until header-or-raw is decided (lwm2m.fwhead), then a header's (length,
        # digest, name, version), or None (raw): one attribute, not two (an instance's
        # attributes are a table that grows in steps)
        self._h = bytearray()
        self._u = u  # a pull's URI, parsed (lwm2m.fwuri.pull); None: no pull
        self._total = total
        self._deadline = None
        self._handle = None

    def _set(self, state, result=None):
        """Persist first, then tell observers, so what they read has reached flash. With the
        state and result unchanged it only persists (the resume offset of a pull)."""
        ds = state != self.state
        dr = result is not None and result != self.result
        self.state = state
        if result is not None:
            self.result = result
        self.store.save(RECORD, {
            "state": state, "result": self.result, "pkg_name": self.pkg_name,
            "pkg_version": self.pkg_version, "uri": self.uri, "offset": self.offset,
            "length": self.length, "sha256": self.sha256})
        if self._report is not None:
            if ds:
                self._report(3)
            if dr:
                self._report(5)

    def _end(self, result, state=_IDLE, u=None, total=None):
        """Stop any transfer and drop what storage holds, then go to state with result (a new
        transfer starts as Downloading, a pull's with its parsed URI u; state None: persist nothing
        yet)."""
        h = self._handle
        if h is not None and hasattr(h, "cancel"):
            h.cancel()  # the endpoint's Download.cancel() calls no done()
        self._gen += 1
        self.storage.abort()
        self._reset(u, total)
        if state is not None:
            self._set(state, result)

    def _take(self, data):
        """Stream package bytes (at self.offset) into storage, only the header held back; data
        None: all bytes are in, finish, check against the header and land in Downloaded. 0, or
        after a failure the Update Result it ended the transfer with (a storage error's args[0],
        3 for MemoryError); any other exception passes through."""
        st = self.storage
        try:
            if type(self._h) is bytearray:
                # the first bytes, until header or raw is decided: lwm2m.fwhead, loaded for them
                # only, and gone (del) before storage begins: its new file and hash are a peak
                from lwm2m.fwhead import head

                w = head(self, data)
                del head
                if w is not None:
                    st.begin(self._total)
                    for c in w:
                        st.write(c)  # what was held of a raw package, what follows a header
            elif data is not None:
                st.write(data)  # the block as it came
            if data is not None:
                self.offset += len(data)
                return 0
            r = st.finish()
            # the check against a header, and Downloaded: lwm2m.fwrec, loaded once the storage's
            # check (board.unpack) is gone (160 B less through every block, and none at the
            # first block, where lwm2m.fwhead decides the header)
            from lwm2m.fwrec import check

            check(self, r)
            return 0
        except (FwError, MemoryError) as e:
            r = _R_NO_RAM if isinstance(e, MemoryError) else e.args[0]
            self._end(r)
            return r

    def package_block(self, offset, data, last, total=None):
        """One Block1 chunk of a Package write (the whole value when there was no Block1).
        total: Size1 when the server sent it. Raises an LwM2MError for the response code."""
        if offset == 0 and last and not len(data):
            self.cancel()
            return
        if offset == 0:
            if self.state == _UPDATING or (self.state == _DOWNLOADING and self._u):
                raise MethodNotAllowed()  # busy
            self._end(_R_INITIAL, _DOWNLOADING, None, total)
        elif self.state != _DOWNLOADING or self._u or offset != self.offset:
            raise BadRequest()  # block out of sequence
        r = self._take(data) or (last and self._take(None))
        if r == _R_NO_SPACE:
            raise TooLarge()  # no space: 4.13 stops the server's Block1 run
        if r and not last:
            raise LwM2MError()  # package rejected: stop sending; /5/0/5 says why
        # a whole package was received: the Write succeeded, /5/0/5 carries any failure

    def write_uri(self, uri, now):
        """Write of /5/0/1: "" cancels; a coap(s) URI readies the Block2 download, whose first
        attempt tick() starts (the runner's timers right after this Write's receive: its step
        and datagram are gone by then). The checks are lwm2m.fwuri, loaded for them (it drops
        itself; `del`: gone before storage's abort): the transfer holds only lwm2m.fwpull."""
        from lwm2m.fwuri import pull

        v = pull(self, uri)
        del pull
        if v is not None:  # stop what there is, then the URI's outcome (lwm2m.fwuri.pull)
            self.uri = uri
            self._end(v[0], _DOWNLOADING if v[1] else _IDLE, v[1])
            if v[1]:
                self._fails = 0  # failed attempts in a row (lwm2m.fwtry): a pull's only
                self._at = 0  # not None (all bytes in: lwm2m.fwpull)
                self._deadline = now  # the first attempt: the next tick()

    def tick(self, now):
        """Runs the download timer (a pull's first attempt, due at once, and its retries); ms until
        the next deadline, or None."""
        if self._deadline is None:
            return None
        if time.ticks_diff(self._deadline, now) <= 0:
            if self._at is None:
                # a pull has every byte (lwm2m.fwpull's done, in the last response's receive):
                # the check runs here, with that datagram, the download and their modules gone
                from lwm2m import unload

                self._deadline = None
                unload("fwpull")
                unload("coap.transfer")
                self._take(None)
                return None
            from lwm2m.fwpull import attempt

            attempt(self, now)
            if self._deadline is None:
                return None
        return max(0, time.ticks_diff(self._deadline, now))


def for_client(client):
    """The FwUpdate behind /5 of a lwm2m.client.Client (made by its stand-in,
    lwm2m.objects.firmware): the platform's fwstore, the client's record store, pulls over
    client.ep (lwm2m.fwuri builds the request) and a reboot that goes the Device reboot way;
    lwm2m.fwapply.setup wires them (storage None): a lambda and keywords here held 176 B of heap
    through every block (32-bit, .mpy)."""
    return FwUpdate(None, client.store, client=client)
